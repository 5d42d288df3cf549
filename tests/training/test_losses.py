"""Training losses against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from mtf_pose.training.losses import lifter_loss, mpjpe_loss, n_mpjpe_loss, polar_class_loss, velocity_loss


def test_mpjpe_of_a_3_4_5_offset() -> None:
    target = torch.zeros(1, 1, 2, 3)
    predicted = target.clone()
    predicted[0, 0, 0] = torch.tensor([3.0, 4.0, 0.0])  # distance 5 on one joint, 0 on the other
    assert mpjpe_loss(predicted, target).item() == pytest.approx(2.5)


def test_n_mpjpe_ignores_scale() -> None:
    target = torch.randn(2, 4, 17, 3)
    assert n_mpjpe_loss(2.5 * target, target).item() == pytest.approx(0.0, abs=1e-6)
    # With an offset, the best scale is computed per frame: s = <t, p> / <p, p>.
    predicted = torch.zeros(1, 1, 2, 3)
    predicted[0, 0, 0, 0] = 1.0
    target = torch.zeros(1, 1, 2, 3)
    target[0, 0, 0, 0] = 3.0
    target[0, 0, 1, 1] = 4.0  # s = 3: joint 0 matches, joint 1 stays 4 away
    assert n_mpjpe_loss(predicted, target).item() == pytest.approx(2.0)


def test_velocity_loss() -> None:
    target = torch.zeros(1, 3, 1, 3)
    predicted = target.clone()
    predicted[0, 1, 0, 0] = 1.0  # +1 then -1 between frames: velocity errors 1 and 1
    assert velocity_loss(predicted, target).item() == pytest.approx(1.0)
    assert velocity_loss(predicted + 7.0, target + 7.0).item() == pytest.approx(1.0)
    assert velocity_loss(torch.zeros(1, 1, 17, 3), torch.ones(1, 1, 17, 3)).item() == 0.0


def test_lifter_loss_combines_with_the_released_weights() -> None:
    predicted, target = torch.randn(2, 5, 17, 3), torch.randn(2, 5, 17, 3)
    terms = lifter_loss(predicted, target)
    expected = terms["mpjpe"] + 0.5 * terms["n_mpjpe"] + 20 * terms["velocity"]
    assert terms["total"].item() == pytest.approx(expected.item())


def test_polar_class_loss_of_uniform_logits_is_log_k() -> None:
    logits = torch.zeros(2, 3, 17, 6)
    classes = torch.randint(0, 6, (2, 3, 17))
    assert polar_class_loss(logits, classes).item() == pytest.approx(math.log(6))
