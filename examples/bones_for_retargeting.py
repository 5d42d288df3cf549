"""Read bone lengths and directions from a lift, as a retargeting script needs them.

A character rig wants one length per bone (the median over the sequence, left and right averaged) and,
per frame, the direction each bone points in.

    python examples/bones_for_retargeting.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mtf_pose import Lifter, LiftResult

HERE = Path(__file__).parent


def symmetric_lengths(result: LiftResult) -> dict[str, float]:
    """Median length of every bone, left and right sides averaged."""
    medians = np.median(result.bone_lengths, axis=0)
    lengths = {}
    for index, (parent, child) in enumerate(result.bones):
        name = result.bone_names[index]
        mirror = name.replace("left", "LEFT").replace("right", "left").replace("LEFT", "right")
        partner = result.bone_names.index(mirror) if mirror in result.bone_names else index
        lengths[name] = float((medians[index] + medians[partner]) / 2)
    return lengths


def main() -> None:
    keypoints = np.load(HERE / "data" / "walk_coco.npy")
    result = Lifter.from_pretrained().lift(keypoints, layout="coco", image_size=(1920, 1080), fps=30)
    print("bone lengths (m), median over the sequence, left/right symmetrised:")
    for name, length in symmetric_lengths(result).items():
        print(f"  {name:<32} {length:.3f}")
    forearm = result.bone_names.index("left_elbow->left_wrist")
    print("\nleft forearm direction (unit vector, camera frame) every second:")
    for frame in range(0, result.frames, int(result.fps)):
        x, y, z = result.bone_directions[frame, forearm]
        azimuth, polar = np.degrees(result.bone_angles[frame, forearm])
        print(f"  t={frame / result.fps:4.1f}s  ({x:+.2f}, {y:+.2f}, {z:+.2f})  "
              f"azimuth {azimuth:+6.1f}  polar {polar:5.1f} deg")


if __name__ == "__main__":
    main()
