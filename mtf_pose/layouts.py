"""2D joint layouts of common detectors and their conversion to the H36M-17 skeleton.

Every H36M joint is a weighted mean of source joints: a copy (one source) or a midpoint (two, or four for
the spine, which is halfway between pelvis and thorax). A derived joint's confidence is the *lowest*
confidence of its sources (a midpoint is only as good as its worse end), and it is missing (NaN) when
any source is.

| H36M joint | coco / halpe26 | mediapipe33 | openpose_body25 |
|---|---|---|---|
| pelvis | mid(hips) / halpe: hip (19) | mid(hips) | mid_hip (8) |
| thorax | mid(shoulders) / halpe: neck (18) | mid(shoulders) | neck (1) |
| spine | mid(pelvis, thorax) | mid(pelvis, thorax) | mid(pelvis, thorax) |
| neck (nose) | nose | nose | nose |
| head | mid(eyes) / halpe: head (17) | mid(eyes) | mid(eyes) |

Hips, knees, ankles, shoulders, elbows and wrists map one to one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from mtf_pose import skeleton


@dataclass(frozen=True)
class JointLayout:
    """A detector's joint order and how each H36M-17 joint is made from it."""

    name: str
    joint_names: tuple[str, ...]
    sources: tuple[tuple[int, ...], ...]  # per H36M joint: the source joints averaged (with repeats as weights)
    description: str

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def weights(self) -> NDArray[np.float64]:
        """``(17, J)`` matrix ``W`` with ``h36m = W @ source``."""
        matrix = np.zeros((skeleton.NUM_JOINTS, self.num_joints))
        for target, sources in enumerate(self.sources):
            for source in sources:
                matrix[target, source] += 1.0 / len(sources)
        return matrix

    def used_joints(self) -> list[int]:
        """Source joints that feed at least one H36M joint."""
        return sorted({s for sources in self.sources for s in sources})

    def to_h36m(
        self, keypoints: NDArray[np.floating], confidence: NDArray[np.floating]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(T, J, 2)`` coordinates and ``(T, J)`` confidence -> the same in H36M-17 order."""
        matrix = self.weights()
        coordinates = np.einsum("hj,tjc->thc", matrix, np.nan_to_num(keypoints, nan=0.0))
        source_missing = np.isnan(keypoints).any(-1)
        used = matrix > 0
        missing = (source_missing[:, None, :] & used[None]).any(-1)
        coordinates[missing] = np.nan
        masked = np.where(used[None], confidence[:, None, :], np.inf)
        return coordinates, masked.min(-1)


def _layout(name: str, names: str, sources: dict[str, tuple[str, ...]], description: str) -> JointLayout:
    joint_names = tuple(names.split())
    index = {joint: i for i, joint in enumerate(joint_names)}
    resolved = []
    for target in skeleton.JOINT_NAMES:
        resolved.append(tuple(index[s] for s in sources.get(target, (target,))))
    return JointLayout(name, joint_names, tuple(resolved), description)


_COCO_NAMES = (
    "nose left_eye right_eye left_ear right_ear left_shoulder right_shoulder left_elbow right_elbow "
    "left_wrist right_wrist left_hip right_hip left_knee right_knee left_ankle right_ankle"
)
_LIMBS = {
    "right_hip": ("right_hip",), "right_knee": ("right_knee",), "right_ankle": ("right_ankle",),
    "left_hip": ("left_hip",), "left_knee": ("left_knee",), "left_ankle": ("left_ankle",),
    "left_shoulder": ("left_shoulder",), "left_elbow": ("left_elbow",), "left_wrist": ("left_wrist",),
    "right_shoulder": ("right_shoulder",), "right_elbow": ("right_elbow",), "right_wrist": ("right_wrist",),
}
_HIPS = ("left_hip", "right_hip")
_SHOULDERS = ("left_shoulder", "right_shoulder")

LAYOUTS: Final[dict[str, JointLayout]] = {
    "h36m": _layout("h36m", " ".join(skeleton.JOINT_NAMES), {}, "Human3.6M 17 joints (the network's own order)"),
    "coco": _layout(
        "coco",
        _COCO_NAMES,
        {
            **_LIMBS, "pelvis": _HIPS, "thorax": _SHOULDERS, "spine": _HIPS + _SHOULDERS,
            "neck": ("nose",), "head": ("left_eye", "right_eye"),
        },
        "COCO 17 keypoints (most 2D detectors: MMPose, Detectron2, YOLO-pose, ViTPose, RTMPose)",
    ),
    "halpe26": _layout(
        "halpe26",
        _COCO_NAMES + " head neck hip left_big_toe right_big_toe left_small_toe right_small_toe "
        "left_heel right_heel",
        {
            **_LIMBS, "pelvis": ("hip",), "thorax": ("neck",), "spine": ("hip", "neck"),
            "neck": ("nose",), "head": ("head",),
        },
        "Halpe 26 keypoints (AlphaPose)",
    ),
    "mediapipe33": _layout(
        "mediapipe33",
        "nose left_eye_inner left_eye left_eye_outer right_eye_inner right_eye right_eye_outer left_ear "
        "right_ear mouth_left mouth_right left_shoulder right_shoulder left_elbow right_elbow left_wrist "
        "right_wrist left_pinky right_pinky left_index right_index left_thumb right_thumb left_hip right_hip "
        "left_knee right_knee left_ankle right_ankle left_heel right_heel left_foot_index right_foot_index",
        {
            **_LIMBS, "pelvis": _HIPS, "thorax": _SHOULDERS, "spine": _HIPS + _SHOULDERS,
            "neck": ("nose",), "head": ("left_eye", "right_eye"),
        },
        "MediaPipe / BlazePose 33 pose landmarks",
    ),
    "openpose_body25": _layout(
        "openpose_body25",
        "nose neck right_shoulder right_elbow right_wrist left_shoulder left_elbow left_wrist mid_hip right_hip "
        "right_knee right_ankle left_hip left_knee left_ankle right_eye left_eye right_ear left_ear "
        "left_big_toe left_small_toe left_heel right_big_toe right_small_toe right_heel",
        {
            **_LIMBS, "pelvis": ("mid_hip",), "thorax": ("neck",), "spine": ("mid_hip", "neck"),
            "neck": ("nose",), "head": ("left_eye", "right_eye"),
        },
        "OpenPose BODY_25",
    ),
}


def get_layout(name: str) -> JointLayout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ValueError(f"unknown joint layout {name!r}; choose one of {sorted(LAYOUTS)}") from None


def layouts_with(num_joints: int) -> list[str]:
    """Names of the layouts that have ``num_joints`` joints."""
    return sorted(name for name, layout in LAYOUTS.items() if layout.num_joints == num_joints)
