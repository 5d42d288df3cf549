"""Selective-scan timings at the two sequence lengths the network uses, and the alternatives not taken.

L = 17: the spatial blocks (joints of one frame; rows = batch * frames = 8 * 243).
L = 243: the temporal blocks (frames of one joint; rows = batch * joints = 8 * 17).
Channels 64, states 16 (the tiny preset). Prints milliseconds per call and ratios to the numba kernel,
all measured in this one run.

    python benchmarks/bench_scan.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from functools import partial

import torch

from mtf_pose.model.ops import numba_available, selective_scan, selective_scan_reference


def best_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (numba compiles on first use)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def linear_recurrence_loop(decay: torch.Tensor, drive: torch.Tensor) -> torch.Tensor:
    """h_t = decay_t * h_{t-1} + drive_t along dim 1, over decays and drives materialised for every step."""
    states = torch.empty_like(drive)
    h = drive[:, 0]
    states[:, 0] = h
    for t in range(1, drive.shape[1]):
        h = torch.addcmul(drive[:, t], decay[:, t], h)
        states[:, t] = h
    return states


def linear_recurrence_chunked(decay: torch.Tensor, drive: torch.Tensor, chunk: int) -> torch.Tensor:
    """The same recurrence in chunks: about ``chunk + length / chunk`` Python steps instead of ``length``.

    1. Every chunk is scanned from a zero state, all chunks at once (``chunk`` steps), and the running
       product of its decays is kept.
    2. The states entering each chunk are carried across chunks (``length / chunk`` small steps).
    3. Each step adds its chunk's entering state times the running decay product.
    Only products of decays (values in (0, 1]) are formed, never their quotients, so nothing overflows.
    """
    batch, length = drive.shape[:2]
    pad = (-length) % chunk
    if pad:  # decay 1 and drive 0 leave the state unchanged
        tail = drive.shape[2:]
        decay = torch.cat([decay, decay.new_ones(batch, pad, *tail)], dim=1)
        drive = torch.cat([drive, drive.new_zeros(batch, pad, *tail)], dim=1)
    chunks = decay.shape[1] // chunk
    decay = decay.reshape(batch, chunks, chunk, *decay.shape[2:])
    drive = drive.reshape(batch, chunks, chunk, *drive.shape[2:])
    local = linear_recurrence_loop(decay.transpose(1, 2), drive.transpose(1, 2)).transpose(1, 2)
    decay_product = torch.cumprod(decay, dim=2)
    carry = torch.zeros_like(local[:, 0, 0])
    entering = [carry]  # the state before each chunk
    for c in range(1, chunks):
        carry = torch.addcmul(local[:, c - 1, -1], decay_product[:, c - 1, -1], carry)
        entering.append(carry)
    states = torch.addcmul(local, decay_product, torch.stack(entering, dim=1)[:, :, None])
    return states.reshape(batch, chunks * chunk, *states.shape[3:])[:, :length]


def torch_scan(inputs: dict[str, torch.Tensor], chunk: int | None) -> torch.Tensor:
    """The alternatives not taken: every step's decay and drive materialised, then a loop (chunk None) or chunks."""
    x, A, B, C, D, z = (inputs[k] for k in ("x", "A", "B", "C", "D", "z"))
    dt = torch.nn.functional.softplus(inputs["delta"] + inputs["delta_bias"])
    decay = torch.exp(dt[..., None] * A)
    drive = (dt * x)[..., None] * B[:, :, None, :]
    if chunk is None:
        states = linear_recurrence_loop(decay, drive)
    else:
        states = linear_recurrence_chunked(decay, drive, chunk)
    return (torch.einsum("bldn,bln->bld", states, C) + D * x) * torch.nn.functional.silu(z)


def numba_forward_backward(leaves: dict[str, torch.Tensor]) -> None:
    selective_scan(**leaves, backend="numba").sum().backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    policy = os.environ.get("OMP_WAIT_POLICY", "unset")  # as the caller set it: torch loads first here
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY {policy}, "
        f"numba available: {numba_available()}"
    )
    for rows, length in ((8 * 243, 17), (8 * 17, 243)):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(rows, length, 64, generator=g)
        inputs = {
            "x": x, "delta": torch.randn(rows, length, 64, generator=g) * 0.5 - 1,
            "A": -torch.exp(torch.randn(64, 16, generator=g) * 0.5 + 1),
            "B": torch.randn(rows, length, 16, generator=g),
            "C": torch.randn(rows, length, 16, generator=g), "D": torch.randn(64, generator=g),
            "z": torch.randn(rows, length, 64, generator=g), "delta_bias": torch.randn(64, generator=g),
        }
        results: dict[str, float] = {}
        with torch.no_grad():
            if numba_available():
                results["numba"] = best_ms(partial(selective_scan, **inputs, backend="numba"), args.repeats)
            results["torch (the library's loop, state kept small)"] = best_ms(
                partial(selective_scan, **inputs, backend="torch"), 2
            )
            reference_loop = torch_scan(inputs, None)
            results["torch, materialised, loop (alternative)"] = best_ms(partial(torch_scan, inputs, None), 2)
            for chunk in (8, 16, 32):
                chunked = torch_scan(inputs, chunk)
                assert torch.allclose(chunked, reference_loop, rtol=1e-4, atol=1e-5), "chunked scan disagrees"
                results[f"torch, chunks of {chunk} (alternative)"] = best_ms(partial(torch_scan, inputs, chunk), 2)
            results["reference (per-step, unfused)"] = best_ms(partial(selective_scan_reference, **inputs), 1)
        if numba_available():
            leaves = {k: v.clone().requires_grad_() for k, v in inputs.items()}
            results["numba forward+backward"] = best_ms(partial(numba_forward_backward, leaves), args.repeats)
        updates = rows * length * 64 * 16
        print(f"\nL={length}, rows={rows}, channels=64, states=16 ({updates / 1e6:.1f}M state updates)")
        base = results.get("numba")
        for name, ms in results.items():
            ratio = f"{ms / base:7.1f}x numba" if base else ""
            print(f"  {name:<46} {ms:9.1f} ms  {ms * 1e6 / updates:6.2f} ns/update  {ratio}")


if __name__ == "__main__":
    main()
