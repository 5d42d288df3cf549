"""Vectorised rotation helpers: every function takes a leading batch axis (frames) and float64 arrays.

Rotation matrices act on column vectors (``world = R @ local``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Vectors = NDArray[np.float64]  # (T, 3)
Matrices = NDArray[np.float64]  # (T, 3, 3)

# A secondary axis closer than this (sine of the angle) to the primary one does not define a frame.
COLLINEAR_SINE = 1e-6


def unit(vectors: Vectors) -> tuple[Vectors, NDArray[np.float64]]:
    """Unit vectors and lengths; a zero vector stays zero (callers decide what it means)."""
    lengths = np.linalg.norm(vectors, axis=-1)
    safe = np.where(lengths > 0, lengths, 1.0)
    return vectors / safe[..., None], lengths


def _skew(vectors: Vectors) -> Matrices:
    x, y, z = vectors[..., 0], vectors[..., 1], vectors[..., 2]
    zero = np.zeros_like(x)
    return np.stack([np.stack([zero, -z, y], -1), np.stack([z, zero, -x], -1), np.stack([-y, x, zero], -1)], -2)


def axis_angle(axis: Vectors, angle: NDArray[np.float64]) -> Matrices:
    """Rodrigues' formula; ``axis`` must be unit length."""
    skew = _skew(axis)
    sine, cosine = np.sin(angle)[..., None, None], np.cos(angle)[..., None, None]
    return np.eye(3) + sine * skew + (1.0 - cosine) * (skew @ skew)


def rotation_between(source: Vectors, target: Vectors) -> Matrices:
    """The smallest rotation taking unit vectors ``source`` onto ``target`` (a swing with no twist).

    Opposite vectors have no smallest rotation: there it is a half turn about the coordinate axis most
    perpendicular to ``source``, which keeps the result deterministic.
    """
    cross = np.cross(source, target)
    sine = np.linalg.norm(cross, axis=-1)
    cosine = np.sum(source * target, axis=-1)
    axis = cross / np.where(sine > 0, sine, 1.0)[..., None]
    opposite = (sine < 1e-12) & (cosine < 0)
    if np.any(opposite):
        least_aligned = np.eye(3)[np.argmin(np.abs(source[opposite]), axis=-1)]
        axis[opposite] = unit(np.cross(source[opposite], least_aligned))[0]
    return axis_angle(axis, np.arctan2(sine, cosine))


def perpendicular_reference(primary: Vectors, candidates: list[Vectors]) -> Vectors:
    """Per frame, the first candidate not collinear with ``primary``, made perpendicular to it (unit).

    The last candidate must never be collinear (e.g. a world axis chosen against the primary's own).
    """
    result = np.zeros_like(primary)
    pending = np.ones(primary.shape[0], dtype=bool)
    for candidate in candidates:
        perpendicular = candidate - np.sum(candidate * primary, axis=-1, keepdims=True) * primary
        direction, length = unit(perpendicular)
        usable = pending & (length > COLLINEAR_SINE * np.maximum(np.linalg.norm(candidate, axis=-1), 1e-300))
        result[usable] = direction[usable]
        pending &= ~usable
    if np.any(pending):
        raise AssertionError("no usable reference direction; the last candidate must not be collinear")
    return result


def frame(primary: Vectors, secondary: Vectors) -> Matrices:
    """Orthonormal frame with columns ``primary``, ``secondary``, ``primary x secondary`` (both unit, perpendicular)."""
    return np.stack([primary, secondary, np.cross(primary, secondary)], axis=-1)


def rotate_about(vectors: Vectors, axis: Vectors, angle: NDArray[np.float64]) -> Vectors:
    """Rotate ``vectors`` about unit ``axis`` by ``angle`` radians."""
    return (axis_angle(axis, angle) @ vectors[..., None])[..., 0]


def signed_angle(start: Vectors, end: Vectors, axis: Vectors) -> NDArray[np.float64]:
    """Angle in radians from ``start`` to ``end`` about ``axis`` (both perpendicular to it), in (-pi, pi]."""
    return np.arctan2(np.sum(np.cross(start, end) * axis, axis=-1), np.sum(start * end, axis=-1))


def euler_zxy_degrees(rotations: Matrices) -> NDArray[np.float64]:
    """``(T, 3)`` angles ``(z, x, y)`` in degrees with ``R = Rz(z) @ Rx(x) @ Ry(y)`` (BVH ``Zrotation
    Xrotation Yrotation``), x in [-90, 90]. At x = +-90 (gimbal lock) only z - y or z + y is defined; y is
    then 0."""
    sine_x = np.clip(rotations[..., 2, 1], -1.0, 1.0)
    x = np.arcsin(sine_x)
    locked = np.abs(sine_x) > 1.0 - 1e-12
    z = np.where(
        locked,
        np.arctan2(rotations[..., 1, 0], rotations[..., 0, 0]),
        np.arctan2(-rotations[..., 0, 1], rotations[..., 1, 1]),
    )
    y = np.where(locked, 0.0, np.arctan2(-rotations[..., 2, 0], rotations[..., 2, 2]))
    return np.degrees(np.stack([z, x, y], axis=-1))
