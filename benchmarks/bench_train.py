"""Training throughput on this CPU: optimiser steps of stage 2 (lifter, BAM frozen) and stage 1 (BAM).

Random batches of 243-frame clips; prints frames per second (forward + backward + AdamW step) and the
time one epoch of the recipe takes: Human3.6M S1, S5, S6, S7, four cameras, clips every 243 frames.
Each stage is timed with float32 and with bfloat16 matrix products (``TrainConfig.precision``), the
two measurements taking turns so that their ratio comes from the same conditions. Then the accuracy
side: on the embedded weights and real training clips (random ones without ``../shared``), how closely
the bfloat16 gradient of a stage-2 step follows the float32 one, per loss term.

    python benchmarks/bench_train.py [--steps 5] [--batch 8] [--rounds 2] [--weights DIR ...] [--no-timing]
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from _h36m import DEFAULT_ROOT

from mtf_pose.hub import default_weights_dir
from mtf_pose.model import bone_features, build_model, polar_angle_classes
from mtf_pose.training.augment import AugmentConfig, make_training_input
from mtf_pose.training.clips import clip_indices
from mtf_pose.training.h36m import data_root_error, load_views
from mtf_pose.training.losses import lifter_loss, polar_class_loss
from mtf_pose.training.trainer import cpu_has_fast_bfloat16
from mtf_pose.weights import load_weights

# Frames per camera of the training subjects in ../shared/data/h36m (S1 62,094; S5 87,054; S6 62,466;
# S7 89,808), four cameras each, one clip start every 243 frames plus one aligned to each view's end
# (counted with mtf_pose.training.clips.clip_starts).
TRAINING_CLIPS = 5_188


def measure(stage: str, batch: int, steps: int, precision: str) -> float:
    torch.manual_seed(0)
    model = build_model("tiny").train()
    trained = model.bam if stage == "bam" else model.lifter
    optimizer = torch.optim.AdamW(trained.parameters(), lr=1e-4)
    inputs, targets = torch.randn(batch, 243, 17, 3), torch.randn(batch, 243, 17, 3) * 0.2

    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16")

    def step() -> None:  # as Trainer.train_step
        if stage == "bam":
            with autocast:
                logits = model.bam(inputs).float()
            loss = polar_class_loss(logits, polar_angle_classes(targets))
        else:
            with torch.no_grad():
                features = bone_features(inputs, model.bam.eval()(inputs))
            with autocast:
                predicted = model.lifter(torch.cat([inputs, features], -1)).float()
            loss = lifter_loss(predicted, targets)["total"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()  # warm-up: numba compiles the backward kernels
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch * 243 / (time.perf_counter() - start)


def product_ms(dtype: torch.dtype, repeats: int = 20) -> float:
    """Best time of one product of the blocks' projection shape: (batch 8 x 243 frames x 17 joints, 64) @ (64, 128)."""
    a, b = torch.randn(8 * 243 * 17, 64, dtype=dtype), torch.randn(64, 128, dtype=dtype)
    a @ b
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = min(best, (time.perf_counter() - start) / repeats)
    return best * 1e3


def real_clips(count: int, first_view: int = 0) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``count`` augmented training clips of S1 as the trainer makes them, or None without the data."""
    if data_root_error(DEFAULT_ROOT):
        return None
    views = load_views(DEFAULT_ROOT, ["S1"])
    rng = np.random.default_rng(first_view)
    inputs, targets = [], []
    for view in views[first_view :: max(len(views) // count, 1)][:count]:
        index = clip_indices(min(500, view.frames // 2), 243, view.frames)
        x, y = make_training_input(
            view.keypoints_gt[index], view.keypoints_detected[index], view.target[index], rng, AugmentConfig()
        )
        inputs.append(x)
        targets.append(y)
    return torch.from_numpy(np.stack(inputs)), torch.from_numpy(np.stack(targets))


def gradient_agreement(batch: int, weights: Path) -> tuple[str, dict[str, float], dict[str, float]]:
    """Stage-2 step on ``weights``: per loss term, the cosine between the float32 and the bfloat16
    gradient, and the term's value under each precision."""
    model, _ = load_weights(weights)
    model.train()
    clips = real_clips(batch)
    if clips is None:
        source = "random clips (no Human3.6M data found)"
        generator = torch.Generator().manual_seed(0)
        inputs = torch.randn(batch, 243, 17, 3, generator=generator) * 0.3
        inputs[..., 2] = 1.0  # confidence
        targets = torch.randn(batch, 243, 17, 3, generator=generator) * 0.2
    else:
        source = f"{batch} augmented S1 training clips"
        inputs, targets = clips
    with torch.no_grad():
        features = torch.cat([inputs, bone_features(inputs, model.bam.eval()(inputs))], -1)
    cosines, values, float32_gradients = {}, {}, {}
    for term in ("total", "mpjpe", "velocity"):
        gradients = []
        for bfloat16 in (False, True):
            torch.manual_seed(1)  # the same stochastic depth draw
            model.lifter.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
                predicted = model.lifter(features).float()
            loss = lifter_loss(predicted, targets)[term]
            loss.backward()
            values[f"{term} {'bfloat16' if bfloat16 else 'float32'}"] = float(loss.detach())
            gradients.append(torch.cat([p.grad.flatten() for p in model.lifter.parameters() if p.grad is not None]))
        cosines[term] = float(torch.nn.functional.cosine_similarity(gradients[0], gradients[1], dim=0))
        float32_gradients[term] = gradients[0]
    other_batch = real_clips(batch, first_view=1)
    if other_batch is not None:  # for scale: how far apart the float32 gradients of two different batches are
        other_inputs, other_targets = other_batch
        torch.manual_seed(1)
        model.lifter.zero_grad()
        with torch.no_grad():
            other_features = torch.cat([other_inputs, bone_features(other_inputs, model.bam(other_inputs))], -1)
        lifter_loss(model.lifter(other_features), other_targets)["total"].backward()
        other = torch.cat([p.grad.flatten() for p in model.lifter.parameters() if p.grad is not None])
        cosines["total, another batch (float32)"] = float(
            torch.nn.functional.cosine_similarity(float32_gradients["total"], other, dim=0)
        )
    return source, cosines, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="Alternations of the two precisions; best kept.")
    parser.add_argument("--weights", type=Path, action="append",
                        help="weights folder(s) for the gradient agreement (default: the embedded ones)")
    parser.add_argument("--no-timing", action="store_true", help="only the gradient agreement")
    args = parser.parse_args()
    policy = os.environ.get("OMP_WAIT_POLICY", "unset")  # as the caller set it: torch loads first here
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY {policy}, "
        f"batch {args.batch} clips of 243 frames; CPU {torch.backends.cpu.get_cpu_capability()}, "
        f"native bfloat16 products: {'yes' if cpu_has_fast_bfloat16() else 'no'}"
    )
    if not args.no_timing:
        float32_ms, bfloat16_ms = product_ms(torch.float32), product_ms(torch.bfloat16)
        print(f"one projection-shaped product: float32 {float32_ms:.2f} ms, bfloat16 {bfloat16_ms:.2f} ms "
              f"({float32_ms / bfloat16_ms:.1f}x)")
    for weights in args.weights or [default_weights_dir()]:
        source, cosines, values = gradient_agreement(args.batch, weights)
        print(f"stage-2 step on {weights}, {source}; gradient cosine bfloat16 vs float32 per loss term: "
              + ", ".join(f"{term} {cosine:.4f}" for term, cosine in cosines.items()))
        print("  loss terms: " + ", ".join(f"{name} {value:.5f}" for name, value in values.items()))
    if args.no_timing:
        return
    epoch_frames = TRAINING_CLIPS * 243
    for stage, batch in (("lifter", args.batch), ("bam", 4 * args.batch)):
        best = {"float32": 0.0, "bfloat16": 0.0}
        for _ in range(args.rounds):
            for precision, fastest in best.items():
                best[precision] = max(fastest, measure(stage, batch, args.steps, precision))
        for precision, fps in best.items():
            print(f"stage {stage:<6} {precision:<8} {fps:7.0f} frames/s   one epoch ({TRAINING_CLIPS} clips, "
                  f"{epoch_frames / 1e6:.2f}M frames): {epoch_frames / fps / 60:.0f} min")
        print(f"stage {stage:<6} bfloat16 / float32: {best['bfloat16'] / best['float32']:.2f}x")


if __name__ == "__main__":
    main()
