"""Training throughput on this CPU: optimiser steps of stage 2 (lifter, BAM frozen) and stage 1 (BAM).

Random batches of 243-frame clips; prints frames per second (forward + backward + AdamW step) and the
time one epoch of the recipe takes: Human3.6M S1, S5, S6, S7, four cameras, clips every 243 frames.
Each stage is timed with float32 and with bfloat16 matrix products (``TrainConfig.precision``), the
two measurements taking turns so that their ratio comes from the same conditions.

    python benchmarks/bench_train.py [--steps 5] [--batch 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import math
import os
import time

import torch

from mtf_pose.hub import default_weights_dir
from mtf_pose.model import bone_features, build_model, polar_angle_classes
from mtf_pose.training.losses import lifter_loss, polar_class_loss
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


def gradient_agreement(batch: int) -> float:
    """Cosine between the float32 and the bfloat16 gradient of one stage-2 step, on the embedded weights."""
    model, _ = load_weights(default_weights_dir())
    model.train()
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch, 243, 17, 3, generator=generator) * 0.3
    inputs[..., 2] = 1.0  # confidence
    targets = torch.randn(batch, 243, 17, 3, generator=generator) * 0.2
    with torch.no_grad():
        features = torch.cat([inputs, bone_features(inputs, model.bam.eval()(inputs))], -1)
    gradients = []
    for bfloat16 in (False, True):
        torch.manual_seed(1)  # the same stochastic depth draw
        model.lifter.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            predicted = model.lifter(features).float()
        lifter_loss(predicted, targets)["total"].backward()
        gradients.append(torch.cat([p.grad.flatten() for p in model.lifter.parameters() if p.grad is not None]))
    return float(torch.nn.functional.cosine_similarity(gradients[0], gradients[1], dim=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="Alternations of the two precisions; best kept.")
    args = parser.parse_args()
    policy = os.environ.get("OMP_WAIT_POLICY", "unset")  # as the caller set it: torch loads first here
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY {policy}, "
        f"batch {args.batch} clips of 243 frames"
    )
    float32_ms, bfloat16_ms = product_ms(torch.float32), product_ms(torch.bfloat16)
    print(f"one projection-shaped product: float32 {float32_ms:.2f} ms, bfloat16 {bfloat16_ms:.2f} ms "
          f"({float32_ms / bfloat16_ms:.1f}x)")
    print(f"stage-2 gradient, bfloat16 against float32 (embedded weights): cosine "
          f"{gradient_agreement(args.batch):.5f}")
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
