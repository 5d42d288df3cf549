"""How fast the lifter learns, next to a per-frame MLP fed the very same training batches.

Both learners take the trainer's own augmented batches of stage 2 (``Trainer._batch``: clips of S1, S5,
S6, S7, detector noise, flips) for the same number of optimiser steps (AdamW, lr 5e-4, batch 8 clips);
both are then validated on S8 (every ``--val-stride``-th view, ground-truth 2D), in millimetres at the
ground-truth scale: the network under the standard protocol (with flip averaging), the MLP frame by
frame, averaged over views. The MLP (51 -> 1024 -> 1024 -> 51, root-relative input) sees 256 frames
drawn from each batch. It is a yardstick, not a product: if it learns and the network does not, the
data pipeline is sound and the gap is the network's own pace. The error of predicting the training
subjects' mean pose in every frame is printed too: the floor that any learner has to beat.

The network runs at ``--frames`` (default 27: the same blocks, a shorter temporal position embedding)
so that the comparison takes minutes; its BAM comes from ``--bam-weights`` (default: the embedded one).
``--objectives full,mpjpe`` trains one network per stage-2 objective from the same initial weights on
the same batches: ``full`` is the released MPJPE + 0.5 N-MPJPE + 20 velocity, ``mpjpe`` the MPJPE term
alone (``TrainConfig(n_mpjpe_weight=0, velocity_weight=0)``). ``--head-inits default,zero`` crosses them
with the output Linear's initialisation (``TrainConfig.head_init``): one network per pair, each named
``objective/head_init``.

    python benchmarks/bench_learning.py [--steps 400] [--frames 27] [--val-stride 8] [--objectives full,mpjpe]
                                        [--head-inits default,zero]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import get_args

import numpy as np
import torch
from _h36m import require_data
from torch import nn

from mtf_pose.evaluation.metrics import mpjpe
from mtf_pose.hub import default_weights_dir
from mtf_pose.model import ModelConfig
from mtf_pose.training.h36m import load_views
from mtf_pose.training.losses import mpjpe_loss
from mtf_pose.training.trainer import TrainConfig, Trainer

# TrainConfig fields of each stage-2 objective the benchmark can compare, and the head initialisations.
OBJECTIVES: dict[str, dict[str, float]] = {
    "full": {},
    "mpjpe": {"n_mpjpe_weight": 0.0, "velocity_weight": 0.0},
}
HEAD_INITS = list(get_args(TrainConfig.model_fields["head_init"].annotation))


class FrameMLP(nn.Module):
    """One frame at a time: root-relative (u, v) and confidence of 17 joints -> 17 root-relative 3D joints."""

    def __init__(self, hidden: int = 1024) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(51, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 51)
        )

    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        relative = torch.cat([keypoints[..., :2] - keypoints[..., :1, :2], keypoints[..., 2:]], dim=-1)
        return self.layers(relative.flatten(-2)).unflatten(-1, (17, 3))


def validate_mlp(mlp: FrameMLP, views: list) -> float:
    """Mean over views of the MPJPE (mm) of the MLP's root-aligned prediction from ground-truth 2D."""
    errors = []
    with torch.no_grad():
        for view in views:
            keypoints = np.concatenate([view.keypoints_gt, np.ones_like(view.keypoints_gt[..., :1])], axis=-1)
            predicted = mlp(torch.from_numpy(keypoints)).numpy() * view.mm_per_unit[:, None, None]
            errors.append(mpjpe(predicted - predicted[:, :1], view.joints_mm).mean())
    return float(np.mean(errors))


def validate_mean_pose(train_views: list, views: list) -> float:
    """MPJPE (mm) of predicting the training subjects' mean pose in every frame: the floor to beat."""
    mean_pose = np.mean(np.concatenate([view.target for view in train_views]), axis=0)
    errors = [mpjpe(np.broadcast_to(mean_pose * view.mm_per_unit[:, None, None], view.joints_mm.shape),
                    view.joints_mm).mean() for view in views]
    return float(np.mean(errors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--frames", type=int, default=27)
    parser.add_argument("--val-stride", type=int, default=8)
    parser.add_argument("--bam-weights", type=Path, default=default_weights_dir())
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--objectives", default="full", help="comma-separated: full, mpjpe")
    parser.add_argument("--head-inits", default="default", help="comma-separated: default, zero")
    args = parser.parse_args()
    objectives = args.objectives.split(",")
    unknown = set(objectives) - set(OBJECTIVES)
    if unknown:
        parser.error(f"unknown objectives {sorted(unknown)}; choose from {sorted(OBJECTIVES)}")
    head_inits = args.head_inits.split(",")
    unknown = set(head_inits) - set(HEAD_INITS)
    if unknown:
        parser.error(f"unknown head inits {sorted(unknown)}; choose from {HEAD_INITS}")
    variants = [(objective, head_init) for objective in objectives for head_init in head_inits]
    root = require_data()
    torch.set_num_threads(args.threads)
    train_views = load_views(root, ["S1", "S5", "S6", "S7"])
    val_views = load_views(root, ["S8"])[:: args.val_stride]

    with tempfile.TemporaryDirectory() as out_dir:
        trainers = {}
        for objective, head_init in variants:
            name = f"{objective}/{head_init}"
            config = TrainConfig(
                stage="lifter", model=ModelConfig(name="tiny", frames=args.frames), data_root=root,
                out_dir=Path(out_dir) / objective / head_init, batch_size=8, learning_rate=5e-4,
                clip_stride=args.frames, bam_weights=args.bam_weights, val_view_stride=1, head_init=head_init,
                **OBJECTIVES[objective],
            )
            # Same seed, so the same initial weights (but the head), batches and stochastic depth for every variant.
            trainers[name] = Trainer(config, train_views=train_views, val_views=val_views, progress=False)
        names = list(trainers)
        trainer = trainers[names[0]]
        torch.manual_seed(0)
        mlp = FrameMLP()
        optimizer = torch.optim.AdamW(mlp.parameters(), lr=5e-4, weight_decay=0.01)
        mm_per_unit = float(np.mean(np.concatenate([view.mm_per_unit for view in train_views])))
        network_losses: dict[str, list[float]] = {name: [] for name in names}
        mlp_losses = []
        started = time.monotonic()
        print(f"{'step':>6}" + "".join(f" {f'network ({n}) train mm':>30}" for n in names) + f" {'MLP train mm':>13}")
        for step in range(args.steps):
            for name, network_trainer in trainers.items():
                network_losses[name].append(network_trainer.train_step(0, step)["mpjpe"])
            inputs, targets = trainer._batch(0, step)
            chosen = torch.randperm(inputs.shape[0] * inputs.shape[1])[:256]
            loss = mpjpe_loss(mlp(inputs.flatten(0, 1)[chosen]), targets.flatten(0, 1)[chosen])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            mlp_losses.append(float(loss.detach()))
            if (step + 1) % 50 == 0:
                print(
                    f"{step + 1:>6}"
                    + "".join(f" {np.mean(network_losses[n][-50:]) * mm_per_unit:>30.1f}" for n in names)
                    + f" {np.mean(mlp_losses[-50:]) * mm_per_unit:>13.1f}",
                    flush=True,
                )
        network_val = {name: t.validate() for name, t in trainers.items()}
        mlp_val = validate_mlp(mlp, val_views)
    print(f"\nafter {args.steps} steps ({time.monotonic() - started:.0f} s), S8 with ground-truth 2D:")
    for name, metrics in network_val.items():
        print(
            f"  MDTF tiny at {args.frames} frames, {name + ':':<16} {metrics['val_mpjpe']:.1f} mm"
            f" (MPJVE {metrics['val_mpjve']:.2f} mm)"
        )
    print(f"  per-frame MLP:             {mlp_val:.1f} mm")
    print(f"  training mean pose:        {validate_mean_pose(train_views, val_views):.1f} mm")
    print("(train columns: mean loss of the last 50 steps, network units times the mean mm per unit)")


if __name__ == "__main__":
    main()
