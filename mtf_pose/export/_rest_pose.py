"""The rest pose (a T-pose) and the axes every export works in.

The *body frame* is the BVH file's Y-up frame: X is the character's left, Y is up, Z is forward (the
character faces +Z). A person facing the camera faces +Z, so the camera frame (x right, y down, z forward,
away from the camera) maps onto it by a half turn about x.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

# Camera frame -> body frame (Y-up): (x, y, z) -> (x, -y, -z). A rotation (det +1), its own inverse.
CAMERA_TO_Y_UP: Final[NDArray[np.float64]] = np.diag([1.0, -1.0, -1.0])
# Body frame (Y-up, facing +Z) -> Z-up frame (facing -Y, as Blender characters do): (x, y, z) -> (x, -z, y).
Y_UP_TO_Z_UP: Final[NDArray[np.float64]] = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

LEFT: Final = np.array([1.0, 0.0, 0.0])
UP: Final = np.array([0.0, 1.0, 0.0])
FORWARD: Final = np.array([0.0, 0.0, 1.0])

# Rest direction of the bone that ends at each H36M joint (the root has none), body frame: a T-pose with
# straight legs, arms out to the sides, spine, neck and head straight up.
REST_DIRECTIONS: Final[NDArray[np.float64]] = np.array(
    [
        [0.0, 0.0, 0.0],  # pelvis (root)
        -LEFT,  # right_hip
        -UP,  # right_knee
        -UP,  # right_ankle
        LEFT,  # left_hip
        -UP,  # left_knee
        -UP,  # left_ankle
        UP,  # spine
        UP,  # thorax
        UP,  # neck (nose)
        UP,  # head
        LEFT,  # left_shoulder
        LEFT,  # left_elbow
        LEFT,  # left_wrist
        -LEFT,  # right_shoulder
        -LEFT,  # right_elbow
        -LEFT,  # right_wrist
    ]
)
