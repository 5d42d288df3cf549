"""Lift what a COCO-keypoint detector (MMPose, YOLO-pose, Detectron2, ...) produced frame by frame.

Detectors give one record per frame, and sometimes no person at all. Frames without a detection become
NaN, low-confidence joints keep their score, and the Lifter fills the gaps over time.

    python examples/lift_coco_detector.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mtf_pose import Lifter

HERE = Path(__file__).parent


def detector_output() -> list[dict | None]:
    """Stand-in for a detector run on a 30 fps video: one dict per frame, None when nobody was found."""
    keypoints = np.load(HERE / "data" / "walk_coco.npy")
    frames: list[dict | None] = []
    for index, frame in enumerate(keypoints):
        if 100 <= index < 108:  # the person was missed for 8 frames
            frames.append(None)
        else:
            frames.append({"keypoints": frame[:, :2].tolist(), "keypoint_scores": frame[:, 2].tolist()})
    return frames


def to_array(frames: list[dict | None], joints: int = 17) -> np.ndarray:
    """Per-frame records -> (frames, joints, 3); NaN where nothing was detected."""
    array = np.full((len(frames), joints, 3), np.nan, dtype=np.float32)
    for index, record in enumerate(frames):
        if record is not None:
            array[index, :, :2] = record["keypoints"]
            array[index, :, 2] = record["keypoint_scores"]
    return array


def main() -> None:
    keypoints = to_array(detector_output())
    lifter = Lifter.from_pretrained()
    result = lifter.lift(keypoints, layout="coco", image_size=(1920, 1080), fps=30, subject_height=1.75)
    print(f"lifted {result.frames} frames; {int(result.filled.any(axis=1).sum())} frames had joints filled in")
    print(f"confidence carried through for frame 50: {np.round(result.confidence[50, :4], 2)} ...")
    print(f"frame 104 (no detection) right ankle at {np.round(result.joints_3d[104, 3], 3)} m")


if __name__ == "__main__":
    main()
