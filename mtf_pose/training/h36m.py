"""Human3.6M in the compact form of ``../shared/data/h36m`` -> per-view arrays ready for clips.

For every (subject, action, camera) view this builds, once:

- ``keypoints_gt``: the 17 joints projected into the image with the camera's intrinsics and Brown
  distortion (as the 3d-pose-baseline release does), normalised with :func:`normalize_pixels`;
- ``keypoints_detected``: the Stacked Hourglass detections mapped to H36M-17, normalised the same way;
- ``target``: root-relative camera-frame 3D in the network's units: the metric pose times the per-frame
  scale ``pixels_per_metre`` that best maps its root-relative ``(X, Y)`` onto the root-relative 2D
  projection (least squares; the ``lambda`` of LCN, MotionBERT's "2.5d factor"), then ``/ w * 2``;
- ``mm_per_unit``: the factor that turns network units back into millimetres (``w / 2 / scale * 1000``),
  the ground-truth scale used by the standard evaluation protocol;
- ``joints_mm``: the root-relative camera-frame ground truth in millimetres.

The Stacked Hourglass set has no neck/nose joint (H36M joint 9). It is placed from the thorax and head
detections by a linear model fitted on the ground-truth projections of S1, S5, S6 and S7 (never on the
validation subject): ``neck = thorax + a * (head - thorax) + b * rot90(head - thorax)``
(:func:`fit_neck_model`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mtf_pose.normalization import normalize_pixels

H36M_TRAINING_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
FILE_3D = "h36m_train_3d17.npz"
FILE_DETECTIONS = "h36m_train_sh16.npz"
FILE_CAMERAS = "h36m_cameras.json"

# Stacked Hourglass order: RFoot, RKnee, RHip, LHip, LKnee, LFoot, Hip, Spine, Thorax, Head, RWrist,
# RElbow, RShoulder, LShoulder, LElbow, LWrist. Source index for each H36M-17 joint; -1: the neck, made.
SH16_TO_H36M17 = (6, 2, 1, 0, 3, 4, 5, 7, 8, -1, 9, 13, 14, 15, 12, 11, 10)
THORAX, NECK, HEAD = 8, 9, 10


@dataclass
class Camera:
    rotation: NDArray[np.float64]  # world -> camera
    centre_m: NDArray[np.float64]  # camera centre in world coordinates, metres
    focal: NDArray[np.float64]
    principal: NDArray[np.float64]
    radial: NDArray[np.float64]
    tangential: NDArray[np.float64]
    width: int
    height: int

    @classmethod
    def from_json(cls, entry: dict) -> Camera:
        return cls(
            rotation=np.asarray(entry["R"], dtype=np.float64),
            centre_m=np.asarray(entry["T_mm"], dtype=np.float64) / 1000.0,
            focal=np.asarray(entry["f"], dtype=np.float64),
            principal=np.asarray(entry["c"], dtype=np.float64),
            radial=np.asarray(entry["k"], dtype=np.float64),
            tangential=np.asarray(entry["p"], dtype=np.float64),
            width=int(entry["res_wh"][0]),
            height=int(entry["res_wh"][1]),
        )

    def world_to_camera(self, points: NDArray[np.floating]) -> NDArray[np.float64]:
        """``(..., 3)`` world metres -> camera frame metres (x right, y down, z forward)."""
        return (np.asarray(points, dtype=np.float64) - self.centre_m) @ self.rotation.T

    def project(self, points_camera: NDArray[np.floating]) -> NDArray[np.float64]:
        """``(..., 3)`` camera-frame points -> ``(..., 2)`` pixels, with radial and tangential distortion."""
        xy = points_camera[..., :2] / points_camera[..., 2:3]
        r2 = np.sum(xy**2, axis=-1, keepdims=True)
        k1, k2, k3 = self.radial
        p1, p2 = self.tangential
        radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
        tangential = p1 * xy[..., 1:2] + p2 * xy[..., 0:1]
        distorted = xy * (radial + tangential) + np.array([p2, p1]) * r2
        return distorted * self.focal + self.principal


@dataclass
class NeckModel:
    """``neck = thorax + along * (head - thorax) + across * rot90(head - thorax)`` in 2D."""

    along: float
    across: float

    def apply(self, thorax: NDArray[np.floating], head: NDArray[np.floating]) -> NDArray[np.float32]:
        axis = head - thorax
        normal = np.stack([-axis[..., 1], axis[..., 0]], axis=-1)
        return (thorax + self.along * axis + self.across * normal).astype(np.float32)


def fit_neck_model(keypoints: list[NDArray[np.floating]]) -> NeckModel:
    """Least-squares fit of :class:`NeckModel` on ground-truth 2D H36M-17 sequences."""
    rows, targets = [], []
    for sequence in keypoints:
        axis = sequence[:, HEAD] - sequence[:, THORAX]
        normal = np.stack([-axis[:, 1], axis[:, 0]], axis=-1)
        rows.append(np.stack([axis, normal], axis=-1).reshape(-1, 2))
        targets.append((sequence[:, NECK] - sequence[:, THORAX]).reshape(-1))
    solution, *_ = np.linalg.lstsq(np.concatenate(rows), np.concatenate(targets), rcond=None)
    return NeckModel(along=float(solution[0]), across=float(solution[1]))


def sh16_to_h36m17(detections: NDArray[np.floating], neck: NeckModel) -> NDArray[np.float32]:
    """``(N, 16, 2)`` Stacked Hourglass detections -> ``(N, 17, 2)`` in H36M-17 order."""
    out = np.empty((detections.shape[0], 17, 2), dtype=np.float32)
    for joint, source in enumerate(SH16_TO_H36M17):
        if source >= 0:
            out[:, joint] = detections[:, source]
    out[:, NECK] = neck.apply(out[:, THORAX], out[:, HEAD])
    return out


def pixels_per_metre(keypoints_px: NDArray[np.floating], joints_camera: NDArray[np.floating]) -> NDArray[np.float64]:
    """Per-frame least-squares scale ``s`` with ``s * (X - X_root)[:2] ~= (p - p_root)``."""
    projected = keypoints_px - keypoints_px[:, :1]
    metric = joints_camera[:, :, :2] - joints_camera[:, :1, :2]
    return np.sum(projected * metric, axis=(1, 2)) / np.sum(metric * metric, axis=(1, 2))


@dataclass
class H36MView:
    """One camera's view of one subject performing one action, prepared for training/evaluation."""

    subject: str
    action: str
    camera: str
    width: int
    height: int
    keypoints_gt: NDArray[np.float32]  # (N, 17, 2) normalised
    keypoints_detected: NDArray[np.float32]  # (N, 17, 2) normalised
    target: NDArray[np.float32]  # (N, 17, 3) root-relative, normalised units
    mm_per_unit: NDArray[np.float32]  # (N,)
    joints_mm: NDArray[np.float32]  # (N, 17, 3) root-relative camera frame, millimetres
    keypoints_gt_px: NDArray[np.float32] = field(repr=False)  # (N, 17, 2) pixels

    @property
    def frames(self) -> int:
        return int(self.target.shape[0])

    @property
    def action_name(self) -> str:
        """The action without the take number: ``"Walking 1"`` -> ``"Walking"``."""
        return self.action.split(" ")[0]


def data_root_error(root: Path) -> str | None:
    """Why ``root`` is not usable as the H36M folder, or None when it is."""
    missing = [name for name in (FILE_3D, FILE_DETECTIONS, FILE_CAMERAS) if not (root / name).is_file()]
    if missing:
        return f"{root} lacks {', '.join(missing)} (the compact Human3.6M files; see docs/training.md)"
    return None


# The subjects the neck model is fitted on: the training split, never the validation subject.
NECK_FIT_SUBJECTS = ("S1", "S5", "S6", "S7")


def _project_views(
    root: Path, subjects: tuple[str, ...] | list[str]
) -> tuple[dict[str, tuple[NDArray[np.float64], NDArray[np.float64], Camera]], dict[str, NDArray[np.float32]]]:
    """Camera-frame joints, their projections and the camera, and the raw detections, per view key."""
    cameras = {key: Camera.from_json(value) for key, value in json.loads((root / FILE_CAMERAS).read_text()).items()}
    with np.load(root / FILE_3D) as motion_file, np.load(root / FILE_DETECTIONS) as detection_file:
        motion = {key: motion_file[key] for key in motion_file.files if key.split("/")[0] in subjects}
        detections = {key: detection_file[key] for key in detection_file.files if key.split("/")[0] in subjects}
    unknown = set(subjects) - {key.split("/")[0] for key in motion}
    if unknown:
        raise ValueError(f"no motion for subjects {sorted(unknown)} in {root / FILE_3D}")
    projected = {}
    for key in sorted(detections):
        subject, action, camera_id = key.split("/")
        camera = cameras[f"{subject}/{camera_id}"]
        joints_camera = camera.world_to_camera(motion[f"{subject}/{action}"])
        projected[key] = (joints_camera, camera.project(joints_camera), camera)
    return projected, detections


def load_views(root: str | Path, subjects: tuple[str, ...] | list[str]) -> list[H36MView]:
    """Every view of ``subjects`` under ``root`` (the folder holding the three compact files)."""
    root = Path(root)
    problem = data_root_error(root)
    if problem:
        raise FileNotFoundError(problem)
    projected, detections = _project_views(root, subjects)
    fit_views = projected if set(subjects) == set(NECK_FIT_SUBJECTS) else _project_views(root, NECK_FIT_SUBJECTS)[0]
    neck = fit_neck_model([pixels for _, pixels, _ in fit_views.values()])

    views = []
    for key, (joints_camera, pixels, camera) in projected.items():
        subject, action, camera_id = key.split("/")
        detected = sh16_to_h36m17(detections[key], neck)
        views.append(make_view(subject, action, camera_id, camera, joints_camera, pixels, detected))
    return views


def make_view(
    subject: str,
    action: str,
    camera_id: str,
    camera: Camera,
    joints_camera: NDArray[np.floating],
    pixels: NDArray[np.floating],
    detected_pixels: NDArray[np.floating],
) -> H36MView:
    """One view from camera-frame joints (metres), their projection and detections (pixels, H36M-17)."""
    frames = min(len(pixels), len(detected_pixels))
    joints_camera, pixels = joints_camera[:frames], pixels[:frames]
    scale = pixels_per_metre(pixels, joints_camera)
    relative = joints_camera - joints_camera[:, :1]
    return H36MView(
        subject=subject,
        action=action,
        camera=camera_id,
        width=camera.width,
        height=camera.height,
        keypoints_gt=normalize_pixels(pixels, camera.width, camera.height),
        keypoints_detected=normalize_pixels(detected_pixels[:frames], camera.width, camera.height),
        target=(relative * scale[:, None, None] / camera.width * 2).astype(np.float32),
        mm_per_unit=(camera.width / 2 / scale * 1000).astype(np.float32),
        joints_mm=(relative * 1000).astype(np.float32),
        keypoints_gt_px=pixels.astype(np.float32),
    )
