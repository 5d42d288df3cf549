"""OpenMP's wait policy and the numba kernels: PyTorch's default spinning against passive waiting.

``import mtf_pose`` sets ``OMP_WAIT_POLICY=PASSIVE`` when torch is not loaded yet, numba is installed
and the variable is unset. This prints what that buys: the time of one stage-2 training step (batch 8
clips of 243 frames, forward + backward + AdamW) and lifting speed (tiny, numba; batch 8 with flip
averaging, batch 1 without; and batch 1 on the pure-PyTorch backend, which passive waiting slows). Each
is measured in fresh processes that take turns, so all settings see the same machine: torch imported
first with the variable unset (OpenMP's default), the variable set by hand, and mtf_pose imported first
with the variable unset (the package's default).

    python benchmarks/bench_threads.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

# name: (OMP_WAIT_POLICY, module the worker imports first)
SETTINGS = {
    "torch first, unset": (None, "torch"),
    "PASSIVE by hand": ("PASSIVE", "torch"),
    "mtf_pose first, unset": (None, "mtf_pose"),
}


def worker(first: str) -> None:
    """One measurement in this process; prints a JSON line."""
    import importlib

    importlib.import_module(first)
    # This folder's benchmarks: the same training step and the same lifting measurement.
    from bench_model import frames_per_second
    from bench_train import measure

    from mtf_pose.model import build_model

    result = {"train_step_s": 8 * 243 / measure("lifter", batch=8, steps=3, precision="float32")}
    model = build_model("tiny").eval()
    for batch, flip in ((8, True), (1, False)):
        result[f"lift_b{batch}_{'flip' if flip else 'noflip'}_fps"] = frames_per_second(model, batch, flip, 5)
    # The pure-PyTorch backend: many small parallel regions per scan step, where spinning pays.
    result["lift_b1_noflip_fps_torch_backend"] = frames_per_second(model.set_backend("torch"), 1, False, 3)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in SETTINGS}
    for round_index in range(args.rounds):
        for name, (policy, first) in SETTINGS.items():
            env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
            if policy is not None:
                env["OMP_WAIT_POLICY"] = policy
            output = subprocess.run(
                [sys.executable, __file__, "--worker", first], env=env, capture_output=True, text=True, check=True
            ).stdout
            runs[name].append(json.loads(output.strip().splitlines()[-1]))
            print(f"round {round_index + 1}: {name}: {runs[name][-1]}", flush=True)
    metrics = list(runs[next(iter(SETTINGS))][0])
    medians = {name: {m: statistics.median(r[m] for r in results) for m in metrics} for name, results in runs.items()}
    default = medians[next(iter(SETTINGS))]
    print(f"\nmedians over {args.rounds} rounds; in brackets: speed-up over the first column")
    print(" " * 22 + "".join(f"{name:>30}" for name in SETTINGS))
    for metric in metrics:
        cells = []
        for name in SETTINGS:
            value = medians[name][metric]
            speedup = default[metric] / value if metric.endswith("_s") else value / default[metric]
            cells.append(f"{value:.2f} ({speedup:.2f}x)")
        print(f"{metric:<22}" + "".join(f"{cell:>30}" for cell in cells))


if __name__ == "__main__":
    main()
