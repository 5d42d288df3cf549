"""Cutting sequences of any length into the network's fixed-length clips, and blending the results.

Long sequences: clips of ``length`` frames every ``length - overlap`` frames (the last one aligned to the
end). Where clips overlap, their predictions are blended with weights that ramp linearly over the
overlap, so no frame switches abruptly from one clip's prediction to the next (predictions at a clip's
edges, which see context on one side only, also count least).

Short sequences (fewer frames than a clip), one of:

- ``"pad"``: the sequence sits in the middle of the clip and its first and last frames are repeated
  outwards (the network sees the person hold still before and after);
- ``"resample"``: the sequence is stretched in time to fill the clip and the result is squeezed back.

The default was chosen by measurement (``benchmarks/bench_short_sequences.py``, see docs/lifting.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

ShortSequence = Literal["pad", "resample"]


@dataclass
class ClipPlan:
    """Where each clip's frames come from and how much each prediction counts."""

    frames: int
    length: int
    sources: NDArray[np.float64]  # (clips, length) source frame of every clip frame (fractional if resampled)
    weights: NDArray[np.float64]  # (clips, length) blending weight of every clip frame; 0 for padding
    resampled: bool = False  # one clip stretched over a short sequence

    @property
    def clips(self) -> int:
        return int(self.sources.shape[0])

    def gather(self, values: NDArray[np.floating]) -> NDArray[np.float32]:
        """``(frames, ...)`` -> ``(clips, length, ...)``, linearly interpolated at fractional sources."""
        return _interpolate(values, self.sources)

    def scatter(self, predictions: NDArray[np.floating]) -> NDArray[np.float32]:
        """``(clips, length, ...)`` -> ``(frames, ...)``: the weighted mean of the clip frames landing on each
        frame; a resampled clip is sampled back at the frames' positions instead."""
        if self.resampled:
            return _interpolate(predictions[0], np.linspace(0, self.length - 1, self.frames))
        tail = predictions.shape[2:]
        index = self.sources.astype(int).ravel()
        spread = self.weights.reshape(self.weights.shape + (1,) * len(tail))
        total = np.zeros((self.frames,) + tail)
        np.add.at(total, index, (predictions * spread).reshape((-1,) + tail))
        weight = np.bincount(index, self.weights.ravel(), minlength=self.frames)
        return (total / weight.reshape((-1,) + (1,) * len(tail))).astype(np.float32)


def _interpolate(values: NDArray[np.floating], positions: NDArray[np.floating]) -> NDArray[np.float32]:
    """``values`` (along axis 0) at fractional ``positions`` of any shape, linearly."""
    lower = np.floor(positions).astype(int)
    upper = np.minimum(lower + 1, values.shape[0] - 1)
    fraction = (positions - lower).reshape(positions.shape + (1,) * (values.ndim - 1))
    return (values[lower] * (1 - fraction) + values[upper] * fraction).astype(np.float32)


def plan_clips(frames: int, length: int, overlap: int, short: ShortSequence = "pad") -> ClipPlan:
    """The clips covering a sequence of ``frames`` frames."""
    if frames < 1:
        raise ValueError("a sequence needs at least one frame")
    if not 0 <= overlap < length:
        raise ValueError(f"overlap must be in [0, {length}), got {overlap}")
    if frames < length:
        if short == "resample":
            sources = np.linspace(0, frames - 1, length)[None]
            return ClipPlan(frames, length, sources, np.ones((1, length)), resampled=True)
        if short != "pad":
            raise ValueError(f"short must be 'pad' or 'resample', got {short!r}")
        offset = (length - frames) // 2
        positions = np.arange(length) - offset
        weights = ((positions >= 0) & (positions < frames)).astype(np.float64)[None]
        return ClipPlan(frames, length, np.clip(positions, 0, frames - 1)[None].astype(np.float64), weights)
    stride = length - overlap
    starts = list(range(0, frames - length + 1, stride))
    if starts[-1] != frames - length:
        starts.append(frames - length)
    ramp: NDArray[np.float64] = np.ones(length)
    if overlap:
        steps = (np.arange(length) + 0.5) / overlap
        ramp = np.minimum(1.0, np.minimum(steps, steps[::-1]))
    clip_sources: list[NDArray[np.float64]] = []
    clip_weights: list[NDArray[np.float64]] = []
    for index, start in enumerate(starts):
        weight = ramp.copy()
        if index == 0:  # nothing before the first clip to blend with
            weight[: length // 2] = 1.0
        if index == len(starts) - 1:  # nor after the last
            weight[length // 2 :] = 1.0
        clip_sources.append(np.arange(start, start + length, dtype=np.float64))
        clip_weights.append(weight)
    return ClipPlan(frames, length, np.stack(clip_sources), np.stack(clip_weights))
