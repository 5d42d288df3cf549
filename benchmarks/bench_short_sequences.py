"""Short sequences: pad or resample? Accuracy of both on real clips shorter than the network's 243 frames.

Takes clips of each length from the validation subject S8 (ground-truth 2D in pixels, every 10th view),
lifts them with the embedded weights using ``short="pad"`` and ``short="resample"``, and reports MPJPE in
millimetres (network output times the ground-truth scale, root-relative), so only the handling of the
short length differs.

    python benchmarks/bench_short_sequences.py [--lengths 9,27,81,150,242] [--clips 24] [--weights DIR]
"""

from __future__ import annotations

import argparse

import numpy as np
from _h36m import require_data

from mtf_pose import Lifter
from mtf_pose.evaluation.h36m import pixel_input
from mtf_pose.evaluation.metrics import mpjpe
from mtf_pose.training.h36m import load_views


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", default="9,27,81,150,242")
    parser.add_argument("--clips", type=int, default=24, help="clips per length")
    parser.add_argument("--weights", default=None, help="weights folder or Hub repo (default: the embedded weights)")
    args = parser.parse_args()
    views = load_views(require_data(), ["S8"])[::10]
    lifter = Lifter.from_pretrained(args.weights)
    rng = np.random.default_rng(0)
    print(f"weights: {lifter.source}; MPJPE in mm over {args.clips} clips per length")
    print(f"{'frames':>6} {'pad':>8} {'resample':>9}")
    for length in map(int, args.lengths.split(",")):
        errors: dict[str, list[float]] = {"pad": [], "resample": []}
        for index in range(args.clips):
            view = views[index % len(views)]
            start = int(rng.integers(0, view.frames - length))
            frames = slice(start, start + length)
            keypoints = pixel_input(view, "gt")[frames]
            for short, values in errors.items():
                result = lifter.lift(keypoints, layout="h36m", image_size=(view.width, view.height), fps=50,
                                     short=short)
                predicted = result.joints_3d_normalized * view.mm_per_unit[frames, None, None]
                values.append(float(mpjpe(predicted, view.joints_mm[frames]).mean()))
        print(f"{length:>6} {np.mean(errors['pad']):>8.1f} {np.mean(errors['resample']):>9.1f}")


if __name__ == "__main__":
    main()
