"""Synthetic Human3.6M-like views for training tests that must run without the dataset."""

from __future__ import annotations

import numpy as np

from mtf_pose.training.h36m import Camera, H36MView, make_view

# A standing skeleton (metres; x right, y down, z forward from the camera's view), H36M-17 order.
REST = np.array([
    [0, 0, 0], [-0.13, 0, 0], [-0.13, 0.45, 0], [-0.13, 0.88, 0.02], [0.13, 0, 0], [0.13, 0.45, 0],
    [0.13, 0.88, 0.02], [0, -0.23, 0], [0, -0.48, 0], [0, -0.58, -0.08], [0, -0.7, 0], [0.17, -0.45, 0],
    [0.2, -0.17, 0], [0.22, 0.08, 0], [-0.17, -0.45, 0], [-0.2, -0.17, 0], [-0.22, 0.08, 0],
])


def synthetic_views(count: int = 3, frames: int = 120, seed: int = 0) -> list[H36MView]:
    rng = np.random.default_rng(seed)
    camera = Camera(rotation=np.eye(3), centre_m=np.zeros(3), focal=np.array([1100.0, 1100.0]),
                    principal=np.array([500.0, 500.0]), radial=np.zeros(3), tangential=np.zeros(2),
                    width=1000, height=1000)
    views = []
    for index in range(count):
        t = np.arange(frames)[:, None, None] / 50.0
        sway = 0.08 * np.sin(2 * np.pi * rng.uniform(0.3, 1.0, (1, 17, 3)) * t + rng.uniform(0, 6, (1, 17, 3)))
        joints = REST[None] + sway + np.array([0.0, 0.0, 4.0 + index])  # 4-6 m in front of the camera
        pixels = camera.project(joints)
        detected = pixels + rng.normal(0, 3, pixels.shape)
        views.append(make_view("S0", f"Motion {index}", "cam", camera, joints, pixels, detected))
    return views
