"""Telling people apart: track ids when they identify people, linking by position otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from mtf_pose.io import KeypointReadError
from mtf_pose.io._people import MAX_GAP_FRAMES, Detection, build_tracks, frame_numbers


def at(x: float, y: float = 500.0, joints: int = 17) -> np.ndarray:
    """A 100-pixel-wide pose centred on x."""
    offsets = np.linspace(-50, 50, joints)
    return np.stack([x + offsets, y + offsets, np.full(joints, 0.9)], axis=-1)


def test_ids_are_used_when_they_identify_people() -> None:
    frames = {0: [Detection(at(100), 5), Detection(at(900), 2)], 1: [Detection(at(905), 2)], 2: [Detection(at(110), 5)]}
    tracks, how = build_tracks(frames, "idx")
    assert how == "track ids from 'idx'"
    assert [(t.key, t.first_frame, t.frames, t.missing_frames) for t in tracks] == [
        ("person2", 0, 2, 0),
        ("person5", 0, 3, 1),
    ]


def test_an_id_repeated_within_a_frame_is_not_a_track_id() -> None:
    frames = {f: [Detection(at(100 + f), 0), Detection(at(900 - f), 0)] for f in range(3)}
    tracks, how = build_tracks(frames, "idx")
    assert how.startswith("linked frame to frame by position ('idx' is not a track id")
    np.testing.assert_array_equal([t.keypoints[:, 0, 0] for t in tracks], [[50, 51, 52], [850, 849, 848]])


def test_linking_follows_people_who_pass_close_to_each_other() -> None:
    # Two people walk towards each other 30 px per frame; the file lists them in a different order each frame.
    frames = {}
    for f in range(10):
        left, right = Detection(at(300 + 30 * f, 500)), Detection(at(900 - 30 * f, 560))
        frames[f] = [left, right] if f % 3 else [right, left]
    first, second = build_tracks(frames, None)[0]  # numbered by first appearance: frame 0 lists the right one first
    np.testing.assert_array_equal(first.keypoints[:, 8, 0], 900 - 30 * np.arange(10))
    np.testing.assert_array_equal(second.keypoints[:, 8, 0], 300 + 30 * np.arange(10))


def test_a_person_gone_longer_than_the_gap_limit_comes_back_as_someone_new() -> None:
    back = MAX_GAP_FRAMES + 2
    frames = {0: [Detection(at(100))], 1: [Detection(at(102))], back: [Detection(at(104))]}
    tracks, _ = build_tracks(frames, None)
    assert [(t.key, t.first_frame, t.frames) for t in tracks] == [("person0", 0, 2), ("person1", back, 1)]
    short_gap = {0: [Detection(at(100))], 5: [Detection(at(104))]}
    (track,), _ = build_tracks(short_gap, None)
    assert (track.frames, track.missing_frames) == (6, 4)
    assert np.isnan(track.keypoints[1:5, :, :2]).all() and (track.keypoints[1:5, :, 2] == 0).all()


def test_a_far_jump_starts_a_new_track() -> None:
    frames = {0: [Detection(at(100))], 1: [Detection(at(1500))]}
    assert len(build_tracks(frames, None)[0]) == 2


def test_no_detections_and_mixed_joint_counts_are_errors() -> None:
    with pytest.raises(KeypointReadError, match="no person was detected in any frame"):
        build_tracks({0: [], 1: []}, None)
    with pytest.raises(KeypointReadError, match=r"different numbers of joints: \[17, 26\]"):
        build_tracks({0: [Detection(at(1))], 1: [Detection(at(1, joints=26))]}, None)


def test_frame_numbers_from_image_names() -> None:
    assert frame_numbers(["0.jpg", "10.jpg", "2.jpg"])[0] == [0, 10, 2]
    assert frame_numbers(["cam1/frame_000123.png", "cam1/frame_000124.png"])[0] == [123, 124]
    assert frame_numbers(["a.jpg", "b.jpg"]) == ([0, 1], "the order of the images in the file")
    assert frame_numbers(["x1.jpg", "y1.jpg"])[0] == [0, 1]  # the same number twice is not a frame number
