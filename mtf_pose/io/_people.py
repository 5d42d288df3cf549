"""From per-frame detections of several people to one track per person.

Formats that carry a track id (AlphaPose's ``idx`` after pose tracking, MMPose's ``track_id``, OpenPose's
``person_id`` with ``--tracking``) keep it, as long as no id appears twice in one frame. Otherwise people
are linked frame to frame by position: each detection joins the track whose last pose is nearest (mean
joint distance relative to that pose's size), if that track was seen recently and the distance is small;
otherwise it starts a new track. Greedy, nearest pairs first, deterministic.

A person's track spans their first to last frame; frames in between without a detection are NaN (the
Lifter fills them in and marks them in ``LiftResult.filled``). No detection is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mtf_pose.io.base import KeypointReadError, PersonTrack

# A track not seen for this many frames is closed: a detection after that starts a new person.
MAX_GAP_FRAMES = 30
# Largest mean joint displacement, relative to the track's pose size, that still links two detections.
MAX_LINK_DISTANCE = 0.5
# Frame numbers are taken as given; spans far larger than the number of frames are not video frames
# (COCO image ids, for instance) and would make huge arrays of nothing.
MAX_SPAN_FACTOR = 20
MIN_SPAN_CHECKED = 10_000

_NUMBER = re.compile(r"(\d+)")


@dataclass
class Detection:
    """One person in one frame."""

    keypoints: NDArray[np.float64]  # (joints, 3): x, y, confidence; NaN x, y where the joint is missing
    track_id: Hashable | None = None


def frame_numbers(names: Sequence[str]) -> tuple[list[int], str]:
    """Frame numbers for image names (``"0.jpg"``, ``"frame_000123.png"``): the last number in each name
    when every name has one and they are distinct, else the order in which the names first appear."""
    numbers = []
    for name in names:
        found = _NUMBER.findall(name.rsplit("/", 1)[-1])
        if not found:
            break
        numbers.append(int(found[-1]))
    if len(numbers) == len(names) and len(set(numbers)) == len(numbers):
        return numbers, "the number in each image name"
    return list(range(len(names))), "the order of the images in the file"


def check_span(frames: Iterable[int], what: str) -> None:
    numbers = sorted(set(frames))
    if not numbers:
        return
    span = numbers[-1] - numbers[0] + 1
    if span > MIN_SPAN_CHECKED and span > MAX_SPAN_FACTOR * len(numbers):
        raise KeypointReadError(
            f"{what} run from {numbers[0]} to {numbers[-1]} but only {len(numbers)} frames have detections; "
            "these are not consecutive video frames"
        )


def build_tracks(frames: Mapping[int, Sequence[Detection]], id_field: str | None) -> tuple[list[PersonTrack], str]:
    """One :class:`PersonTrack` per person, and how people were told apart (in words)."""
    if not any(frames.values()):
        raise KeypointReadError("no person was detected in any frame")
    check_span(frames, "frame numbers")
    joint_counts = {d.keypoints.shape[0] for detections in frames.values() for d in detections}
    if len(joint_counts) != 1:
        raise KeypointReadError(f"detections have different numbers of joints: {sorted(joint_counts)}")
    (joints,) = joint_counts
    assignment: Mapping[tuple[int, int], Hashable]
    if id_field is not None and _ids_are_tracks(frames):
        assignment = {(frame, index): d.track_id for frame, ds in frames.items() for index, d in enumerate(ds)}
        how = f"track ids from {id_field!r}"
    else:
        assignment = link_by_position(frames)
        has_ids = any(d.track_id is not None for ds in frames.values() for d in ds)
        how = "linked frame to frame by position" + (
            f" ({id_field!r} is not a track id: missing for some people or repeated within a frame)" if has_ids else ""
        )
    members: dict[Hashable, dict[int, Detection]] = {}
    for (frame, index), person in assignment.items():
        members.setdefault(person, {})[frame] = frames[frame][index]
    tracks = []
    for person in sorted(members, key=_id_order):
        detections = members[person]
        first, last = min(detections), max(detections)
        keypoints = np.full((last - first + 1, joints, 3), np.nan)
        keypoints[..., 2] = 0.0
        for frame, detection in detections.items():
            keypoints[frame - first] = detection.keypoints
        name = _id_text(person)
        tracks.append(PersonTrack(keypoints=keypoints, key=f"person{name}", label=f"person {name}", first_frame=first))
    return tracks, how


def _ids_are_tracks(frames: Mapping[int, Sequence[Detection]]) -> bool:
    for detections in frames.values():
        ids = [d.track_id for d in detections]
        if any(i is None for i in ids) or len(set(ids)) != len(ids):
            return False
    return True


def _id_order(person: Hashable) -> tuple[int, float, str]:
    return (0, float(person), "") if isinstance(person, (int, float)) else (1, 0.0, str(person))


def _id_text(person: Hashable) -> str:
    if isinstance(person, float) and person.is_integer():
        return str(int(person))
    return str(person)


def link_by_position(frames: Mapping[int, Sequence[Detection]]) -> dict[tuple[int, int], int]:
    """``(frame, index in frame) -> person number`` (0, 1, ... in order of first appearance)."""
    assignment: dict[tuple[int, int], int] = {}
    last_seen: list[int] = []
    last_pose: list[NDArray[np.float64]] = []
    for frame in sorted(frames):
        detections = frames[frame]
        open_tracks = [t for t in range(len(last_seen)) if frame - last_seen[t] <= MAX_GAP_FRAMES]
        pairs = []
        for t in open_tracks:
            for index, detection in enumerate(detections):
                distance = _pose_distance(last_pose[t], detection.keypoints[:, :2])
                if distance <= MAX_LINK_DISTANCE:
                    pairs.append((distance, t, index))
        taken_tracks: set[int] = set()
        for _, t, index in sorted(pairs):
            if t in taken_tracks or (frame, index) in assignment:
                continue
            taken_tracks.add(t)
            assignment[(frame, index)] = t
        for index, detection in enumerate(detections):
            if (frame, index) not in assignment:
                assignment[(frame, index)] = len(last_seen)
                last_seen.append(frame)
                last_pose.append(detection.keypoints[:, :2])
            t = assignment[(frame, index)]
            last_seen[t] = frame
            last_pose[t] = _merge(last_pose[t], detection.keypoints[:, :2])
    return assignment


def _merge(previous: NDArray[np.float64], current: NDArray[np.float64]) -> NDArray[np.float64]:
    """The latest position of every joint: joints missing now keep where they were last seen."""
    return np.where(np.isnan(current), previous, current)


def _pose_distance(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """Mean distance over joints present in both poses, relative to pose ``a``'s size (bounding box
    diagonal); infinite when they share no joint."""
    both = ~np.isnan(a).any(-1) & ~np.isnan(b).any(-1)
    if not both.any():
        return float("inf")
    present = a[~np.isnan(a).any(-1)]
    size = float(np.linalg.norm(present.max(0) - present.min(0)))
    return float(np.linalg.norm(a[both] - b[both], axis=-1).mean() / max(size, 1e-6))
