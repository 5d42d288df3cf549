"""OpenPose output folders: one ``<name>_<frame>_keypoints.json`` per frame (``--write_json``), each with
``people[].pose_keypoints_2d`` = ``[x, y, confidence] * 25`` (BODY_25) and, with ``--tracking``,
``people[].person_id``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from mtf_pose.io._people import Detection, build_tracks
from mtf_pose.io.base import KeypointFile, KeypointReader, KeypointReadError, KeypointSource, Probe, load_json
from mtf_pose.io.detections import mark_undetected
from mtf_pose.io.json_utils import flat_keypoints

FRAME_FILE_SUFFIX = "_keypoints.json"
_FRAME_FILE = re.compile(r"^(?P<prefix>.*?)(?P<number>\d*)_keypoints\.json$")
_BODY_25_JOINTS = 25


def is_frame_file(path: Path) -> bool:
    return path.name.endswith(FRAME_FILE_SUFFIX)


def group_frame_files(paths: Iterable[Path]) -> dict[tuple[Path, str], list[Path]]:
    """Per-frame files grouped into sequences by folder and name prefix, each in frame order."""
    groups: dict[tuple[Path, str], list[tuple[int, Path]]] = {}
    for path in paths:
        match = _FRAME_FILE.match(path.name)
        if match is None:
            continue
        number = int(match["number"]) if match["number"] else 0
        groups.setdefault((path.parent, match["prefix"]), []).append((number, path))
    return {key: [path for _, path in sorted(members)] for key, members in sorted(groups.items())}


def sequence_name(prefix: str) -> str:
    """Output name of the sequence of frame files starting with ``prefix``."""
    return prefix.rstrip("_-. ") + "_keypoints" if prefix.rstrip("_-. ") else "keypoints"


def frame_number(path: Path) -> int:
    match = _FRAME_FILE.match(path.name)
    return int(match["number"]) if match and match["number"] else 0


class OpenPoseReader(KeypointReader):
    name: ClassVar[str] = "openpose"
    title: ClassVar[str] = "OpenPose JSON output (per-frame *_keypoints.json)"
    extensions: ClassVar[tuple[str, ...]] = ("/", ".json")
    detection: ClassVar[str] = (
        "a folder of *_keypoints.json files (or one such file) holding {people: [{pose_keypoints_2d: "
        "[x, y, c] * 25}]}"
    )

    def detect(self, probe: Probe) -> bool:
        members = _members(probe.source)
        if not members:
            return False
        document = probe.json if probe.suffix == ".json" else load_json(members[0])
        return isinstance(document, dict) and isinstance(document.get("people"), list)

    def read(self, probe: Probe) -> KeypointFile:
        members = _members(probe.source)
        if not members:
            raise KeypointReadError(f"no *{FRAME_FILE_SUFFIX} files")
        if probe.suffix == "/" and not probe.source.members:
            prefixes = {prefix for _, prefix in group_frame_files(members)}
            if len(prefixes) > 1:
                raise KeypointReadError(
                    f"the folder holds {len(prefixes)} OpenPose sequences ({', '.join(sorted(prefixes))}); "
                    "pass one sequence's files, or lift the folder with mtf-pose lift, which reads each"
                )
        detections: dict[int, list[Detection]] = {}
        for path in members:
            try:
                document = probe.json if path == probe.path else load_json(path)
                detections[frame_number(path)] = _frame_people(document)
            except KeypointReadError as error:
                raise KeypointReadError(f"{path.name}: {error}") from None
        if len(detections) != len(members):
            raise KeypointReadError("two frame files have the same frame number")
        tracks, how = build_tracks(detections, "person_id")
        for track in tracks:
            track.layout = "openpose_body25"
        return KeypointFile(probe.source, self.name, tracks, people=how, notes=[f"{len(members)} frame files"])


def _members(source: KeypointSource) -> list[Path]:
    if source.members:
        return list(source.members)
    if source.path.is_dir():
        return [path for group in group_frame_files(source.path.iterdir()).values() for path in group]
    return [source.path] if is_frame_file(source.path) else []


def _frame_people(document: Any) -> list[Detection]:
    if not isinstance(document, dict) or not isinstance(document.get("people"), list):
        raise KeypointReadError("not an OpenPose frame: expected {\"people\": [...]}")
    people = []
    for index, person in enumerate(document["people"]):
        if not isinstance(person, dict) or "pose_keypoints_2d" not in person:
            raise KeypointReadError(f"people[{index}] has no 'pose_keypoints_2d'")
        values = person["pose_keypoints_2d"]
        if not values:
            raise KeypointReadError(f"people[{index}] has no body keypoints (OpenPose ran without the body model?)")
        keypoints = flat_keypoints(values, f"people[{index}]")
        if keypoints.shape[0] != _BODY_25_JOINTS:
            model = " (the COCO-18 model)" if keypoints.shape[0] == 18 else ""
            raise KeypointReadError(
                f"people[{index}] has {keypoints.shape[0]} body joints{model}; run OpenPose with the BODY_25 model"
            )
        people.append(Detection(mark_undetected(keypoints), _person_id(person.get("person_id"))))
    return people


def _person_id(value: Any) -> float | None:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None
