"""Make the example input files: a synthetic person walking, seen by a pinhole camera, as COCO keypoints.

The motion is procedural (sinusoidal gait on a skeleton of adult proportions), so the example data carry
no dataset licence. Writes examples/data/walk_coco.npy: (300, 17, 3) pixels + confidence, 30 fps,
1920x1080 image.

    python examples/make_example_data.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FPS, FRAMES, WIDTH, HEIGHT, FOCAL = 30.0, 300, 1920, 1080, 1500.0


def walker(frames: int, fps: float) -> dict[str, np.ndarray]:
    """World positions (metres; x right, y up, z towards the camera) of a walking person's joints."""
    t = np.arange(frames) / fps
    phase = 2 * np.pi * 0.9 * t  # 0.9 strides per second
    pelvis = np.stack([0.25 * t - 1.2, 0.95 + 0.02 * np.cos(2 * phase), np.zeros_like(t)], axis=-1)
    joints = {"pelvis": pelvis}
    up = np.array([0.0, 1.0, 0.0])
    for side, sign in (("left", 1.0), ("right", -1.0)):
        swing = sign * np.sin(phase)
        hip = pelvis + np.array([0.0, 0.0, sign * 0.1])
        thigh = 0.45 * np.stack([np.sin(0.45 * swing), -np.cos(0.45 * swing), np.zeros_like(t)], -1)
        knee = hip + thigh
        bend = 0.45 * swing + 0.6 * np.clip(-np.cos(phase + (0 if sign > 0 else np.pi)), 0, None)
        ankle = knee + 0.44 * np.stack(
            [np.sin(0.45 * swing - bend), -np.cos(0.45 * swing - bend), np.zeros_like(t)], -1
        )
        joints.update({f"{side}_hip": hip, f"{side}_knee": knee, f"{side}_ankle": ankle})
    thorax = pelvis + 0.5 * up + np.array([0.03, 0.0, 0.0])
    for side, sign in (("left", 1.0), ("right", -1.0)):
        shoulder = thorax + np.array([0.0, -0.03, sign * 0.19])
        arm = -sign * 0.35 * np.sin(phase)
        elbow = shoulder + 0.29 * np.stack([np.sin(arm), -np.cos(arm), np.zeros_like(t)], -1)
        wrist = elbow + 0.26 * np.stack([np.sin(arm + 0.3), -np.cos(arm + 0.3), np.zeros_like(t)], -1)
        joints.update({f"{side}_shoulder": shoulder, f"{side}_elbow": elbow, f"{side}_wrist": wrist})
    head = thorax + np.array([0.06, 0.22, 0.0])
    joints["nose"] = head + np.array([0.1, -0.02, 0.0])
    for side, sign in (("left", 1.0), ("right", -1.0)):
        joints[f"{side}_eye"] = head + np.array([0.08, 0.02, sign * 0.03])
        joints[f"{side}_ear"] = head + np.array([0.0, 0.0, sign * 0.08])
    return joints


COCO = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)


def project(points: np.ndarray) -> np.ndarray:
    """Camera 4.5 m away on the +z axis, 1.2 m high, looking at the origin; image y down."""
    camera = points - np.array([0.0, 1.2, 4.5])
    x, y, depth = camera[..., 0], camera[..., 1], -camera[..., 2]
    return np.stack([WIDTH / 2 + FOCAL * x / depth, HEIGHT / 2 - FOCAL * y / depth], axis=-1)


def main() -> None:
    rng = np.random.default_rng(7)
    joints = walker(FRAMES, FPS)
    pixels = np.stack([project(joints[name]) for name in COCO], axis=1)
    pixels += rng.normal(0, 1.5, pixels.shape)  # detector jitter, in pixels
    confidence = np.clip(rng.normal(0.9, 0.05, pixels.shape[:2]), 0, 1)
    out = Path(__file__).parent / "data" / "walk_coco.npy"
    out.parent.mkdir(exist_ok=True)
    np.save(out, np.concatenate([pixels, confidence[..., None]], axis=-1).astype(np.float32))
    print(f"wrote {out}: {FRAMES} frames of COCO keypoints, {WIDTH}x{HEIGHT}, {FPS:g} fps")


if __name__ == "__main__":
    main()
