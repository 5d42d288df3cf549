"""How noisy a stage-2 gradient is, and how many independent samples a 243-frame clip is worth.

Per-clip gradients of the stage-2 loss (MPJPE + 0.5 N-MPJPE + 20 velocity) on real training clips
(drawn from the trainer's clips of S1, S5, S6 and S7 and augmented as it augments them) at the given
weights (default: the embedded ones), with the lifter in eval mode (no stochastic depth, BatchNorm on
its running statistics), so that the spread measured is the data's. Two figures:

- the gradient noise scale ``B = tr(Sigma) / |G|^2`` in clips (McCandlish et al. 2018, "An Empirical
  Model of Large-Batch Training"): ``G`` is the mean gradient, ``Sigma`` the covariance of one clip's.
  A step on ``b`` clips makes about ``1 / (1 + B / b)`` of the progress of a noise-free step, so a batch
  well under ``B`` is noise-bound and one well over it wastes frames;
- how much of a clip is redundant: each clip's loss is split over windows of ``w`` frames (the loss of
  each window's frames, through the one 243-frame forward pass), and the spread of one window's gradient
  is set against the whole clip's. Their ratio is the number of independent windows a clip is worth:
  ``243 / w`` if the windows' gradients were independent, 1 if they were all alike.

The clip's gradient is the mean of its windows' (the velocity term then skips the frame pairs that
straddle a window boundary: 8 of 242).

    python benchmarks/bench_gradient_noise.py [--clips 48] [--window 27] [--weights DIR] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _h36m import require_data

from mtf_pose.hub import default_weights_dir
from mtf_pose.training.augment import make_training_input
from mtf_pose.training.clips import clip_indices, clip_starts
from mtf_pose.training.h36m import load_views
from mtf_pose.training.losses import lifter_loss
from mtf_pose.training.trainer import TrainConfig
from mtf_pose.weights import load_weights

# The trainer's defaults: its subjects, clips, augmentation and loss weights.
RECIPE = TrainConfig(stage="lifter")


class SpreadAccumulator:
    """Running sums for the mean and the trace of the covariance of flattened gradients."""

    def __init__(self) -> None:
        self.count = 0
        self.total: torch.Tensor | None = None
        self.squared_norms = 0.0

    def add(self, gradient: torch.Tensor) -> None:
        self.count += 1
        self.total = gradient.clone() if self.total is None else self.total + gradient
        self.squared_norms += float(gradient.square().sum())

    @property
    def mean(self) -> torch.Tensor:
        assert self.total is not None
        return self.total / self.count

    def covariance_trace(self) -> float:
        """Unbiased ``tr(Sigma)`` of one sample."""
        return (self.squared_norms - self.count * float(self.mean.square().sum())) / (self.count - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=48, help="training clips (one gradient each)")
    parser.add_argument("--window", type=int, default=27, help="window length in frames; divides 243")
    parser.add_argument("--weights", type=Path, default=None, help="weights folder (default: the embedded ones)")
    parser.add_argument("--batch", type=int, default=8, help="the batch size to set against the noise scale")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    root = require_data()
    weights = args.weights or default_weights_dir()
    model, _ = load_weights(weights)
    model.eval()
    frames = model.config.frames
    if args.clips < 2 or frames % args.window:
        parser.error(f"--clips must be at least 2 and --window must divide {frames}")
    windows = frames // args.window
    # Window lengths to report: every multiple of --window that divides the clip, the clip itself last.
    groupings = [k for k in range(1, windows + 1) if windows % k == 0]

    views = load_views(root, RECIPE.train_subjects)
    clips = [
        (view, start)
        for view in views
        for start in clip_starts(view.frames, frames, RECIPE.clip_stride, RECIPE.frame_step)
    ]
    rng = np.random.default_rng(args.seed)
    parameters = list(model.lifter.parameters())
    spreads = {k * args.window: SpreadAccumulator() for k in groupings}
    started = time.perf_counter()
    for _ in range(args.clips):
        view, start = clips[int(rng.integers(len(clips)))]
        index = clip_indices(start, frames, view.frames, RECIPE.frame_step)
        clip, target = make_training_input(
            view.keypoints_gt[index], view.keypoints_detected[index], view.target[index], rng, RECIPE.augment
        )
        inputs, targets = torch.from_numpy(clip[None]), torch.from_numpy(target[None])
        predicted = model(inputs)  # gradients are taken for the lifter's parameters only, as in stage 2
        window_gradients = []
        for window in range(windows):
            span = slice(window * args.window, (window + 1) * args.window)
            terms = lifter_loss(
                predicted[:, span],
                targets[:, span],
                n_mpjpe_weight=RECIPE.n_mpjpe_weight,
                velocity_weight=RECIPE.velocity_weight,
            )
            loss = terms["total"]
            gradients = torch.autograd.grad(loss, parameters, retain_graph=window < windows - 1)
            window_gradients.append(torch.cat([g.reshape(-1) for g in gradients]).double())
        for k in groupings:  # a window of k * --window frames: the mean of k consecutive windows' gradients
            for first in range(0, windows, k):
                spreads[k * args.window].add(torch.stack(window_gradients[first : first + k]).mean(0))
    seconds = time.perf_counter() - started

    clip_spread = spreads[frames]
    mean_squared = float(clip_spread.mean.square().sum()) - clip_spread.covariance_trace() / clip_spread.count
    print(
        f"{args.clips} augmented training clips of {frames} frames ({', '.join(RECIPE.train_subjects)}), weights {weights}, "
        f"{seconds:.0f} s"
    )
    print(f"|G|^2 {mean_squared:.4g}, tr(Sigma) of one clip {clip_spread.covariance_trace():.4g}")
    if mean_squared <= 0:
        print("the mean gradient is lost in the noise of so few clips: no noise scale (raise --clips)")
    else:
        noise_scale = clip_spread.covariance_trace() / mean_squared
        print(
            f"gradient noise scale B = {noise_scale:.1f} clips of {frames} frames: a batch of {args.batch} makes "
            f"{1 / (1 + noise_scale / args.batch):.2f} of a noise-free step's progress, "
            f"{2 * args.batch} would make {1 / (1 + noise_scale / (2 * args.batch)):.2f}"
        )
    print(
        "window frames | tr(Sigma) of one window | independent windows per clip (window/clip spread) | if independent"
    )
    for length, spread in spreads.items():
        ratio = spread.covariance_trace() / clip_spread.covariance_trace()
        print(f"{length:13d} | {spread.covariance_trace():23.4g} | {ratio:50.2f} | {frames // length}")


if __name__ == "__main__":
    main()
