"""The Human3.6M 17-joint skeleton the network works in (VideoPose3D / MotionBERT / MDTF order)."""

from __future__ import annotations

from typing import Final

JOINT_NAMES: Final[tuple[str, ...]] = (
    "pelvis",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
    "spine",
    "thorax",
    "neck",
    "head",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
)
NUM_JOINTS: Final[int] = len(JOINT_NAMES)
ROOT: Final[int] = 0

# Parent of each joint; -1 for the root (the pelvis).
PARENTS: Final[tuple[int, ...]] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)

# The 16 bones as (parent, child), in the order the network's bone features use.
BONES: Final[tuple[tuple[int, int], ...]] = (
    (0, 1), (1, 2), (2, 3),
    (0, 4), (4, 5), (5, 6),
    (0, 7), (7, 8), (8, 9), (9, 10),
    (8, 11), (11, 12), (12, 13),
    (8, 14), (14, 15), (15, 16),
)
NUM_BONES: Final[int] = len(BONES)
BONE_NAMES: Final[tuple[str, ...]] = tuple(f"{JOINT_NAMES[p]}->{JOINT_NAMES[c]}" for p, c in BONES)

# Horizontal flip: left and right joints swap places.
LEFT_JOINTS: Final[tuple[int, ...]] = (4, 5, 6, 11, 12, 13)
RIGHT_JOINTS: Final[tuple[int, ...]] = (1, 2, 3, 14, 15, 16)


def flip_permutation() -> list[int]:
    """Index list that reorders joints after a horizontal flip (left <-> right)."""
    order = list(range(NUM_JOINTS))
    for left, right in zip(LEFT_JOINTS, RIGHT_JOINTS):
        order[left], order[right] = right, left
    return order
