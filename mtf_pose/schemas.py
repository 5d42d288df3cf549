"""Validated input: one person's 2D keypoint sequence, in any supported layout and coordinate system.

:class:`KeypointSequence` checks everything a user can get wrong and says how to fix it;
:func:`prepare` then turns a valid sequence into the network's input (H36M-17 order, screen-normalised,
missing joints filled in over time, resampled to the model's frame rate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mtf_pose import skeleton
from mtf_pose.layouts import LAYOUTS, get_layout, layouts_with
from mtf_pose.normalization import normalize_pixels

Coordinates = Literal["pixels", "unit", "normalized"]

MAX_IMAGE_SIDE = 100_000
MAX_FPS = 1_000.0
# Keypoints may stray a little outside the image (detectors extrapolate); this far out, in image widths
# past the border, they are a sign of a wrong image size or coordinate system.
MAX_OUTSIDE_IMAGE = 1.0


class KeypointInputError(ValueError):
    """Keypoint input the Lifter cannot use; the message names the field and how to fix it."""


class KeypointSequence(BaseModel):
    """One person's 2D keypoints over time.

    - ``keypoints``: ``(frames, joints, 2)`` coordinates or ``(frames, joints, 3)`` with confidence, as a
      NumPy array, nested lists or a tensor. NaN marks a joint the detector did not find.
    - ``layout``: joint order, one of ``h36m``, ``coco``, ``halpe26``, ``mediapipe33``,
      ``openpose_body25``; inferred from the joint count when that is unambiguous (not for 17 joints).
    - ``image_size``: ``(width, height)`` in pixels; needed unless ``coordinates="normalized"``.
    - ``coordinates``: ``"pixels"``; ``"unit"`` (fractions of width and height, as MediaPipe gives);
      ``"normalized"`` (already screen-normalised: ``x / w * 2 - 1``, ``y / w * 2 - h / w``).
    - ``fps``: frame rate of the sequence; ``None`` means it already runs at the model's rate (50 fps).
    - ``confidence``: ``(frames, joints)`` scores in [0, 1], if not given as the third channel.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    keypoints: Any
    layout: str | None = None
    image_size: tuple[float, float] | None = None
    coordinates: Coordinates = "pixels"
    fps: float | None = Field(None, gt=0, le=MAX_FPS)
    confidence: Any = None

    @field_validator("keypoints", mode="before")
    @classmethod
    def _keypoints_array(cls, value: Any) -> NDArray[np.float64]:
        array = _as_float_array(value, "keypoints")
        if array.ndim == 2 and array.shape[-1] in (2, 3):
            raise ValueError(
                f"keypoints must have shape (frames, joints, 2 or 3); got {array.shape}. "
                "For a single frame add a leading axis: keypoints[None]"
            )
        if array.ndim != 3 or array.shape[-1] not in (2, 3):
            raise ValueError(
                "keypoints must have shape (frames, joints, 2) or (frames, joints, 3) with confidence; "
                f"got {array.shape}"
            )
        if array.shape[0] == 0:
            raise ValueError("keypoints is empty (0 frames); pass at least one frame")
        if array.shape[1] == 0:
            raise ValueError("keypoints has 0 joints per frame")
        infinite = np.argwhere(np.isinf(array))
        if len(infinite):
            frame, joint, channel = infinite[0]
            raise ValueError(
                f"keypoints contain infinity ({len(infinite)} values; first at frame {frame}, joint {joint}, "
                f"channel {channel}); mark missing joints with NaN instead"
            )
        if np.isnan(array[..., :2]).all():
            raise ValueError("keypoints are NaN everywhere: no joint was detected in any frame")
        return array

    @field_validator("confidence", mode="before")
    @classmethod
    def _confidence_array(cls, value: Any) -> NDArray[np.float64] | None:
        if value is None:
            return None
        return _as_float_array(value, "confidence")

    @field_validator("layout")
    @classmethod
    def _known_layout(cls, value: str | None) -> str | None:
        if value is not None:
            get_layout(value)
        return value

    @field_validator("image_size")
    @classmethod
    def _sane_image_size(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is None:
            return None
        width, height = value
        for name, side in (("width", width), ("height", height)):
            if not np.isfinite(side) or side <= 0:
                raise ValueError(f"image {name} must be a positive number of pixels, got {side}")
            if side > MAX_IMAGE_SIDE:
                raise ValueError(f"image {name} {side} is larger than {MAX_IMAGE_SIDE} pixels; pass (width, height)")
            if side < 8:
                raise ValueError(
                    f"image {name} {side} is implausibly small; for coordinates in [0, 1] use coordinates='unit' "
                    "with the real image size"
                )
        return (float(width), float(height))

    @model_validator(mode="after")
    def _consistent(self) -> KeypointSequence:
        frames, joints, channels = self.keypoints.shape
        if self.layout is None:
            candidates = layouts_with(joints)
            if len(candidates) != 1:
                known = ", ".join(f"{n} ({LAYOUTS[n].num_joints})" for n in sorted(LAYOUTS))
                hint = f"pass layout= one of {candidates}" if candidates else f"supported layouts: {known}"
                raise ValueError(f"layout: cannot tell the joint layout from {joints} joints; {hint}")
            self.layout = candidates[0]
        layout = get_layout(self.layout)  # type: ignore[arg-type]
        if layout.num_joints != joints:
            others = layouts_with(joints)
            raise ValueError(
                f"layout {layout.name!r} has {layout.num_joints} joints but keypoints have {joints}"
                + (f"; layouts with {joints} joints: {others}" if others else "")
            )
        if self.confidence is not None:
            if channels == 3:
                raise ValueError("confidence is given twice: as keypoints[..., 2] and as confidence=")
            if self.confidence.shape != (frames, joints):
                raise ValueError(
                    f"confidence must have shape (frames, joints) = {(frames, joints)}; got {self.confidence.shape}"
                )
        scores = self.confidence if self.confidence is not None else (self.keypoints[..., 2] if channels == 3 else None)
        if scores is not None:
            finite = scores[np.isfinite(scores)]
            if finite.size and finite.min() < 0:
                raise ValueError(f"confidence must lie in [0, 1]; found {finite.min():.3g}")
        if self.coordinates != "normalized" and self.image_size is None:
            raise ValueError(
                "image_size: required for coordinates in pixels or unit fractions; pass image_size=(width, height) "
                "or coordinates='normalized'"
            )
        return self


def _as_float_array(value: Any, name: str) -> NDArray[np.float64]:
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be numbers (a NumPy array, nested lists or a tensor); got {type(value).__name__}"
        ) from None
    return array


def validate_sequence(keypoints: Any = None, **fields: Any) -> KeypointSequence:
    """Build a :class:`KeypointSequence`, turning validation failures into one readable message."""
    if isinstance(keypoints, KeypointSequence):
        if fields:
            return validate_sequence(**{**keypoints.model_dump(), **fields})
        return keypoints
    try:
        return KeypointSequence(keypoints=keypoints, **fields)
    except ValidationError as error:
        raise KeypointInputError(format_validation_error(error)) from None


def format_validation_error(error: ValidationError) -> str:
    """One line per problem, ``field: message``, without pydantic's dump of the input value."""
    lines = []
    for problem in error.errors():
        message = problem["msg"].removeprefix("Value error, ")
        location = ".".join(str(part) for part in problem["loc"])
        lines.append(f"{location}: {message}" if location and not message.startswith(location) else message)
    return "invalid keypoint input: " + "; ".join(lines)


@dataclass
class PreparedSequence:
    """A sequence in the network's terms, plus what is needed to map results back to its own frames."""

    keypoints: NDArray[np.float32]  # (model_frames, 17, 3): normalised u, v, confidence
    confidence: NDArray[np.float32]  # (frames, 17) on the caller's frames; 0 where a joint was filled in
    filled: NDArray[np.bool_]  # (frames, 17) joints that were missing and interpolated
    frames: int  # the caller's frame count
    fps: float  # the caller's frame rate
    model_fps: float
    image_size: tuple[float, float] | None

    def to_caller_frames(self, values: NDArray[np.floating]) -> NDArray[np.float32]:
        """Resample ``(model_frames, ...)`` values back onto the caller's frames."""
        if values.shape[0] == self.frames:
            return values.astype(np.float32)
        return _resample(values, self.model_fps, self.fps, self.frames)


def _resample(values: NDArray[np.floating], from_fps: float, to_fps: float, frames: int) -> NDArray[np.float32]:
    """Linear interpolation of ``values`` sampled at ``from_fps`` onto ``frames`` samples at ``to_fps``."""
    source_times = np.arange(values.shape[0]) / from_fps
    target_times = np.minimum(np.arange(frames) / to_fps, source_times[-1])
    position = np.interp(target_times, source_times, np.arange(values.shape[0]))
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, values.shape[0] - 1)
    weight = (position - lower).reshape((-1,) + (1,) * (values.ndim - 1))
    return (values[lower] * (1 - weight) + values[upper] * weight).astype(np.float32)


def _fill_missing(coordinates: NDArray[np.float64], layout_name: str) -> NDArray[np.bool_]:
    """Linear interpolation over time of NaN joints, in place; the edges hold the nearest valid value."""
    missing: NDArray[np.bool_] = np.asarray(np.isnan(coordinates).any(-1))
    frames = np.arange(coordinates.shape[0])
    for joint in range(coordinates.shape[1]):
        gaps = missing[:, joint]
        if not gaps.any():
            continue
        if gaps.all():
            layout = get_layout(layout_name)
            sources = ", ".join(layout.joint_names[s] for s in sorted(set(layout.sources[joint])))
            raise KeypointInputError(
                f"keypoints: joint {skeleton.JOINT_NAMES[joint]!r} (made from {layout_name} {sources}) is missing "
                "in every frame, so it cannot be filled in from neighbouring frames; check the layout, or the "
                "detector's output for that joint"
            )
        for axis in range(coordinates.shape[2]):
            coordinates[gaps, joint, axis] = np.interp(frames[gaps], frames[~gaps], coordinates[~gaps, joint, axis])
    return missing


def prepare(sequence: KeypointSequence, model_fps: float) -> PreparedSequence:
    """Map to H36M-17, normalise, fill missing joints and resample to ``model_fps``."""
    raw = sequence.keypoints
    frames = raw.shape[0]
    coordinates = raw[..., :2].copy()
    if sequence.confidence is not None:
        scores = sequence.confidence.copy()
    elif raw.shape[-1] == 3:
        scores = raw[..., 2].copy()
    else:
        scores = np.ones(raw.shape[:2])
    # Joints reported with confidence 0 (or NaN) are treated as not detected.
    absent = ~np.isfinite(scores) | (scores <= 0) | np.isnan(coordinates).any(-1)
    coordinates[absent] = np.nan
    scores = np.clip(np.nan_to_num(scores, nan=0.0), 0.0, 1.0)
    if absent.all():
        raise KeypointInputError(
            "keypoints: no joint is detected in any frame (every joint is NaN or has confidence 0)"
        )
    layout = get_layout(sequence.layout)  # type: ignore[arg-type]
    coordinates, scores = layout.to_h36m(coordinates, scores)

    if sequence.coordinates != "normalized":
        width, height = sequence.image_size  # type: ignore[misc]
        if sequence.coordinates == "unit":
            coordinates = coordinates * np.array([width, height])
        _check_extent(coordinates, sequence.coordinates)
        coordinates = normalize_pixels(coordinates, width, height).astype(np.float64)
        _check_inside_image(coordinates, width, height, sequence.coordinates)

    filled = _fill_missing(coordinates, layout.name)
    scores = np.where(filled, 0.0, scores).astype(np.float32)
    network_input = np.concatenate([coordinates, scores[..., None]], axis=-1).astype(np.float32)
    fps = sequence.fps or model_fps
    if fps != model_fps and frames > 1:
        model_frames = int(np.floor((frames - 1) * model_fps / fps)) + 1
        network_input = _resample(network_input, fps, model_fps, model_frames)
    return PreparedSequence(
        keypoints=network_input, confidence=scores, filled=filled, frames=frames, fps=fps,
        model_fps=model_fps, image_size=sequence.image_size,
    )


# A person is more than a few pixels tall; a smaller extent means coordinates in another unit.
MIN_EXTENT_PIXELS = 4.0


def _check_extent(pixels: NDArray[np.float64], coordinates: str) -> None:
    extent = np.nanmax(pixels, axis=(0, 1)) - np.nanmin(pixels, axis=(0, 1))
    if np.nanmax(extent) < MIN_EXTENT_PIXELS:
        hint = "coordinates in [0, 1]? pass coordinates='unit'" if coordinates == "pixels" else "is image_size right?"
        raise KeypointInputError(
            f"keypoints span less than {MIN_EXTENT_PIXELS:g} pixels over the whole sequence "
            f"({extent.max():.3g}); {hint}"
        )


def _check_inside_image(normalized: NDArray[np.float64], width: float, height: float, coordinates: str) -> None:
    # In normalised units the image spans u in [-1, 1] and v in [-h/w, h/w].
    limit_u = 1 + 2 * MAX_OUTSIDE_IMAGE
    limit_v = height / width + 2 * MAX_OUTSIDE_IMAGE
    outside = (np.abs(normalized[..., 0]) > limit_u) | (np.abs(normalized[..., 1]) > limit_v)
    if outside.any():
        frame, joint = np.argwhere(outside)[0]
        hint = (
            "is image_size (width, height) right? Coordinates in [0, 1] need coordinates='unit'"
            if coordinates == "pixels"
            else "is image_size right?"
        )
        raise KeypointInputError(
            f"keypoints lie far outside the {width:g}x{height:g} image ({int(outside.sum())} joints; first: frame "
            f"{frame}, joint {skeleton.JOINT_NAMES[joint]!r}); {hint}"
        )
