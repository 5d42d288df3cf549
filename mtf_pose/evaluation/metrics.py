"""Pose-error metrics on ``(T, J, 3)`` arrays (NumPy), each returned per frame so callers can average.

- MPJPE (protocol 1): mean joint distance.
- P-MPJPE (protocol 2): MPJPE after the similarity transform (rotation, uniform scale, translation) that
  best aligns the prediction to the ground truth, per frame (orthogonal Procrustes).
- N-MPJPE: MPJPE after the best uniform scale only.
- MPJVE: mean distance between joint velocities (frame-to-frame displacements); ``T - 1`` values.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.floating]


def _check(predicted: FloatArray, target: FloatArray) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    predicted_64 = np.asarray(predicted, dtype=np.float64)
    target_64 = np.asarray(target, dtype=np.float64)
    if predicted_64.shape != target_64.shape or predicted_64.ndim != 3 or predicted_64.shape[-1] != 3:
        raise ValueError(f"expected two (T, J, 3) arrays of one shape, got {predicted_64.shape} and {target_64.shape}")
    return predicted_64, target_64


def mpjpe(predicted: FloatArray, target: FloatArray) -> NDArray[np.float64]:
    """Per-frame mean per-joint position error, ``(T,)``."""
    predicted, target = _check(predicted, target)
    return np.linalg.norm(predicted - target, axis=-1).mean(axis=-1)


def procrustes_align(predicted: FloatArray, target: FloatArray) -> NDArray[np.float64]:
    """``predicted`` moved by the per-frame similarity transform that best fits it to ``target``."""
    predicted, target = _check(predicted, target)
    mu_target = target.mean(axis=1, keepdims=True)
    mu_predicted = predicted.mean(axis=1, keepdims=True)
    target0, predicted0 = target - mu_target, predicted - mu_predicted
    norm_target = np.linalg.norm(target0, axis=(1, 2), keepdims=True)
    norm_predicted = np.linalg.norm(predicted0, axis=(1, 2), keepdims=True)
    norm_target = np.where(norm_target == 0, 1.0, norm_target)
    norm_predicted = np.where(norm_predicted == 0, 1.0, norm_predicted)
    target0, predicted0 = target0 / norm_target, predicted0 / norm_predicted
    u, s, vt = np.linalg.svd(np.matmul(target0.transpose(0, 2, 1), predicted0))
    v = vt.transpose(0, 2, 1)
    rotation = np.matmul(v, u.transpose(0, 2, 1))
    # A reflection is not a rotation: flip the least significant axis instead.
    sign = np.sign(np.linalg.det(rotation))[:, None]
    v[:, :, -1] *= sign
    s[:, -1] *= sign[:, 0]
    rotation = np.matmul(v, u.transpose(0, 2, 1))
    scale = s.sum(axis=1)[:, None, None] * norm_target / norm_predicted
    translation = mu_target - scale * np.matmul(mu_predicted, rotation)
    return scale * np.matmul(predicted, rotation) + translation


def p_mpjpe(predicted: FloatArray, target: FloatArray) -> NDArray[np.float64]:
    """Per-frame MPJPE after Procrustes alignment, ``(T,)``."""
    return mpjpe(procrustes_align(predicted, target), target)


def n_mpjpe(predicted: FloatArray, target: FloatArray) -> NDArray[np.float64]:
    """Per-frame MPJPE after the best uniform scale, ``(T,)``."""
    predicted, target = _check(predicted, target)
    denominator = np.sum(predicted * predicted, axis=(1, 2), keepdims=True)
    scale = np.sum(predicted * target, axis=(1, 2), keepdims=True) / np.where(denominator == 0, 1.0, denominator)
    return mpjpe(scale * predicted, target)


def mpjve(predicted: FloatArray, target: FloatArray) -> NDArray[np.float64]:
    """Mean per-joint velocity error between consecutive frames, ``(T - 1,)``."""
    predicted, target = _check(predicted, target)
    return np.linalg.norm(np.diff(predicted, axis=0) - np.diff(target, axis=0), axis=-1).mean(axis=-1)
