"""Checks on what the exporters accept: a LiftResult or a ``(T, 17, 3)`` H36M-17 array in metres."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from mtf_pose import skeleton
from mtf_pose.result import LiftResult

# Frames listed in an error message before the rest are counted.
_FRAMES_NAMED = 10


def _frame_list(frames: NDArray[np.intp]) -> str:
    named = ", ".join(str(int(frame)) for frame in frames[:_FRAMES_NAMED])
    more = f" and {len(frames) - _FRAMES_NAMED} more" if len(frames) > _FRAMES_NAMED else ""
    return f"frame{'s' if len(frames) > 1 else ''} {named}{more}"


def joints_from(source: LiftResult | Any) -> NDArray[np.float64]:
    """``(T, 17, 3)`` float64 joints in metres, camera frame, checked for shape and finiteness."""
    raw = source.joints_3d if isinstance(source, LiftResult) else source
    try:
        joints = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"joints must be a numeric (T, 17, 3) array; got {type(raw).__name__}") from None
    if joints.ndim != 3 or joints.shape[1:] != (skeleton.NUM_JOINTS, 3) or joints.shape[0] < 1:
        raise ValueError(f"joints must have shape (T, 17, 3) with T >= 1 (H36M-17 order, metres); got {joints.shape}")
    bad = ~np.isfinite(joints).all(axis=(1, 2))
    if bad.any():
        frames = np.flatnonzero(bad)
        joint_names = sorted(
            {skeleton.JOINT_NAMES[j] for j in np.flatnonzero(~np.isfinite(joints[frames]).all(axis=(0, 2)))}
        )
        raise ValueError(
            f"joints contain NaN or infinity in {_frame_list(frames)} (joints: {', '.join(joint_names)}); "
            "fill or drop those frames first, e.g. by interpolating over time"
        )
    return joints


def frames_per_second(source: LiftResult | Any, fps: float | None) -> float:
    """The frame rate: ``fps`` if given, else the LiftResult's; required for a plain array."""
    if fps is None:
        if not isinstance(source, LiftResult):
            raise ValueError("fps is required when exporting a plain array (a LiftResult carries its own)")
        fps = source.fps
    fps = float(fps)
    if not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive number; got {fps}")
    return fps
