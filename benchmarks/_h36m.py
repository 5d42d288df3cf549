"""Shared by the benchmarks that need Human3.6M: locate the data or stop with the reason."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mtf_pose.training.h36m import data_root_error

DEFAULT_ROOT = Path(os.environ.get("MTF_POSE_H36M", Path(__file__).resolve().parents[2] / "shared" / "data" / "h36m"))


def require_data(root: Path = DEFAULT_ROOT) -> Path:
    problem = data_root_error(root)
    if problem:
        sys.exit(f"this benchmark needs Human3.6M: {problem}")
    return root
