"""Synthetic people and sample files in every supported format, laid out as the tools that produce them
write them. Used by the tests, the format docs (``docs/formats/build.py``) and ``benchmarks/bench_batch.py``.

People are given as arrays over the whole file, ``(frames, joints, 3)`` pixels + confidence, with NaN
rows for frames where the person is absent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mtf_pose.layouts import get_layout

People = Mapping[int, NDArray[np.floating]]

_COCO = get_layout("coco").joint_names


def walking_person(
    frames: int, *, fps: float = 30.0, image_size: tuple[int, int] = (1920, 1080), shift: float = 0.0, seed: int = 0
) -> NDArray[np.float64]:
    """``(frames, 17, 3)`` COCO keypoints (pixels, confidence) of a person walking to and fro across the
    image, seen from the side by a pinhole camera; ``shift`` moves them sideways (metres)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / fps
    phase = 2 * np.pi * 0.9 * t + seed
    hip_x = 0.9 * np.sin(2 * np.pi * t / 25) + shift  # back and forth, staying in view however long
    points: dict[str, NDArray[np.float64]] = {}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        swing = sign * np.sin(phase)
        hip = np.stack([hip_x, np.full_like(t, 0.95), np.full_like(t, sign * 0.1)], -1)
        knee = hip + 0.45 * np.stack([np.sin(0.45 * swing), -np.cos(0.45 * swing), 0 * t], -1)
        bend = 0.45 * swing + 0.5 * np.clip(-np.cos(phase + (0 if sign > 0 else np.pi)), 0, None)
        ankle = knee + 0.44 * np.stack([np.sin(0.45 * swing - bend), -np.cos(0.45 * swing - bend), 0 * t], -1)
        shoulder = np.stack([hip_x + 0.03, np.full_like(t, 1.42), np.full_like(t, sign * 0.19)], -1)
        arm = -sign * 0.35 * np.sin(phase)
        elbow = shoulder + 0.29 * np.stack([np.sin(arm), -np.cos(arm), 0 * t], -1)
        wrist = elbow + 0.26 * np.stack([np.sin(arm + 0.3), -np.cos(arm + 0.3), 0 * t], -1)
        head = np.stack([hip_x + 0.09, np.full_like(t, 1.67), 0 * t], -1)
        points.update({
            f"{side}_hip": hip, f"{side}_knee": knee, f"{side}_ankle": ankle, f"{side}_shoulder": shoulder,
            f"{side}_elbow": elbow, f"{side}_wrist": wrist,
            f"{side}_eye": head + [0.08, 0.02, sign * 0.03], f"{side}_ear": head + [0.0, 0.0, sign * 0.08],
        })
    points["nose"] = np.stack([hip_x + 0.19, np.full_like(t, 1.65), 0 * t], -1)
    world = np.stack([points[name] for name in _COCO], axis=1)
    width, height = image_size
    focal = 1.4 * width / 1.92
    camera = world - np.array([0.0, 1.2, 4.5])
    pixels = np.stack(
        [
            width / 2 + focal * camera[..., 0] / -camera[..., 2],
            height / 2 - focal * camera[..., 1] / -camera[..., 2],
        ],
        -1,
    )
    pixels += rng.normal(0, 1.0, pixels.shape)
    confidence = np.clip(rng.normal(0.9, 0.05, pixels.shape[:2]), 0.05, 1.0)
    return np.concatenate([pixels, confidence[..., None]], axis=-1)


def _mid(keypoints: NDArray[np.floating], *names: str) -> NDArray[np.float64]:
    return np.mean([keypoints[:, _COCO.index(n)] for n in names], axis=0)


def coco_to(coco: NDArray[np.floating], layout: str) -> NDArray[np.float64]:
    """A COCO-17 person in another detector layout (joints the COCO set lacks are placed plausibly)."""
    coco = np.asarray(coco, dtype=np.float64)
    if layout == "coco":
        return coco.copy()
    derived = {name: coco[:, _COCO.index(name)] for name in _COCO}
    neck = _mid(coco, "left_shoulder", "right_shoulder")
    hip = _mid(coco, "left_hip", "right_hip")
    head_top = _mid(coco, "left_eye", "right_eye") + (_mid(coco, "left_eye", "right_eye") - neck) * [0.6, 0.6, 0]
    derived.update({
        "neck": neck, "neck_base": neck, "mid_hip": hip, "hip": hip, "head_top": head_top,
        "pelvis": hip, "thorax": neck, "spine": (hip + neck) / 2, "head": head_top,
    })
    for side in ("left", "right"):
        ankle, wrist, eye = derived[f"{side}_ankle"], derived[f"{side}_wrist"], derived[f"{side}_eye"]
        derived.update({
            f"{side}_big_toe": ankle + [12, 8, 0], f"{side}_small_toe": ankle + [8, 8, 0],
            f"{side}_heel": ankle + [-6, 4, 0], f"{side}_foot_index": ankle + [12, 8, 0],
            f"{side}_pinky": wrist + [4, 6, 0], f"{side}_index": wrist + [6, 6, 0], f"{side}_thumb": wrist + [5, 3, 0],
            f"{side}_eye_inner": eye + [2, 0, 0], f"{side}_eye_outer": eye + [-2, 0, 0],
            f"mouth_{side}": derived["nose"] + [0, 6, 0],
        })
    if layout == "h36m":
        from mtf_pose import skeleton

        names = skeleton.JOINT_NAMES
        derived["neck"] = derived["nose"]  # H36M's "neck" joint is at the nose (see mtf_pose.layouts)
    else:
        names = get_layout(layout).joint_names
    return np.stack([derived[name] for name in names], axis=1)


def to_unit(keypoints: NDArray[np.floating], image_size: tuple[float, float]) -> NDArray[np.float64]:
    unit = np.asarray(keypoints, dtype=np.float64).copy()
    unit[..., 0] /= image_size[0]
    unit[..., 1] /= image_size[1]
    return unit


def _present(person: NDArray[np.floating], frame: int) -> bool:
    return not bool(np.isnan(person[frame, :, :2]).all())


def _flat(pose: NDArray[np.floating], digits: int) -> list[float]:
    return [round(float(v), digits) for v in np.nan_to_num(pose, nan=0.0).ravel()]


def _box(pose: NDArray[np.floating]) -> list[float]:
    xy = pose[:, :2][~np.isnan(pose[:, :2]).any(-1)]
    low, high = xy.min(0), xy.max(0)
    return [round(float(v), 1) for v in (low[0], low[1], high[0] - low[0], high[1] - low[1])]


def _frames(people: People) -> int:
    return max(person.shape[0] for person in people.values())


def readable_json(value: Any, level: int = 0) -> str:
    """JSON with one line per object or list that holds other objects or lists, the rest inline."""
    def simple(item: Any) -> bool:
        return not isinstance(item, (dict, list)) or (
            isinstance(item, list) and not any(isinstance(v, (dict, list)) for v in item)
        )

    if isinstance(value, dict) and all(simple(v) for v in value.values()) or simple(value):
        return json.dumps(value)
    inner = "  " * (level + 1)
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {readable_json(v, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * level + "}"
    items = [inner + readable_json(v, level + 1) for v in value]
    return "[\n" + ",\n".join(items) + "\n" + "  " * level + "]"


def _dump(path: Path, document: Any, pretty: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text((readable_json(document) if pretty else json.dumps(document)) + "\n", encoding="utf-8")
    return path


# -- writers, one per format ------------------------------------------------------------------------------------
def write_npy(path: Path, keypoints: NDArray[np.floating]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(keypoints, dtype=np.float32))
    return path


def write_npz(path: Path, keypoints: NDArray[np.floating], **fields: Any) -> Path:
    """Keypoints under ``keypoints``, plus fields such as ``image_size``, ``fps``, ``layout``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        keypoints=np.asarray(keypoints, dtype=np.float32),
        **{k: np.asarray(v) for k, v in fields.items()},  # type: ignore[arg-type]
    )
    return path


def write_videopose3d(path: Path, videos: Mapping[str, tuple[NDArray[np.floating], tuple[int, int]]]) -> Path:
    """``data_2d_custom_*.npz`` as VideoPose3D's ``prepare_data_2d_custom.py`` writes it: pickled dicts
    ``positions_2d = {video: {"custom": [keypoints]}}`` and ``metadata`` with the COCO layout."""
    positions = {video: {"custom": [np.asarray(kp, dtype=np.float32)]} for video, (kp, _) in videos.items()}
    metadata = {
        "layout_name": "coco",
        "num_joints": 17,
        "keypoints_symmetry": [[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]],
        "video_metadata": {video: {"w": size[0], "h": size[1]} for video, (_, size) in videos.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, positions_2d=positions, metadata=metadata)  # type: ignore[arg-type]
    return path


def write_alphapose(path: Path, people: People, *, tracked: bool = True, pretty: bool = False, digits: int = 2) -> Path:
    """``alphapose-results.json``: one record per person per image, images named ``"<frame>.jpg"``;
    ``idx`` is the track id with ``tracked``, else AlphaPose's untracked ``[0.0]``."""
    records = []
    for frame in range(_frames(people)):
        for person_id, person in people.items():
            if frame < person.shape[0] and _present(person, frame):
                pose = person[frame]
                records.append({
                    "image_id": f"{frame}.jpg", "category_id": 1, "keypoints": _flat(pose, digits),
                    "score": round(float(np.nanmean(pose[:, 2])) * 3, 3), "box": _box(pose),
                    "idx": person_id if tracked else [0.0],
                })
    return _dump(path, records, pretty)


def write_coco_results(path: Path, people: People, *, pretty: bool = False, digits: int = 2) -> Path:
    """COCO keypoint results: ``[{image_id, category_id, keypoints, score}]``, image ids = frame numbers."""
    records = []
    for frame in range(_frames(people)):
        for person in people.values():
            if frame < person.shape[0] and _present(person, frame):
                records.append({
                    "image_id": frame, "category_id": 1, "keypoints": _flat(person[frame], digits),
                    "score": round(float(np.nanmean(person[frame, :, 2])), 3),
                })
    return _dump(path, records, pretty)


def write_openpose(
    folder: Path, people: People, *, prefix: str = "video", tracked: bool = False, pretty: bool = False, digits: int = 2
) -> Path:
    """OpenPose ``--write_json`` output: ``<prefix>_<frame:012d>_keypoints.json`` per frame, BODY_25
    people (undetected joints as 0, 0, 0)."""
    folder.mkdir(parents=True, exist_ok=True)
    for frame in range(_frames(people)):
        entries = []
        for person_id, person in people.items():
            if frame < person.shape[0] and _present(person, frame):
                pose = person[frame].copy()
                pose[np.isnan(pose[:, :2]).any(-1)] = 0.0
                entries.append({
                    "person_id": [person_id if tracked else -1], "pose_keypoints_2d": _flat(pose, digits),
                    "face_keypoints_2d": [], "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": [],
                    "pose_keypoints_3d": [], "face_keypoints_3d": [],
                    "hand_left_keypoints_3d": [], "hand_right_keypoints_3d": [],
                })
        _dump(folder / f"{prefix}_{frame:012d}_keypoints.json", {"version": 1.3, "people": entries}, pretty)
    return folder


def _mmpose_instance(pose: NDArray[np.floating], digits: int) -> dict[str, Any]:
    x, y, w, h = _box(pose)
    return {
        "keypoints": [[round(float(a), digits), round(float(b), digits)] for a, b in pose[:, :2]],
        "keypoint_scores": [round(float(c), 3) for c in pose[:, 2]],
        "bbox": [[x, y, round(x + w, 1), round(y + h, 1)]],
        "bbox_score": 0.95,
    }


def write_mmpose(
    path: Path, people: People, *, style: str = "inferencer", pretty: bool = False, digits: int = 2
) -> Path:
    """MMPose predictions. ``style``: ``"inferencer"`` (``--pred-out-dir`` file: ``[{frame_id, instances}]``),
    ``"demo"`` (``{meta_info, instance_info}``, frame ids from 1) or ``"predictions"``
    (``{"predictions": [[instances of frame 0]], ...}``)."""
    frames = []
    for frame in range(_frames(people)):
        frames.append([
            _mmpose_instance(person[frame], digits)
            for person in people.values() if frame < person.shape[0] and _present(person, frame)
        ])
    if style == "inferencer":
        document: Any = [{"frame_id": i, "instances": instances} for i, instances in enumerate(frames)]
    elif style == "demo":
        meta = {"dataset_name": "coco", "num_keypoints": 17, "keypoint_id2name": dict(enumerate(_COCO))}
        document = {
            "meta_info": meta, "instance_info": [{"frame_id": i + 1, "instances": x} for i, x in enumerate(frames)]
        }
    elif style == "predictions":
        document = {"predictions": [[instances] for instances in frames]}
    else:
        raise ValueError(f"unknown MMPose style {style!r}")
    return _dump(path, document, pretty)


def write_mediapipe_json(
    path: Path, landmarks: NDArray[np.floating], *, image_size: tuple[int, int] | None = None, fps: float | None = None,
    pretty: bool = False, digits: int = 4,
) -> Path:
    """Per-frame lists of 33 landmark objects ``{x, y, z, visibility}`` (unit coordinates), as
    ``[{"x": lm.x, ...} for lm in results.pose_landmarks.landmark]`` gives them; ``null`` where no person
    was found. With ``image_size``/``fps``: ``{"image_size", "fps", "frames": [...]}``."""
    frames: list[Any] = []
    for pose in np.asarray(landmarks, dtype=np.float64):
        if np.isnan(pose[:, :2]).all():
            frames.append(None)
            continue
        frames.append([
            {"x": round(float(x), digits), "y": round(float(y), digits), "z": 0.0, "visibility": round(float(v), 3)}
            for x, y, v in pose[:, :3]
        ])
    document: Any = frames
    if image_size is not None or fps is not None:
        document = {"image_size": list(image_size) if image_size else None, "fps": fps, "frames": frames}
    return _dump(path, document, pretty)


def write_mediapipe_npy(path: Path, landmarks: NDArray[np.floating]) -> Path:
    """``(frames, 33, 4)``: x, y (unit), z (relative depth, here a small negative/positive wobble), visibility."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    depth = 0.1 * np.sin(np.arange(landmarks.shape[1]))[None, :].repeat(landmarks.shape[0], 0)
    array = np.stack([landmarks[..., 0], landmarks[..., 1], depth, landmarks[..., 2]], axis=-1)
    return write_npy(path, array)
