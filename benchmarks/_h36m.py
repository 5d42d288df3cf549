"""Shared by the benchmarks that need Human3.6M: locate the data and turn a view into Lifter input."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from mtf_pose.training.h36m import H36MView, data_root_error

DEFAULT_ROOT = Path(os.environ.get("MTF_POSE_H36M", Path(__file__).resolve().parents[2] / "shared" / "data" / "h36m"))


def require_data(root: Path = DEFAULT_ROOT) -> Path:
    problem = data_root_error(root)
    if problem:
        sys.exit(f"this benchmark needs Human3.6M: {problem}")
    return root


def pixel_input(view: H36MView, detected: bool = False) -> np.ndarray:
    """``(N, 17, 3)`` pixels + confidence 1, as a user would pass them to the Lifter."""
    keypoints = view.keypoints_detected if detected else view.keypoints_gt
    pixels = (keypoints + np.array([1.0, view.height / view.width])) * view.width / 2
    return np.concatenate([pixels, np.ones_like(pixels[..., :1])], axis=-1)
