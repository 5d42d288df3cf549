"""MMPose predictions: instances with ``keypoints`` ``[[x, y], ...]`` and ``keypoint_scores``, per frame.

Accepted document shapes, as MMPose writes them:

- the inferencer's ``--pred-out-dir`` file for a video: ``[{"frame_id": i, "instances": [...]}, ...]``;
- the demo scripts' ``--save-predictions``: ``{"meta_info": {...}, "instance_info": [{"frame_id", "instances"}]}``;
- inferencer results saved as they come: ``{"predictions": [[...instances of frame 0], ...]}`` (optionally
  with ``meta_info``), or a list of such results, one per frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from mtf_pose.io._layouts import detector_layout
from mtf_pose.io._people import Detection, build_tracks
from mtf_pose.io.base import KeypointFile, KeypointReader, KeypointReadError, Probe
from mtf_pose.io.detections import mark_undetected

_INSTANCE_KEYS = ("keypoints", "keypoint_scores")


class MMPoseReader(KeypointReader):
    name: ClassVar[str] = "mmpose"
    title: ClassVar[str] = "MMPose prediction JSON"
    extensions: ClassVar[tuple[str, ...]] = (".json",)
    detection: ClassVar[str] = (
        "JSON with per-frame 'instances' (a list of {frame_id, instances} or {meta_info, instance_info}) or "
        "'predictions' lists of instances with 'keypoints' [[x, y], ...] and 'keypoint_scores'"
    )

    def detect(self, probe: Probe) -> bool:
        try:
            frames, _ = _frames(probe.json)
        except KeypointReadError:
            return False
        instances = [instance for _, frame in frames for instance in frame]
        return bool(instances) and all(
            isinstance(i, Mapping) and all(k in i for k in _INSTANCE_KEYS) for i in instances[:20]
        )

    def read(self, probe: Probe) -> KeypointFile:
        frames, meta = _frames(probe.json)
        detections: dict[int, list[Detection]] = {}
        for number, instances in frames:
            if number in detections:
                raise KeypointReadError(f"frame_id {number} appears twice")
            detections[number] = [_detection(instance, number, index) for index, instance in enumerate(instances)]
        joints = {d.keypoints.shape[0] for ds in detections.values() for d in ds}
        if not joints:
            raise KeypointReadError("no person was detected in any frame")
        if len(joints) > 1:
            raise KeypointReadError(f"instances have different numbers of keypoints: {sorted(joints)}")
        (count,) = joints
        notes = []
        dataset = str(meta.get("dataset_name", "")).lower() if meta else ""
        if dataset == "h36m" and count == 17:
            layout, keep = "h36m", 17
        else:
            layout, keep, note = detector_layout(count, "MMPose instances")
            notes += [note] if note else []
        if dataset:
            notes.append(f"meta_info dataset_name {dataset!r}")
        for ds in detections.values():
            for detection in ds:
                detection.keypoints = detection.keypoints[:keep]
        tracks, how = build_tracks(detections, "track_id")
        for track in tracks:
            track.layout, track.coordinates = layout, "pixels"
        return KeypointFile(probe.source, self.name, tracks, people=how, notes=notes)


def _frames(document: Any) -> tuple[list[tuple[int, list[Any]]], Mapping[str, Any] | None]:
    """``[(frame number, instances)]`` and the ``meta_info``, from any accepted document shape."""
    meta = None
    if isinstance(document, Mapping):
        meta = document.get("meta_info") if isinstance(document.get("meta_info"), Mapping) else None
        if "instance_info" in document:
            return _numbered(document["instance_info"]), meta
        if "predictions" in document:
            return _unnumbered(document["predictions"]), meta
        raise KeypointReadError("expected 'instance_info' or 'predictions'")
    if isinstance(document, list) and document and all(isinstance(item, Mapping) for item in document):
        if all("instances" in item for item in document):
            return _numbered(document), meta
        if all("predictions" in item for item in document):
            frames: list[list[Any]] = []
            for item in document:
                frames.extend(instances for _, instances in _unnumbered(item["predictions"]))
            return list(enumerate(frames)), meta
    raise KeypointReadError("not an MMPose prediction document")


def _numbered(entries: Any) -> list[tuple[int, list[Any]]]:
    if not isinstance(entries, list):
        raise KeypointReadError("'instance_info' must be a list of {frame_id, instances}")
    frames = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("instances"), list):
            raise KeypointReadError(f"entry {index} must be {{frame_id, instances: [...]}}")
        number = entry.get("frame_id", index)
        if not isinstance(number, int) or isinstance(number, bool):
            raise KeypointReadError(f"entry {index}: frame_id must be a whole number; got {number!r}")
        frames.append((number, entry["instances"]))
    return frames


def _unnumbered(predictions: Any) -> list[tuple[int, list[Any]]]:
    if not isinstance(predictions, list):
        raise KeypointReadError("'predictions' must be a list with one list of instances per frame")
    frames = []
    for frame in predictions:
        # The inferencer wraps each image's instances in a batch list: [[instances]].
        if isinstance(frame, list) and len(frame) == 1 and isinstance(frame[0], list):
            frame = frame[0]
        if not isinstance(frame, list):
            raise KeypointReadError("'predictions' must be a list with one list of instances per frame")
        frames.append(frame)
    return list(enumerate(frames))


def _detection(instance: Any, frame: int, index: int) -> Detection:
    where = f"frame {frame}, instance {index}"
    if not isinstance(instance, Mapping) or not all(k in instance for k in _INSTANCE_KEYS):
        raise KeypointReadError(f"{where}: an instance needs 'keypoints' and 'keypoint_scores'")
    try:
        xy = np.asarray(instance["keypoints"], dtype=np.float64)
        scores = np.asarray(instance["keypoint_scores"], dtype=np.float64)
    except (TypeError, ValueError):
        raise KeypointReadError(f"{where}: keypoints and keypoint_scores must be numbers") from None
    if xy.ndim != 2 or xy.shape[1] != 2 or xy.shape[0] == 0:
        raise KeypointReadError(f"{where}: keypoints must be [[x, y], ...]; got shape {xy.shape}")
    if scores.shape != (xy.shape[0],):
        raise KeypointReadError(f"{where}: {scores.size} keypoint_scores for {xy.shape[0]} keypoints")
    track_id = instance.get("track_id")
    track_id = track_id if isinstance(track_id, (int, float)) and not isinstance(track_id, bool) else None
    return Detection(mark_undetected(np.concatenate([xy, scores[:, None]], axis=1)), track_id)
