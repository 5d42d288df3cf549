"""Per-detection result lists: AlphaPose's ``alphapose-results.json`` and COCO-style keypoint results.

Both are a JSON list with one object per detected person per image: ``image_id``, ``category_id``,
``keypoints`` ``[x, y, score] * joints`` and ``score``. AlphaPose adds ``box`` and ``idx`` (the track id
after pose tracking) and names images by file (``"0.jpg"``); COCO results number them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mtf_pose.io._layouts import detector_layout
from mtf_pose.io._people import Detection, build_tracks, frame_numbers
from mtf_pose.io.base import KeypointFile, KeypointReader, KeypointReadError, Probe
from mtf_pose.io.json_utils import flat_keypoints, records


def mark_undetected(keypoints: NDArray[np.float64]) -> NDArray[np.float64]:
    """Joints reported with confidence 0 (usually at 0, 0) were not detected: their x, y become NaN."""
    keypoints[keypoints[:, 2] <= 0, :2] = np.nan
    return keypoints


def _is_flat_numbers(value: Any) -> bool:
    return isinstance(value, list) and len(value) >= 3 and all(isinstance(v, (int, float)) for v in value[:3])


class _DetectionListReader(KeypointReader):
    extensions: ClassVar[tuple[str, ...]] = (".json",)
    id_field: ClassVar[str | None] = None
    what: ClassVar[str]

    def read(self, probe: Probe) -> KeypointFile:
        items = records(probe.json, ("image_id", "keypoints"))
        if items is None:
            raise KeypointReadError(f"expected a list of {self.what} objects with 'image_id' and 'keypoints'")
        frames, numbering = self._frame_of(items)
        detections: dict[int, list[Detection]] = {}
        joints = None
        for index, item in enumerate(items):
            keypoints = flat_keypoints(item["keypoints"], f"detection {index} (image {item['image_id']!r})")
            joints = joints or keypoints.shape[0]
            if keypoints.shape[0] != joints:
                raise KeypointReadError(
                    f"detection {index} (image {item['image_id']!r}) has {keypoints.shape[0]} joints, "
                    f"the first had {joints}"
                )
            detections.setdefault(frames[index], []).append(Detection(mark_undetected(keypoints), self._track_id(item)))
        assert joints is not None
        layout, keep, note = detector_layout(joints, f"{self.what} keypoints")
        for people in detections.values():
            for detection in people:
                detection.keypoints = detection.keypoints[:keep]
        tracks, how = build_tracks(detections, self.id_field)
        for track in tracks:
            track.layout, track.coordinates = layout, "pixels"
        notes = [f"frames numbered by {numbering}"] + ([note] if note else [])
        return KeypointFile(probe.source, self.name, tracks, people=how, notes=notes)

    def _frame_of(self, items: list[Mapping[str, Any]]) -> tuple[list[int], str]:
        ids = [item["image_id"] for item in items]
        if all(isinstance(i, int) for i in ids):
            return ids, "image_id"
        names = [str(i) for i in ids]
        distinct = list(dict.fromkeys(names))
        numbers, numbering = frame_numbers(distinct)
        frame_of = dict(zip(distinct, numbers))
        return [frame_of[name] for name in names], numbering

    def _track_id(self, item: Mapping[str, Any]) -> float | None:
        return None


class AlphaPoseReader(_DetectionListReader):
    name: ClassVar[str] = "alphapose"
    title: ClassVar[str] = "AlphaPose results JSON"
    detection: ClassVar[str] = (
        "a JSON list of {image_id, keypoints: [x, y, score, ...], ...} with AlphaPose's 'idx' or 'box' "
        "fields or image file names as image_id"
    )
    id_field: ClassVar[str | None] = "idx"
    what: ClassVar[str] = "AlphaPose"

    def detect(self, probe: Probe) -> bool:
        items = records(probe.json, ("image_id", "keypoints"))
        if items is None or not _is_flat_numbers(items[0]["keypoints"]):
            return False
        first = items[0]
        return "idx" in first or "box" in first or isinstance(first["image_id"], str)

    def _track_id(self, item: Mapping[str, Any]) -> float | None:
        # After pose tracking idx is the person's id; without it, a list of the merged detections' ids.
        idx = item.get("idx")
        if isinstance(idx, list) and len(idx) == 1:
            idx = idx[0]
        return float(idx) if isinstance(idx, (int, float)) and not isinstance(idx, bool) else None


class CocoResultsReader(_DetectionListReader):
    name: ClassVar[str] = "coco"
    title: ClassVar[str] = "COCO keypoint results JSON"
    detection: ClassVar[str] = (
        "a JSON list of {image_id: number, category_id, keypoints: [x, y, v, ...], score} (COCO's "
        "results format, as detectors write for evaluation)"
    )
    what: ClassVar[str] = "COCO results"

    def detect(self, probe: Probe) -> bool:
        items = records(probe.json, ("image_id", "keypoints"))
        return items is not None and _is_flat_numbers(items[0]["keypoints"]) and isinstance(items[0]["image_id"], int)
