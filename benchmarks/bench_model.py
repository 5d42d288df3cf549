"""Whole-network inference speed on this CPU, with the machine's matmul peak measured in the same run.

For each preset (tiny, large), backend (numba, torch) and batch (1 and 8 clips of 243 frames): frames per
second without flip averaging (and tiny at batch 8 with it). FLOPs per frame are counted with
``torch.utils.flop_counter.FlopCounterMode`` (matmuls, batched matmuls and convolutions, 2 FLOPs per
multiply-add; elementwise work and the scan recurrence are not FLOPs it counts). The scan's state updates
per frame are counted analytically. Achieved matmul FLOP/s are printed as a fraction of the peak.

    python benchmarks/bench_model.py [--backends numba,torch] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from mtf_pose.model import MDTF, build_model, count_parameters
from mtf_pose.model.mdtf import BidirectionalMamba


def matmul_peak_gflops(size: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def matmul_flops_per_frame(model: MDTF) -> float:
    clip = torch.randn(1, model.config.frames, 17, 3)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(clip)
    return counter.get_total_flops() / model.config.frames


def scan_updates_per_frame(model: MDTF) -> int:
    """exp(delta * A) evaluations per frame: 17 tokens per frame, both directions of every mixer."""
    total = 0
    for module in model.modules():
        if isinstance(module, BidirectionalMamba):
            total += 2 * 17 * module.A_log.numel()
    return total


def frames_per_second(model: MDTF, batch: int, flip: bool, repeats: int) -> float:
    clip = torch.randn(batch, model.config.frames, 17, 3)
    with torch.no_grad():
        model.predict(clip, flip=flip)  # warm-up: numba compiles on first use
        best = min(_timed(lambda: model.predict(clip, flip=flip)) for _ in range(repeats))
    return batch * model.config.frames / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="numba,torch")
    parser.add_argument("--presets", default="tiny,large")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    peak = matmul_peak_gflops()
    policy = os.environ.get("OMP_WAIT_POLICY", "unset")  # as the caller set it: torch loads first here
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY {policy}")
    print(f"matmul peak (2048x2048 fp32): {peak:.1f} GFLOP/s\n")
    header = (
        f"{'preset':<6} {'backend':<7} {'batch':>5} {'flip':>5} {'frames/s':>9} {'ms/clip':>8} "
        f"{'matmul GFLOP/s':>15} {'of peak':>8}"
    )
    print(header)
    print("-" * len(header))
    for preset in args.presets.split(","):
        model = build_model(preset).eval()
        flops = matmul_flops_per_frame(model)
        print(f"{preset}: {count_parameters(model):,} parameters, {flops / 1e6:.1f} MFLOP/frame (matmul, counted), "
              f"{scan_updates_per_frame(model) / 1e3:.0f}k scan state updates/frame (analytic)")
        for backend in args.backends.split(","):
            model.set_backend(backend)
            cases = [(1, False), (8, False)] + ([(8, True)] if preset == "tiny" else [])
            for batch, flip in cases:
                repeats = args.repeats if backend != "torch" else 1
                fps = frames_per_second(model, batch, flip, repeats)
                achieved = fps * flops * (2 if flip else 1) / 1e9
                print(f"{preset:<6} {backend:<7} {batch:>5} {'on' if flip else 'off':>5} {fps:>9.0f} "
                      f"{model.config.frames / fps * 1e3:>8.0f} {achieved:>15.1f} "
                      f"{achieved / peak:>8.1%}")


if __name__ == "__main__":
    main()
