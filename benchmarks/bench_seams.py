"""Jitter at clip seams: does blending overlapping clips leave a trace where clips meet?

Lifts a real 1,000-frame Human3.6M sequence (validation subject S8, ground-truth 2D in pixels) with the
embedded weights and compares the mean joint acceleration (second difference of the metric joints,
mm per frame^2) in frames next to clip boundaries (within +-3 frames of a clip's first or last frame,
sequence ends excluded) with the frames elsewhere, for several clip overlaps. The ground truth's own
values are printed for scale.

    python benchmarks/bench_seams.py [--view "S8/Walking 1/54138969"] [--frames 1000] [--weights DIR]
"""

from __future__ import annotations

import argparse

import numpy as np
from _h36m import require_data

import mtf_pose.lifter as lifter_module
from mtf_pose import Lifter
from mtf_pose._windows import plan_clips
from mtf_pose.evaluation.h36m import pixel_input
from mtf_pose.training.h36m import load_views

NEAR = 3


def acceleration(joints: np.ndarray) -> np.ndarray:
    """``(T, J, 3)`` -> ``(T,)`` mean joint acceleration magnitude (NaN at both ends)."""
    out = np.full(joints.shape[0], np.nan)
    out[1:-1] = np.linalg.norm(joints[2:] - 2 * joints[1:-1] + joints[:-2], axis=-1).mean(-1)
    return out


def boundary_mask(frames: int, length: int, overlap: int) -> np.ndarray:
    plan = plan_clips(frames, length, overlap)
    edges = set()
    for sources in plan.sources:
        edges.update({int(sources[0]), int(sources[-1])})
    mask = np.zeros(frames, bool)
    for edge in edges - {0, frames - 1}:
        mask[max(edge - NEAR, 0) : edge + NEAR + 1] = True
    return mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--view", default="S8/Walking 1/54138969")
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--weights", default=None, help="weights folder or Hub repo (default: the embedded weights)")
    args = parser.parse_args()
    subject, action, camera = args.view.split("/")
    view = next(v for v in load_views(require_data(), [subject]) if (v.action, v.camera) == (action, camera))
    keypoints = pixel_input(view, "gt")[: args.frames]
    truth = view.joints_mm[: args.frames]
    lifter = Lifter.from_pretrained(args.weights)
    print(f"{args.view}, {len(keypoints)} frames, weights: {lifter.source}")
    truth_accel = acceleration(truth)
    length = lifter.frames
    print(f"{'overlap':>8} {'near seams':>11} {'elsewhere':>10} {'ratio':>6}   (mm/frame^2; ground truth near/else "
          f"{np.nanmean(truth_accel[boundary_mask(len(truth), length, 81)]):.2f}/"
          f"{np.nanmean(truth_accel[~boundary_mask(len(truth), length, 81)]):.2f})")
    default = lifter_module.CLIP_OVERLAP_FRACTION
    try:
        for overlap in (0, 27, 81, 121):
            lifter_module.CLIP_OVERLAP_FRACTION = overlap / length
            result = lifter.lift(keypoints, image_size=(view.width, view.height), layout="h36m", fps=50)
            accel = acceleration(result.joints_3d * 1000)
            mask = boundary_mask(len(keypoints), length, overlap)
            near, elsewhere = np.nanmean(accel[mask]), np.nanmean(accel[~mask])
            chosen = " <- default" if overlap == int(length * default) else ""
            print(f"{overlap:>8} {near:>11.2f} {elsewhere:>10.2f} {near / elsewhere:>6.2f}{chosen}")
    finally:
        lifter_module.CLIP_OVERLAP_FRACTION = default


if __name__ == "__main__":
    main()
