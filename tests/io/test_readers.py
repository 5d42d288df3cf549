"""Each reader on small files written here by hand, in the layout the producing tool writes: exact values,
people, frames, metadata; and a clear error for each kind of bad file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from mtf_pose.io import KeypointReadError, KeypointSource, detect_format, read_keypoints


def pose(x: float, y: float, joints: int = 17, score: float = 0.9) -> np.ndarray:
    """A recognisable pose: joint j at (x + 3j, y + 5j)."""
    j = np.arange(joints, dtype=np.float64)
    return np.stack([x + 3 * j, y + 5 * j, np.full(joints, score)], axis=-1)


def write_json(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


# -- AlphaPose --------------------------------------------------------------------------------------------------
def alphapose_record(frame: str, keypoints: np.ndarray, idx: object) -> dict:
    return {"image_id": frame, "category_id": 1, "keypoints": keypoints.ravel().tolist(), "score": 2.7,
            "box": [0, 0, 10, 10], "idx": idx}


def test_alphapose_tracks_follow_idx_and_missing_frames_are_nan(tmp_path: Path) -> None:
    records = [
        alphapose_record("0.jpg", pose(100, 200), 7), alphapose_record("0.jpg", pose(900, 200), 9),
        alphapose_record("1.jpg", pose(901, 201), 9), alphapose_record("1.jpg", pose(101, 201), 7),
        alphapose_record("3.jpg", pose(103, 203), 7),  # person 7 not detected in frame 2; person 9 left
    ]
    read = read_keypoints(write_json(tmp_path / "alphapose-results.json", records))
    assert read.format == "alphapose" and read.people == "track ids from 'idx'"
    seven, nine = read.tracks
    assert (seven.key, seven.first_frame, seven.frames, seven.missing_frames) == ("person7", 0, 4, 1)
    assert (nine.key, nine.first_frame, nine.frames, nine.missing_frames) == ("person9", 0, 2, 0)
    np.testing.assert_array_equal(seven.keypoints[3], pose(103, 203))
    np.testing.assert_array_equal(nine.keypoints[1], pose(901, 201))
    assert np.isnan(seven.keypoints[2, :, :2]).all()
    assert (seven.layout, seven.coordinates, seven.image_size, seven.fps) == ("coco", "pixels", None, None)


@pytest.mark.parametrize(("joints", "layout", "kept"), [(26, "halpe26", 26), (136, "halpe26", 26), (133, "coco", 17)])
def test_alphapose_whole_body_keeps_the_body_joints(tmp_path: Path, joints: int, layout: str, kept: int) -> None:
    records = [alphapose_record(f"{f}.jpg", pose(100 + f, 200, joints), 1) for f in range(3)]
    read = read_keypoints(write_json(tmp_path / "r.json", records))
    (track,) = read.tracks
    assert track.layout == layout and track.num_joints == kept
    np.testing.assert_array_equal(track.keypoints[2], pose(102, 200, joints)[:kept])
    assert any("whole-body" in note for note in read.notes) == (joints != kept)


def test_alphapose_without_tracking_links_people_by_position(tmp_path: Path) -> None:
    # Untracked AlphaPose writes idx as the merged detections' ids ([0.0] for everyone); the order of
    # people within a frame changes from frame to frame.
    records = []
    for frame in range(6):
        left, right = alphapose_record(f"{frame}.jpg", pose(100 + 4 * frame, 300), [0.0]), alphapose_record(
            f"{frame}.jpg", pose(1200 - 4 * frame, 310), [0.0])
        records += [left, right] if frame % 2 else [right, left]
    read = read_keypoints(write_json(tmp_path / "r.json", records))
    assert read.people.startswith("linked frame to frame by position")
    first, second = read.tracks  # numbered in order of first appearance: the right-hand person came first
    np.testing.assert_array_equal(first.keypoints[:, 0, 0], 1200 - 4 * np.arange(6))
    np.testing.assert_array_equal(second.keypoints[:, 0, 0], 100 + 4 * np.arange(6))


def test_alphapose_frame_names_without_numbers_use_the_file_order(tmp_path: Path) -> None:
    records = [alphapose_record(name, pose(100, 200 + i), 1) for i, name in enumerate(["b.jpg", "a.jpg", "c.jpg"])]
    read = read_keypoints(write_json(tmp_path / "r.json", records))
    np.testing.assert_array_equal(read.tracks[0].keypoints[:, 0, 1], [200, 201, 202])
    assert "order of the images" in read.notes[0]


# -- COCO results -----------------------------------------------------------------------------------------------
def test_coco_results_number_frames_by_image_id_and_zero_confidence_joints_are_missing(tmp_path: Path) -> None:
    first = pose(100, 200)
    first[4] = [0.0, 0.0, 0.0]  # COCO's "not labelled"
    records = [
        {"image_id": 10, "category_id": 1, "keypoints": first.ravel().tolist(), "score": 0.9},
        {"image_id": 12, "category_id": 1, "keypoints": pose(102, 200).ravel().tolist(), "score": 0.9},
    ]
    path = write_json(tmp_path / "keypoints_results.json", records)
    assert detect_format(path).name == "coco"
    (track,) = read_keypoints(path).tracks
    assert (track.first_frame, track.frames, track.missing_frames) == (10, 3, 1)
    assert np.isnan(track.keypoints[0, 4, :2]).all() and track.keypoints[0, 4, 2] == 0
    np.testing.assert_array_equal(track.keypoints[2], pose(102, 200))


def test_sparse_image_ids_are_not_taken_for_video_frames(tmp_path: Path) -> None:
    records = [
        {"image_id": i, "category_id": 1, "keypoints": pose(1, 2).ravel().tolist(), "score": 1} for i in (1, 397133)
    ]
    with pytest.raises(KeypointReadError, match="not consecutive video frames"):
        read_keypoints(write_json(tmp_path / "r.json", records))


# -- OpenPose ---------------------------------------------------------------------------------------------------
def openpose_frame(people: list[tuple[np.ndarray, int]]) -> dict:
    return {"version": 1.3, "people": [
        {"person_id": [pid], "pose_keypoints_2d": kp.ravel().tolist(), "face_keypoints_2d": [],
         "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": []} for kp, pid in people]}


def test_openpose_folder_of_frames(tmp_path: Path) -> None:
    folder = tmp_path / "openpose"
    folder.mkdir()
    walker, standing = pose(100, 100, 25), pose(1500, 100, 25)
    hidden = walker.copy()
    hidden[7] = 0.0  # OpenPose writes undetected joints as 0, 0, 0
    frames = [[(walker, -1), (standing, -1)], [(standing, -1), (hidden, -1)], [], [(walker, -1)]]
    for number, people in enumerate(frames):
        write_json(folder / f"clip_{number:012d}_keypoints.json", openpose_frame(people))
    read = read_keypoints(folder)
    assert read.format == "openpose" and read.people.startswith("linked")
    first, second = read.tracks
    assert (first.frames, first.missing_frames, second.frames, second.missing_frames) == (4, 1, 2, 0)
    assert first.layout == "openpose_body25"
    assert np.isnan(first.keypoints[1, 7, :2]).all() and not np.isnan(first.keypoints[1, 6]).any()
    assert np.isnan(first.keypoints[2, :, :2]).all()  # frame 2: nobody detected
    np.testing.assert_array_equal(second.keypoints[1], standing)


def test_openpose_person_ids_from_tracking_are_used(tmp_path: Path) -> None:
    for number in range(2):
        write_json(
            tmp_path / f"{number:06d}_keypoints.json",
            openpose_frame([(pose(100, 100, 25), 4), (pose(900, 100, 25), 2)]),
        )
    read = read_keypoints(tmp_path)
    assert [t.key for t in read.tracks] == ["person2", "person4"]
    assert read.people == "track ids from 'person_id'"


def test_openpose_coco18_model_is_refused_with_the_reason(tmp_path: Path) -> None:
    write_json(tmp_path / "v_000000000000_keypoints.json", openpose_frame([(pose(1, 1, 18), -1)]))
    with pytest.raises(KeypointReadError, match="18 body joints .*COCO-18.*BODY_25"):
        read_keypoints(tmp_path)


def test_openpose_folder_with_two_sequences_asks_for_one(tmp_path: Path) -> None:
    for prefix in ("a", "b"):
        write_json(tmp_path / f"{prefix}_000000000000_keypoints.json", openpose_frame([(pose(1, 1, 25), -1)]))
    with pytest.raises(KeypointReadError, match="2 OpenPose sequences"):
        read_keypoints(tmp_path)
    members = (tmp_path / "b_000000000000_keypoints.json",)
    assert read_keypoints(KeypointSource(tmp_path, members)).tracks[0].frames == 1


# -- MMPose -----------------------------------------------------------------------------------------------------
def mmpose_instance(keypoints: np.ndarray, **extra: object) -> dict:
    return {"keypoints": keypoints[:, :2].tolist(), "keypoint_scores": keypoints[:, 2].tolist(),
            "bbox": [[0, 0, 9, 9]], "bbox_score": 0.9, **extra}


@pytest.mark.parametrize("style", ["inferencer", "demo", "predictions", "results"])
def test_mmpose_document_shapes(tmp_path: Path, style: str) -> None:
    frames = [[mmpose_instance(pose(100 + f, 200))] for f in range(3)]
    document = {
        "inferencer": [{"frame_id": f, "instances": x} for f, x in enumerate(frames)],
        "demo": {"meta_info": {"dataset_name": "coco", "num_keypoints": 17},
                 "instance_info": [{"frame_id": f, "instances": x} for f, x in enumerate(frames)]},
        "predictions": {"predictions": [[x] for x in frames]},
        "results": [{"predictions": [x], "visualization": []} for x in frames],
    }[style]
    path = write_json(tmp_path / "video.json", document)
    assert detect_format(path).name == "mmpose"
    (track,) = read_keypoints(path).tracks
    assert track.layout == "coco" and track.frames == 3
    np.testing.assert_allclose(track.keypoints[2], pose(102, 200))


def test_mmpose_h36m_meta_info_and_track_ids(tmp_path: Path) -> None:
    document = {"meta_info": {"dataset_name": "h36m"}, "instance_info": [
        {"frame_id": 1, "instances": [
            mmpose_instance(pose(5, 5), track_id=3), mmpose_instance(pose(700, 5), track_id=8)]}]}
    read = read_keypoints(write_json(tmp_path / "p.json", document))
    assert [t.key for t in read.tracks] == ["person3", "person8"]
    assert read.tracks[0].layout == "h36m" and read.tracks[0].first_frame == 1


# -- MediaPipe --------------------------------------------------------------------------------------------------
def landmarks(x: float, visibility: float = 0.8) -> list[dict]:
    return [{"x": x + 0.001 * i, "y": 0.2 + 0.01 * i, "z": -0.1, "visibility": visibility} for i in range(33)]


def test_mediapipe_json_unit_coordinates_image_size_and_missing_frames(tmp_path: Path) -> None:
    document = {"image_size": [1280, 720], "fps": 25, "frames": [landmarks(0.4), None, landmarks(0.41)]}
    read = read_keypoints(write_json(tmp_path / "pose.json", document))
    (track,) = read.tracks
    assert read.format == "mediapipe" and track.key is None
    assert (track.layout, track.coordinates, track.image_size, track.fps) == (
        "mediapipe33", "unit", (1280.0, 720.0), 25.0
    )
    assert track.missing_frames == 1
    np.testing.assert_allclose(track.keypoints[2, 5], [0.415, 0.25, 0.8])


def test_mediapipe_json_with_several_people_gives_tracks(tmp_path: Path) -> None:
    document = [[landmarks(0.1), landmarks(0.7)], [landmarks(0.71), landmarks(0.11)]]
    read = read_keypoints(write_json(tmp_path / "pose.json", document))
    assert [t.key for t in read.tracks] == ["person0", "person1"]
    np.testing.assert_allclose(read.tracks[0].keypoints[:, 0, 0], [0.1, 0.11])


@pytest.mark.parametrize(
    ("third", "channels", "confidence"),
    [([-0.2, 0.3], 3, 1.0), ([0.5, 0.7], 3, 0.5), (None, 4, 0.6), (None, 5, 0.6)],
)
def test_mediapipe_npy_channels(tmp_path: Path, third: list | None, channels: int, confidence: float) -> None:
    array = np.zeros((2, 33, channels))
    array[..., 0], array[..., 1] = 0.3, 0.6
    if channels == 3:
        array[..., 2] = np.array(third)[:, None]
    else:
        array[..., 2], array[..., 3] = -0.05, 0.6
        if channels == 5:
            array[..., 4] = 0.99
    np.save(tmp_path / "landmarks.npy", array)
    read = read_keypoints(tmp_path / "landmarks.npy")
    (track,) = read.tracks
    assert read.format == "mediapipe" and track.coordinates == "unit" and track.layout == "mediapipe33"
    assert track.keypoints[0, 0, 2] == confidence


def test_33_joint_array_in_pixels_is_a_plain_npy(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.full((2, 33, 3), 500.0))
    assert read_keypoints(tmp_path / "a.npy").format == "npy"


# -- VideoPose3D and npz ----------------------------------------------------------------------------------------
def test_videopose3d_custom_file(tmp_path: Path) -> None:
    walk, jump = np.ones((5, 17, 2), np.float32) * 100, np.ones((3, 17, 2), np.float32) * 50
    positions = {"walk": {"custom": [walk]}, "jump": {"custom": [jump]}}
    metadata = {"layout_name": "coco", "num_joints": 17, "keypoints_symmetry": [[1, 3], [2, 4]],
                "video_metadata": {"walk": {"w": 1920, "h": 1080}, "jump": {"w": np.int64(640), "h": np.int64(480)}}}
    np.savez_compressed(tmp_path / "data_2d_custom_mine.npz", positions_2d=positions, metadata=metadata)
    read = read_keypoints(tmp_path / "data_2d_custom_mine.npz")
    assert read.format == "videopose3d"
    assert [(t.key, t.frames, t.image_size, t.layout) for t in read.tracks] == [
        ("walk", 5, (1920.0, 1080.0), "coco"), ("jump", 3, (640.0, 480.0), "coco")]
    np.testing.assert_array_equal(read.tracks[1].keypoints[..., :2], jump)
    np.testing.assert_array_equal(read.tracks[1].keypoints[..., 2], 1.0)


calls: list[str] = []


def _record_call(text: str) -> None:
    calls.append(text)


class _Payload:
    def __reduce__(self) -> tuple:
        return (_record_call, ("the pickle ran",))


def test_videopose3d_pickle_is_never_run(tmp_path: Path) -> None:
    np.savez(tmp_path / "data_2d_custom_evil.npz", positions_2d={"v": {"custom": [_Payload()]}}, metadata={})
    calls.clear()
    with pytest.raises(KeypointReadError, match=r"refers to .*_record_call.*refused"):
        read_keypoints(tmp_path / "data_2d_custom_evil.npz")
    assert calls == []


def test_npz_named_members_and_metadata(tmp_path: Path) -> None:
    keypoints = np.arange(4 * 17 * 2, dtype=np.float32).reshape(4, 17, 2) + 10
    confidence = np.full((4, 17), 0.5)
    np.savez(tmp_path / "k.npz", keypoints_2d=keypoints, scores=confidence, image_size=[640, 480], fps=np.array(24.0),
             layout=np.array("coco"))
    (track,) = read_keypoints(tmp_path / "k.npz").tracks
    assert (track.image_size, track.fps, track.layout) == ((640.0, 480.0), 24.0, "coco")
    np.testing.assert_array_equal(track.keypoints[..., :2], keypoints)
    np.testing.assert_array_equal(track.keypoints[..., 2], 0.5)


def test_npz_with_one_unnamed_array_and_ambiguous_archives(tmp_path: Path) -> None:
    np.savez(tmp_path / "one.npz", arr_0=np.ones((3, 25, 3)))
    assert read_keypoints(tmp_path / "one.npz").tracks[0].num_joints == 25
    np.savez(tmp_path / "two.npz", a=np.ones((3, 25, 3)), b=np.ones((3, 17, 3)))
    with pytest.raises(KeypointReadError, match=r"unknown format.*members are \['a', 'b'\]"):
        read_keypoints(tmp_path / "two.npz")


# -- bad files --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("corrupt.json", b'[{"image_id": "0.jpg", "keypoints": [1, 2', "not valid JSON: .* at line 1, column"),
        ("empty.json", b"", "the file is empty"),
        ("empty.npy", b"", "the file is empty"),
        ("empty.npz", b"", "the file is empty"),
        ("nolist.json", b"[]", r"the JSON document is empty \(no detections"),
        ("other.json", b'{"name": "config"}', r"unknown format: .*object with keys \['name'\]"),
        ("notes.txt", b"hello", "unknown format: extension '.txt'"),
        ("garbage.npz", b"PK not really", "not a valid .npz"),
        ("garbage.npy", b"\x93NUMPY garbage", "not a valid .npy"),
    ],
)
def test_bad_files_give_one_clear_line(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(KeypointReadError, match=f"^{tmp_path / name!s}: {message}"):
        read_keypoints(tmp_path / name)


@pytest.mark.parametrize(
    ("shape", "message"),
    [((10, 17), r"shape \(10, 17\); expected \(frames, joints, 2 or 3\)"), ((2, 10, 17, 3), "one person per file"),
     ((0, 17, 3), "0 frames")],
)
def test_arrays_of_the_wrong_shape(tmp_path: Path, shape: tuple, message: str) -> None:
    np.save(tmp_path / "a.npy", np.ones(shape))
    with pytest.raises(KeypointReadError, match=message):
        read_keypoints(tmp_path / "a.npy", "npy")


def test_pickled_npy_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(KeypointReadError, match="holds Python objects"):
        read_keypoints(tmp_path / "objects.npy")


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    os.symlink(tmp_path / "nowhere.npy", tmp_path / "dangling.npy")
    with pytest.raises(KeypointReadError, match=r"a broken symbolic link \(to .*nowhere.npy, which does not exist\)"):
        read_keypoints(tmp_path / "dangling.npy")
    with pytest.raises(KeypointReadError, match="no such file"):
        read_keypoints(tmp_path / "absent.json", "alphapose")


def test_lift_results_are_not_taken_for_keypoints(tmp_path: Path) -> None:
    write_json(tmp_path / "r.json", {"format": "mtf_pose.LiftResult", "joints_3d": []})
    with pytest.raises(KeypointReadError, match="lift result"):
        read_keypoints(tmp_path / "r.json")


def test_format_can_be_forced_and_then_must_fit(tmp_path: Path) -> None:
    records = [{"image_id": 0, "category_id": 1, "keypoints": pose(1, 2).ravel().tolist(), "score": 1}]
    path = write_json(tmp_path / "r.json", records)
    assert read_keypoints(path, "alphapose").format == "alphapose"
    with pytest.raises(KeypointReadError, match="expected a list of frames"):
        read_keypoints(path, "mediapipe")
    with pytest.raises(KeypointReadError, match="unknown format 'bvh'"):
        read_keypoints(path, "bvh")
