"""Shared fixtures. Tests that need Human3.6M skip with the reason when ../shared is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
H36M_ROOT = Path(os.environ.get("MTF_POSE_H36M", REPO_ROOT.parent / "shared" / "data" / "h36m"))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def h36m_root() -> Path:
    from mtf_pose.training.h36m import data_root_error

    problem = data_root_error(H36M_ROOT)
    if problem:
        pytest.skip(f"Human3.6M data not available: {problem} (set MTF_POSE_H36M to its folder)")
    return H36M_ROOT


def pytest_configure(config: pytest.Config) -> None:
    # tests/ holds helper modules (fake_hub) imported by the tests.
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
