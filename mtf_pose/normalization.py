"""Screen normalisation of pixel coordinates (VideoPose3D / MotionBERT / MDTF convention).

``u = x / w * 2 - 1`` and ``v = y / w * 2 - h / w``: the image width maps to [-1, 1], the aspect ratio is
kept, and the 3D output is in the same units (a depth ``z`` in pixels maps to ``z / w * 2``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def normalize_pixels(points: NDArray[np.floating], width: float, height: float) -> NDArray[np.float32]:
    """``(..., 2)`` pixel coordinates -> normalised ``(u, v)``."""
    points = np.asarray(points, dtype=np.float32)
    offset = np.array([1.0, height / width], dtype=np.float32)
    return (points / np.float32(width) * 2.0 - offset).astype(np.float32)


def denormalize_pixels(points: NDArray[np.floating], width: float, height: float) -> NDArray[np.float32]:
    """Inverse of :func:`normalize_pixels`."""
    points = np.asarray(points, dtype=np.float32)
    offset = np.array([1.0, height / width], dtype=np.float32)
    return ((points + offset) * np.float32(width) / 2.0).astype(np.float32)
