"""Evaluation metrics: known transforms give known errors."""

from __future__ import annotations

import numpy as np
import pytest

from mtf_pose.evaluation.metrics import mpjpe, mpjve, n_mpjpe, p_mpjpe, procrustes_align


def rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def test_procrustes_recovers_rotation_scale_and_translation() -> None:
    rng = np.random.default_rng(0)
    target = rng.normal(size=(5, 17, 3)) * 300
    moved = 0.7 * target @ rotation(np.array([1.0, 2.0, 0.5]), 1.1).T + np.array([100.0, -50.0, 2000.0])
    assert mpjpe(moved, target).min() > 100
    np.testing.assert_allclose(procrustes_align(moved, target), target, atol=1e-6)
    np.testing.assert_allclose(p_mpjpe(moved, target), 0.0, atol=1e-6)


def test_procrustes_does_not_reflect() -> None:
    rng = np.random.default_rng(1)
    target = rng.normal(size=(1, 17, 3))
    mirrored = target * np.array([-1.0, 1.0, 1.0])
    assert p_mpjpe(mirrored, target)[0] > 0.1  # a mirror image is not a rotation of the pose


def test_mpjpe_n_mpjpe_and_mpjve_by_hand() -> None:
    target = np.zeros((3, 2, 3))
    shifted = target + np.array([3.0, 4.0, 0.0])
    np.testing.assert_allclose(mpjpe(shifted, target), 5.0)
    np.testing.assert_allclose(mpjve(shifted, target), 0.0)  # a constant offset has no velocity error
    pose = np.random.default_rng(2).normal(size=(4, 17, 3))
    np.testing.assert_allclose(n_mpjpe(3 * pose, pose), 0.0, atol=1e-12)
    moving = target.copy()
    moving[1] += [1.0, 0.0, 0.0]
    np.testing.assert_allclose(mpjve(moving, target), [1.0, 1.0])
    with pytest.raises(ValueError, match="two \\(T, J, 3\\) arrays"):
        mpjpe(np.zeros((2, 17, 3)), np.zeros((3, 17, 3)))
