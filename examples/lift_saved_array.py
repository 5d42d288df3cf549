"""Lift a saved keypoint array (a .npy of COCO keypoints from any 2D detector) and save the 3D result.

    python examples/lift_saved_array.py [INPUT.npy] [OUTPUT.npz]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from mtf_pose import Lifter

HERE = Path(__file__).parent


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "data" / "walk_coco.npy"
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("lifted") / f"{source.stem}.npz"
    keypoints = np.load(source)  # (frames, 17, 3): x, y in pixels and detector confidence
    lifter = Lifter.from_pretrained()  # the embedded default weights; no network access
    result = lifter.lift(keypoints, layout="coco", image_size=(1920, 1080), fps=30)
    result.save(target)
    print(f"{lifter}")
    print(f"lifted {result.frames} frames -> {target}")
    print(f"joints_3d {result.joints_3d.shape} in metres, camera frame (x right, y down, z forward)")
    head_height = -result.joints_3d[:, 10, 1].mean()  # y points down: the head is above the pelvis
    print(f"mean head height above the pelvis: {head_height:.2f} m")


if __name__ == "__main__":
    main()
