"""Shared fixtures: a small network for the tests that lift many files. Tests that need Human3.6M skip with the
reason when ../shared is absent."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import torch

if TYPE_CHECKING:
    from mtf_pose import Lifter

REPO_ROOT = Path(__file__).resolve().parents[1]
H36M_ROOT = Path(os.environ.get("MTF_POSE_H36M", REPO_ROOT.parent / "shared" / "data" / "h36m"))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def small_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small network (the same architecture with one block of 16 channels), so that lifting takes a
    fraction of a second per clip on a 2-core CPU."""
    from mtf_pose.model import BamConfig, ModelConfig
    from mtf_pose.model.mdtf import MDTF
    from mtf_pose.weights import WeightsConfig, save_weights

    config = ModelConfig(name="test-small", depth=1, channels=16, bam=BamConfig(depth=1, channels=16))
    torch.manual_seed(0)
    return save_weights(tmp_path_factory.mktemp("weights"), MDTF(config), WeightsConfig(model=config))


@pytest.fixture(scope="session")
def small_lifter(small_weights: Path) -> Lifter:
    from mtf_pose import Lifter

    return Lifter.from_pretrained(small_weights, device="cpu")


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
