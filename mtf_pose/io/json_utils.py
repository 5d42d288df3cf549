"""Small checked accessors for JSON documents: each failure names the field and what was expected."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mtf_pose.io.base import KeypointReadError


def number_field(document: Mapping[str, Any], keys: tuple[str, ...]) -> float | None:
    """The first of ``keys`` present in ``document``, as a number; ``None`` when none is."""
    for key in keys:
        if document.get(key) is not None:
            try:
                return float(document[key])
            except (TypeError, ValueError):
                raise KeypointReadError(f"{key!r} must be a number; got {document[key]!r}") from None
    return None


def image_size_field(document: Mapping[str, Any]) -> tuple[float, float] | None:
    """``image_size: [w, h]``, or ``width``/``height`` (also ``image_width``/``image_height``, ``w``/``h``)."""
    if document.get("image_size") is not None:
        size = document["image_size"]
        if isinstance(size, Mapping):
            size = [size.get("width", size.get("w")), size.get("height", size.get("h"))]
        try:
            width, height = (float(v) for v in size)
        except (TypeError, ValueError):
            raise KeypointReadError(f"'image_size' must be [width, height]; got {size!r}") from None
        return width, height
    for width_key, height_key in (("width", "height"), ("image_width", "image_height"), ("w", "h")):
        found_width, found_height = number_field(document, (width_key,)), number_field(document, (height_key,))
        if found_width is not None and found_height is not None:
            return found_width, found_height
    return None


def flat_keypoints(values: Any, what: str) -> NDArray[np.float64]:
    """``[x, y, score, x, y, score, ...]`` -> ``(joints, 3)``."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise KeypointReadError(f"{what}: keypoints must be a flat list of numbers [x, y, score, ...]") from None
    if array.ndim != 1 or array.size == 0 or array.size % 3:
        length = array.size if array.ndim == 1 else f"shape {array.shape}"
        raise KeypointReadError(
            f"{what}: keypoints must be a flat list [x, y, score, ...] of 3 values per joint; got {length}"
        )
    return array.reshape(-1, 3)


def records(document: Any, required: tuple[str, ...]) -> list[Mapping[str, Any]] | None:
    """``document`` as a list of objects that all have the ``required`` keys, else ``None``."""
    if not isinstance(document, list) or not document:
        return None
    if all(isinstance(item, Mapping) and all(key in item for key in required) for item in document):
        return document
    return None
