"""Fixed-length clips from variable-length sequences, for training and for the evaluation protocol."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def clip_starts(frames: int, length: int, stride: int, frame_step: int = 1) -> list[int]:
    """Start frames of clips of ``length`` frames taken every ``frame_step`` frames, ``stride`` apart.

    The last clip is aligned to the end so that every frame is covered; a sequence shorter than one
    clip gives a single clip at 0 (its indices are clamped by :func:`clip_indices`).
    """
    if min(length, stride, frame_step) < 1:
        raise ValueError("length, stride and frame_step must be positive")
    span = (length - 1) * frame_step + 1
    if frames <= span:
        return [0]
    starts = list(range(0, frames - span + 1, stride))
    if starts[-1] != frames - span:
        starts.append(frames - span)
    return starts


def clip_indices(start: int, length: int, frames: int, frame_step: int = 1) -> NDArray[np.int64]:
    """Frame indices of one clip, clamped to the sequence (edge frames repeat past its end)."""
    return np.minimum(start + np.arange(length) * frame_step, frames - 1)
