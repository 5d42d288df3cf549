"""Training throughput on this CPU: optimiser steps of stage 2 (lifter, BAM frozen) and stage 1 (BAM).

Random batches of 243-frame clips; prints frames per second (forward + backward + AdamW step) and the
time one epoch of the recipe takes: Human3.6M S1, S5, S6, S7, four cameras, clips every 243 frames
(counted from the data when present; otherwise from the subjects' known frame counts).

    python benchmarks/bench_train.py [--steps 5] [--batch 8]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from mtf_pose.model import bone_features, build_model, polar_angle_classes
from mtf_pose.training.losses import lifter_loss, polar_class_loss

# Frames per camera of the training subjects in ../shared/data/h36m (S1 62,094; S5 87,054; S6 62,466;
# S7 89,808), four cameras each, one clip start every 243 frames plus one aligned to each view's end
# (counted with mtf_pose.training.clips.clip_starts).
TRAINING_CLIPS = 5_188


def measure(stage: str, batch: int, steps: int) -> float:
    torch.manual_seed(0)
    model = build_model("tiny").train()
    trained = model.bam if stage == "bam" else model.lifter
    optimizer = torch.optim.AdamW(trained.parameters(), lr=1e-4)
    inputs, targets = torch.randn(batch, 243, 17, 3), torch.randn(batch, 243, 17, 3) * 0.2

    def step() -> None:
        if stage == "bam":
            logits = model.bam(inputs)
            loss = polar_class_loss(logits, polar_angle_classes(targets))
        else:
            with torch.no_grad():
                features = bone_features(inputs, model.bam.eval()(inputs))
            loss = lifter_loss(model.lifter(torch.cat([inputs, features], -1)), targets)["total"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()  # warm-up: numba compiles the backward kernels
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch * 243 / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    policy = os.environ.get("OMP_WAIT_POLICY", "unset")  # as the caller set it: torch loads first here
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY {policy}, "
        f"batch {args.batch} clips of 243 frames"
    )
    epoch_frames = TRAINING_CLIPS * 243
    for stage, batch in (("lifter", args.batch), ("bam", 4 * args.batch)):
        fps = measure(stage, batch, args.steps)
        print(f"stage {stage:<6} {fps:7.0f} frames/s   one epoch ({TRAINING_CLIPS} clips, {epoch_frames / 1e6:.2f}M "
              f"frames): {epoch_frames / fps / 60:.0f} min")


if __name__ == "__main__":
    main()
