"""MediaPipe / BlazePose pose landmarks: 33 landmarks with x, y as fractions of the image (``"unit"``
coordinates), plus depth and visibility, saved as an ``.npy`` array or as JSON landmark lists."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mtf_pose.io._people import Detection, build_tracks
from mtf_pose.io.base import KeypointFile, KeypointReader, KeypointReadError, PersonTrack, Probe, guess_coordinates
from mtf_pose.io.json_utils import image_size_field, number_field

LANDMARKS = 33
_PERSON_KEYS = ("landmarks", "pose_landmarks")


class MediaPipeReader(KeypointReader):
    name: ClassVar[str] = "mediapipe"
    title: ClassVar[str] = "MediaPipe pose landmarks"
    extensions: ClassVar[tuple[str, ...]] = (".npy", ".json")
    detection: ClassVar[str] = (
        ".npy: shape (frames, 33, 2 to 5) with every x, y in about [0, 1]; .json: per-frame lists of 33 "
        "landmark objects with 'x' and 'y'"
    )

    def detect(self, probe: Probe) -> bool:
        if probe.suffix == ".npy":
            array = probe.npy
            return array.ndim == 3 and array.shape[1] == LANDMARKS and 2 <= array.shape[-1] <= 5 and (
                array.dtype.kind in "fiu" and guess_coordinates(np.asarray(array, dtype=np.float64)) == "unit"
            )
        frames = _frames(probe.json)
        return frames is not None and any(_people(entry, index) for index, entry in enumerate(frames[:50]))

    def read(self, probe: Probe) -> KeypointFile:
        if probe.suffix == ".npy":
            keypoints, note = landmark_array(probe.npy)
            track = PersonTrack(keypoints, layout="mediapipe33", coordinates="unit")
            return KeypointFile(probe.source, self.name, [track], notes=[note])
        return self._read_json(probe)

    def _read_json(self, probe: Probe) -> KeypointFile:
        document = probe.json
        frames = _frames(document)
        detections = {index: [Detection(p) for p in _people(entry, index)] for index, entry in enumerate(frames or [])}
        if not any(detections.values()) and any(entry not in (None, []) for entry in frames or [None]):
            raise KeypointReadError("expected a list of frames, each a list of 33 landmarks {x, y, z, visibility}")
        settings: dict[str, Any] = {"layout": "mediapipe33", "coordinates": "unit"}
        if isinstance(document, dict):
            settings["image_size"] = image_size_field(document)
            settings["fps"] = number_field(document, ("fps", "frame_rate"))
        if max(len(people) for people in detections.values()) <= 1:
            tracks, _ = build_tracks(detections, None)
            (track,) = tracks
            track.key, track.label = None, ""
            people = "one person"
        else:
            tracks, people = build_tracks(detections, None)
        for track in tracks:
            for name, value in settings.items():
                setattr(track, name, value)
        return KeypointFile(probe.source, self.name, tracks, people=people)


def landmark_array(array: NDArray[Any]) -> tuple[NDArray[np.float64], str]:
    """``(frames, 33, 2..5)`` landmarks -> ``(frames, 33, 3)`` x, y, confidence, and how the channels were read.

    Channels: 2 = x, y; 3 = x, y and visibility when the third channel lies in [0, 1], else x, y, z (z
    has negative values: it is depth relative to the hips); 4 = x, y, z, visibility; 5 = x, y, z,
    visibility, presence. Depth is not used (the network estimates its own).
    """
    values = np.asarray(array, dtype=np.float64)
    channels = values.shape[-1]
    xy = values[..., :2]
    confidence = np.ones(values.shape[:2])
    if channels == 2:
        note = "channels: x, y"
    elif channels == 3:
        third = values[..., 2][np.isfinite(values[..., 2])]
        if third.size and (third.min() < 0 or third.max() > 1):
            note = "channels: x, y, z (depth not used; no visibility)"
        else:
            confidence, note = values[..., 2], "channels: x, y, visibility"
    else:
        confidence = values[..., 3]
        note = "channels: x, y, z, visibility" + (", presence" if channels == 5 else "") + " (depth not used)"
    return np.concatenate([xy, confidence[..., None]], axis=-1), note


def _frames(document: Any) -> list[Any] | None:
    if isinstance(document, dict):
        document = document.get("frames", document.get("landmarks"))
    return document if isinstance(document, list) else None


def _people(entry: Any, frame: int) -> list[NDArray[np.float64]]:
    """Landmark arrays ``(33, 3)`` of the people in one frame entry."""
    if entry is None or entry == []:
        return []
    if isinstance(entry, dict):
        for key in _PERSON_KEYS:
            if key in entry:
                return _people(entry[key], frame)
        return []
    if not isinstance(entry, list):
        return []
    if all(isinstance(item, dict) and "x" in item and "y" in item for item in entry):
        return [_landmarks(entry, frame)]
    people = []
    for item in entry:
        people.extend(_people(item, frame))
    return people


def _landmarks(items: list[dict[str, Any]], frame: int) -> NDArray[np.float64]:
    if len(items) != LANDMARKS:
        raise KeypointReadError(f"frame {frame}: {len(items)} landmarks; MediaPipe pose has {LANDMARKS}")
    try:
        return np.array(
            [[float(p["x"]), float(p["y"]), float(p.get("visibility", 1.0))] for p in items], dtype=np.float64
        )
    except (TypeError, ValueError):
        raise KeypointReadError(f"frame {frame}: landmark x, y and visibility must be numbers") from None
