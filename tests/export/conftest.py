"""Fixtures for the export tests: a real lifted sequence and an independent BVH reader (bvhio).

Everything that checks a written file goes through bvhio, a maintained BVH parser from PyPI: its parser
gives the hierarchy, offsets, channels and frame count, and its joint hierarchy does the forward
kinematics (world positions per frame). Nothing here imports the writer's internals; what the file should
contain comes from the documented conventions (docs/bvh.md), spelled out below.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from mtf_pose import Lifter, LiftResult

with warnings.catch_warnings():
    warnings.simplefilter("ignore", PendingDeprecationWarning)  # bvhio's own "import glm"
    import bvhio  # the independent reader: pip install "mtf_pose[test]"

REPO_ROOT = Path(__file__).resolve().parents[2]

# The documented hierarchy: humanoid name, parent, and the H36M joint (index) each BVH joint sits on.
HIERARCHY: list[tuple[str, str | None, int]] = [
    ("Hips", None, 0),
    ("LeftHip", "Hips", 0),
    ("LeftUpLeg", "LeftHip", 4),
    ("LeftLeg", "LeftUpLeg", 5),
    ("LeftFoot", "LeftLeg", 6),
    ("RightHip", "Hips", 0),
    ("RightUpLeg", "RightHip", 1),
    ("RightLeg", "RightUpLeg", 2),
    ("RightFoot", "RightLeg", 3),
    ("Spine", "Hips", 7),
    ("Neck", "Spine", 8),
    ("Head", "Neck", 9),
    ("HeadTop", "Head", 10),
    ("LeftShoulder", "Spine", 8),
    ("LeftArm", "LeftShoulder", 11),
    ("LeftForeArm", "LeftArm", 12),
    ("LeftHand", "LeftForeArm", 13),
    ("RightShoulder", "Spine", 8),
    ("RightArm", "RightShoulder", 14),
    ("RightForeArm", "RightArm", 15),
    ("RightHand", "RightForeArm", 16),
]
HUMANOID_NAMES = [name for name, _, _ in HIERARCHY]
H36M_INDEX = {name: index for name, _, index in HIERARCHY}

# Documented axes: camera (x right, y down, z forward) -> Y-up file (x, -y, -z) or Z-up file (x, z, -y).
CAMERA_TO_FILE = {"y": np.diag([1.0, -1.0, -1.0]), "z": np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])}
UNIT_SCALE = {"m": 1.0, "cm": 100.0}


@dataclass
class ParsedBvh:
    """What bvhio reads from a file, plus its forward kinematics."""

    names: list[str]
    parents: list[str | None]
    channels: list[list[str]]
    offsets: NDArray[np.float64]  # (J, 3)
    end_sites: dict[str, NDArray[np.float64]]
    frame_count: int
    frame_time: float
    positions: NDArray[np.float64]  # (T, J, 3) world positions from bvhio's forward kinematics
    local_rotations: NDArray[np.float64]  # (T, J, 3, 3) from bvhio's reading of each joint's Euler channels
    root_positions: NDArray[np.float64]  # (T, 3) the root's position channels as bvhio read them
    text: str

    def column_values(self) -> NDArray[np.float64]:
        """``(T, C)`` the MOTION numbers as written, one column per channel in hierarchy order."""
        lines = self.text.split("Frame Time:", 1)[1].strip().splitlines()[1:]
        return np.array([[float(value) for value in line.split()] for line in lines])

    def euler(self, joint: str) -> NDArray[np.float64]:
        """``(T, 3)`` the rotation channels of ``joint`` in file order, as written."""
        start = sum(len(channels) for channels in self.channels[: self.names.index(joint)])
        count = len(self.channels[self.names.index(joint)])
        return self.column_values()[:, start + count - 3 : start + count]


def _matrix(quaternion: Any) -> NDArray[np.float64]:
    """Rotation matrix of a unit quaternion (bvhio's reading of a joint's Euler channels)."""
    w, x, y, z = quaternion.w, quaternion.x, quaternion.y, quaternion.z
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def read_bvh(path: Path) -> ParsedBvh:
    container = bvhio.readAsBvh(str(path))
    bvh_joints = [joint for joint, _, _ in container.Root.layout()]
    parent_of: dict[str, str | None] = {container.Root.Name: None}
    for joint in bvh_joints:
        for child in joint.Children:
            parent_of[child.Name] = joint.Name
    hierarchy = bvhio.readAsHierarchy(str(path))
    fk_joints = [joint for joint, _, _ in hierarchy.layout()]
    assert [j.Name for j in fk_joints] == [j.Name for j in bvh_joints]
    frames = container.FrameCount
    positions = np.empty((frames, len(fk_joints), 3))
    for frame in range(frames):
        hierarchy.loadPose(frame, recursive=True)
        positions[frame] = [list(joint.PositionWorld) for joint in fk_joints]
    return ParsedBvh(
        names=[j.Name for j in bvh_joints],
        parents=[parent_of[j.Name] for j in bvh_joints],
        channels=[list(j.Channels) for j in bvh_joints],
        offsets=np.array([list(j.Offset) for j in bvh_joints], dtype=np.float64),
        end_sites={j.Name: np.array(list(j.EndSite), dtype=np.float64) for j in bvh_joints if not j.Children},
        frame_count=frames,
        frame_time=container.FrameTime,
        positions=positions,
        local_rotations=np.array([[_matrix(key.Rotation) for key in j.Keyframes] for j in bvh_joints]).swapaxes(0, 1),
        root_positions=np.array([list(key.Position) for key in container.Root.Keyframes], dtype=np.float64),
        text=path.read_text(encoding="utf-8"),
    )


def expected_file_positions(
    joints_camera: NDArray[np.floating], up: str = "y", units: str = "m"
) -> NDArray[np.float64]:
    """``(T, 21, 3)`` where each BVH joint must be, relative to the root, from camera-frame H36M joints."""
    relative = np.asarray(joints_camera, dtype=np.float64) - np.asarray(joints_camera)[:, :1]
    in_file = UNIT_SCALE[units] * relative @ CAMERA_TO_FILE[up].T
    return in_file[:, [H36M_INDEX[name] for name in HUMANOID_NAMES]]


@pytest.fixture(scope="session")
def lifted_walk() -> LiftResult:
    """The example walk (300 COCO frames at 30 fps) lifted with the embedded weights."""

    keypoints = np.load(REPO_ROOT / "examples" / "data" / "walk_coco.npy")
    lifter = Lifter.from_pretrained(device="cpu")
    return lifter.lift(keypoints, layout="coco", image_size=(1920, 1080), fps=30, flip=False, progress=False)
