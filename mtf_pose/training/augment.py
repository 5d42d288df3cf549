"""Detector-like corruption of ground-truth 2D clips, confidences, dropped joints and flips (NumPy).

All coordinates are normalised (``u = x / w * 2 - 1``), so 0.002 is about one pixel of a 1000-pixel
wide image.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from mtf_pose import skeleton


class AugmentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    detected_probability: float = Field(0.5, ge=0, le=1, description="Clips fed the Stacked Hourglass detections.")
    jitter_std: float = Field(0.004, ge=0, description="Max per-frame Gaussian jitter (std drawn per clip).")
    drift_std: float = Field(0.006, ge=0, description="Max slow drift: noise at 27 knots, interpolated in time.")
    outlier_probability: float = Field(0.002, ge=0, le=1, description="Per joint and frame: a gross error.")
    outlier_std: float = Field(0.05, ge=0)
    confidence_from_error_probability: float = Field(
        0.5, ge=0, le=1, description="Clips whose confidence follows the 2D error; the others get 1."
    )
    confidence_error_scale: float = Field(0.03, gt=0, description="Error at which confidence is 1/e.")
    drop_probability: float = Field(0.2, ge=0, le=1, description="Clips with 1-3 joints missing for a span.")
    drop_max_frames: int = Field(60, ge=1)
    flip_probability: float = Field(0.5, ge=0, le=1)


def add_detector_noise(
    keypoints: NDArray[np.float32], rng: np.random.Generator, config: AugmentConfig
) -> NDArray[np.float32]:
    """Ground-truth ``(T, J, 2)`` -> jittered, drifting 2D with occasional gross errors."""
    frames, joints, _ = keypoints.shape
    noisy = keypoints + rng.normal(0.0, rng.uniform(0, config.jitter_std), keypoints.shape)
    knots = 27
    drift = rng.normal(0.0, rng.uniform(0, config.drift_std), (knots, joints, 2))
    positions = np.linspace(0, knots - 1, frames)
    lower = np.floor(positions).astype(int)
    upper = np.minimum(lower + 1, knots - 1)
    weight = (positions - lower)[:, None, None]
    noisy += drift[lower] * (1 - weight) + drift[upper] * weight
    outliers = rng.random((frames, joints, 1)) < config.outlier_probability
    noisy += outliers * rng.normal(0.0, config.outlier_std, keypoints.shape)
    return noisy.astype(np.float32)


def confidence_from_error(
    keypoints: NDArray[np.float32], reference: NDArray[np.float32], rng: np.random.Generator, scale: float
) -> NDArray[np.float32]:
    """Confidence that falls with the distance to ``reference``, with a little noise, in [0.05, 1]."""
    error = np.linalg.norm(keypoints - reference, axis=-1)
    confidence = np.exp(-error / scale) + rng.normal(0.0, 0.05, error.shape)
    return np.clip(confidence, 0.05, 1.0).astype(np.float32)


def drop_joints(
    keypoints: NDArray[np.float32], confidence: NDArray[np.float32], rng: np.random.Generator, max_frames: int
) -> None:
    """In place: 1-3 joints go missing for a span; the span is linearly interpolated, confidence 0.

    This is what the Lifter does with joints a detector missed, so the network learns to trust them less.
    """
    frames, joints, _ = keypoints.shape
    for joint in rng.choice(joints, size=rng.integers(1, 4), replace=False):
        span = int(rng.integers(1, min(max_frames, frames) + 1))
        start = int(rng.integers(0, frames - span + 1))
        stop = start + span
        if start == 0 and stop == frames:
            continue  # the whole clip: nothing to interpolate from
        before = keypoints[start - 1, joint] if start > 0 else keypoints[stop, joint]
        after = keypoints[stop, joint] if stop < frames else before
        weight = (np.arange(1, span + 1) / (span + 1))[:, None]
        keypoints[start:stop, joint] = before * (1 - weight) + after * weight
        confidence[start:stop, joint] = 0.0


def flip_clip(keypoints: NDArray[np.float32], target: NDArray[np.float32] | None) -> tuple:
    """Mirror a ``(T, J, C)`` clip (and its 3D target) horizontally."""
    order = skeleton.flip_permutation()
    flipped = keypoints[:, order].copy()
    flipped[..., 0] *= -1
    if target is None:
        return flipped, None
    target = target[:, order].copy()
    target[..., 0] *= -1
    return flipped, target


def make_training_input(
    keypoints_gt: NDArray[np.float32],
    keypoints_detected: NDArray[np.float32],
    target: NDArray[np.float32],
    rng: np.random.Generator,
    config: AugmentConfig,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """One augmented ``(T, 17, 3)`` network input (u, v, confidence) and its ``(T, 17, 3)`` target."""
    if rng.random() < config.detected_probability:
        keypoints = keypoints_detected.copy()
    else:
        keypoints = add_detector_noise(keypoints_gt, rng, config)
    if rng.random() < config.confidence_from_error_probability:
        confidence = confidence_from_error(keypoints, keypoints_gt, rng, config.confidence_error_scale)
    else:
        confidence = np.ones(keypoints.shape[:2], dtype=np.float32)
    if rng.random() < config.drop_probability:
        drop_joints(keypoints, confidence, rng, config.drop_max_frames)
    clip = np.concatenate([keypoints, confidence[..., None]], axis=-1).astype(np.float32)
    if rng.random() < config.flip_probability:
        clip, target = flip_clip(clip, target)
    return clip, target
