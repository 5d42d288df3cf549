"""Selective-scan timings at the two sequence lengths the network uses.

L = 17: the spatial blocks (joints of one frame; rows = batch * frames = 8 * 243).
L = 243: the temporal blocks (frames of one joint; rows = batch * joints = 8 * 17).
Channels 64, states 16 (the tiny preset). Prints milliseconds per call and ratios to the numba kernel,
all measured in this one run.

    python benchmarks/bench_scan.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

import mtf_pose.model.ops.selective_scan as scan_module
from mtf_pose.model.ops import numba_available, selective_scan, selective_scan_reference


def best_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (numba compiles on first use)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, numba available: {numba_available()}")
    for rows, length in ((8 * 243, 17), (8 * 17, 243)):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(rows, length, 64, generator=g)
        inputs = {
            "x": x, "delta": torch.randn(rows, length, 64, generator=g) * 0.5 - 1,
            "A": -torch.exp(torch.randn(64, 16, generator=g) * 0.5 + 1), "B": torch.randn(rows, length, 16, generator=g),
            "C": torch.randn(rows, length, 16, generator=g), "D": torch.randn(64, generator=g),
            "z": torch.randn(rows, length, 64, generator=g), "delta_bias": torch.randn(64, generator=g),
        }
        results: dict[str, float] = {}
        with torch.no_grad():
            if numba_available():
                results["numba"] = best_ms(lambda: selective_scan(**inputs, backend="numba"), args.repeats)
            default_threshold, default_chunk = scan_module.TORCH_CHUNKED_MIN_LENGTH, scan_module.TORCH_CHUNK
            try:
                scan_module.TORCH_CHUNKED_MIN_LENGTH = 10**9
                results["torch, loop over steps"] = best_ms(lambda: selective_scan(**inputs, backend="torch"), 2)
                scan_module.TORCH_CHUNKED_MIN_LENGTH = 0
                for chunk in (8, 16, 32):
                    scan_module.TORCH_CHUNK = chunk
                    results[f"torch, chunks of {chunk}"] = best_ms(lambda: selective_scan(**inputs, backend="torch"), 2)
            finally:
                scan_module.TORCH_CHUNKED_MIN_LENGTH, scan_module.TORCH_CHUNK = default_threshold, default_chunk
            results["reference (per-step, unfused)"] = best_ms(lambda: selective_scan_reference(**inputs), 1)
        if numba_available():
            leaves = {k: v.clone().requires_grad_() for k, v in inputs.items()}

            def forward_backward() -> None:
                selective_scan(**leaves, backend="numba").sum().backward()

            results["numba forward+backward"] = best_ms(forward_backward, args.repeats)
        updates = rows * length * 64 * 16
        print(f"\nL={length}, rows={rows}, channels=64, states=16 ({updates / 1e6:.1f}M state updates)")
        base = results.get("numba")
        for name, ms in results.items():
            ratio = f"{ms / base:7.1f}x numba" if base else ""
            print(f"  {name:<32} {ms:9.1f} ms  {ms * 1e6 / updates:6.2f} ns/update  {ratio}")


if __name__ == "__main__":
    main()
