"""Fixtures for the batch tests: a small network (the same architecture with one block of 16 channels),
so that lifting takes a fraction of a second per clip on a 2-core CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mtf_pose import Lifter


@pytest.fixture(scope="session")
def small_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mtf_pose.model import BamConfig, ModelConfig
    from mtf_pose.model.mdtf import MDTF
    from mtf_pose.weights import WeightsConfig, save_weights

    config = ModelConfig(name="test-small", depth=1, channels=16, bam=BamConfig(depth=1, channels=16))
    torch.manual_seed(0)
    return save_weights(tmp_path_factory.mktemp("weights"), MDTF(config), WeightsConfig(model=config))


@pytest.fixture(scope="session")
def small_lifter(small_weights: Path) -> Lifter:
    return Lifter.from_pretrained(small_weights, device="cpu")
