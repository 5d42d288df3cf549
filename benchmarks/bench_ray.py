"""Files per second of ``mtf-pose lift`` on one machine: the single-process engine against ``--engine ray`` with
1 and 2 lifting actors, on the same generated folder, in one run (so that the ratios compare like with like).

Generates ``--files`` walking-person sequences (``--min-frames`` to ``--max-frames`` long, seeded) as ``.npy``
files, then runs the command line, each time as a fresh process into a fresh output folder:

1. ``mtf-pose lift`` (the single-process engine), ``--threads`` threads;
2. ``mtf-pose lift --engine ray --address ADDR --ray-actors N`` for each N of ``--workers``, on a Ray instance
   this script starts beforehand (``ray.init(num_cpus=max(workers))``), as on a cluster that is already up;
   each actor gets 1 CPU and ``--threads`` threads;
3. the same with the most workers, without ``--address``: the run starts (and stops) a Ray of its own, as
   ``mtf-pose lift --engine ray`` does by default on one machine.

For each run it prints the process's wall time (Python start-up and imports included), the engine's wall time
(from ``--report``), files/s and frames/s over the process's wall time, the ratio to the single-process engine,
and the network's time summed over all actors. Before the timed runs, one untimed run on one file fills the
compiled-kernel caches. ``--small-network`` lifts with a network of one 16-channel block (the tests' network)
instead of the embedded weights: lifting then costs next to nothing and what is left is the overhead.

    python benchmarks/bench_ray.py --files 16
    python benchmarks/bench_ray.py --files 16 --small-network
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import ray

import mtf_pose
from mtf_pose.io import _samples

IMAGE_SIZE = (1920, 1080)
MTF_POSE = [sys.executable, "-m", "mtf_pose.cli"]


@dataclass
class Measured:
    run: str
    workers: int
    process_s: float
    engine_s: float
    files: int
    frames: int
    lift_s: float

    @property
    def files_per_s(self) -> float:
        return self.files / self.process_s


def generate(folder: Path, files: int, min_frames: int, max_frames: int, fps: float, seed: int) -> int:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_frames, max_frames + 1, size=files)
    for index, frames in enumerate(lengths):
        keypoints = _samples.walking_person(int(frames), fps=fps, image_size=IMAGE_SIZE, seed=index)
        _samples.write_npy(folder / f"seq{index:04d}.npy", keypoints)
    return int(lengths.sum())


def small_network(folder: Path) -> Path:
    """The tests' network: the same architecture with one block of 16 channels, random weights."""
    import torch

    from mtf_pose.model import BamConfig, ModelConfig
    from mtf_pose.model.mdtf import MDTF
    from mtf_pose.weights import WeightsConfig, save_weights

    config = ModelConfig(name="bench-small", depth=1, channels=16, bam=BamConfig(depth=1, channels=16))
    torch.manual_seed(0)
    return save_weights(folder, MDTF(config), WeightsConfig(model=config))


def lift(run: str, workers: int, inputs: Path, output: Path, common: list[str], extra: list[str]) -> Measured:
    report = output.with_suffix(".json")
    command = [*MTF_POSE, "lift", str(inputs), "-o", str(output), "--report", str(report), *common, *extra]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    process_s = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{run} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    summary = json.loads(report.read_text(encoding="utf-8"))
    return Measured(run, workers, process_s, summary["wall_s"], summary["lifted"], summary["frames"], summary["lift_s"])


def workers_import_this_copy() -> None:
    # Ray's workers inherit the environment: they must import the mtf_pose this script runs.
    here = str(Path(mtf_pose.__file__).resolve().parents[1])
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))


def print_table(results: list[Measured], baseline: Measured) -> None:
    print(f"{'run':<40} {'process':>8} {'engine':>8} {'files/s':>8} {'frames/s':>9} {'vs local':>9} {'network':>8}")
    for result in results:
        print(
            f"{result.run:<40} {result.process_s:7.1f}s {result.engine_s:7.1f}s {result.files_per_s:8.2f} "
            f"{result.frames / result.process_s:9.0f} {result.files_per_s / baseline.files_per_s:8.2f}x "
            f"{result.lift_s:7.1f}s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--min-frames", type=int, default=150)
    parser.add_argument("--max-frames", type=int, default=450)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--workers", default="1,2", help="numbers of Ray lifting actors to measure (default: 1,2)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of the single process and of each actor")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--weights", default=None, help="weights folder (default: embedded)")
    parser.add_argument("--small-network", action="store_true", help="a tiny random network: measures the overhead")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    workers = sorted({int(n) for n in args.workers.split(",")})
    if args.small_network and args.weights:
        parser.error("--small-network and --weights exclude each other")

    with tempfile.TemporaryDirectory(prefix="bench_ray_") as scratch_dir:
        scratch = Path(scratch_dir)
        inputs, warm_up = scratch / "in", scratch / "warm-up"
        frames = generate(inputs, args.files, args.min_frames, args.max_frames, args.fps, args.seed)
        generate(warm_up, 1, 30, 30, args.fps, args.seed)
        weights = str(small_network(scratch / "weights")) if args.small_network else args.weights
        network = "small network (1 block of 16 channels)" if args.small_network else weights or "embedded weights"
        common = ["--fps", str(args.fps), "--image-size", "1920x1080", "--layout", "coco", "--no-flip", "--no-progress",
                  "--batch-size", str(args.batch_size), "--threads", str(args.threads), "--device", "cpu"]
        if weights:
            common += ["--weights", weights]
        print(f"{args.files} files, {frames} frames ({args.min_frames}-{args.max_frames} per file at "
              f"{args.fps:g} fps), {network}, no flip, batch {args.batch_size}, {args.threads} thread(s) per process "
              f"or actor, {os.cpu_count()} CPUs", flush=True)
        lift("warm-up", 0, warm_up, scratch / "out-warm-up", common, [])

        results = [lift("single process (mtf-pose lift)", 0, inputs, scratch / "out-local", common, [])]
        workers_import_this_copy()
        started = time.perf_counter()
        ray.init(num_cpus=max(workers), include_dashboard=False, logging_level=logging.WARNING)
        ray_start_s = time.perf_counter() - started
        address = ray.get_runtime_context().gcs_address
        try:
            for count in workers:
                results.append(lift(f"--engine ray, {count} worker(s), Ray running", count, inputs,
                                    scratch / f"out-ray{count}", common,
                                    ["--engine", "ray", "--address", address, "--ray-actors", str(count)]))
        finally:
            ray.shutdown()
        most = max(workers)
        results.append(lift(f"--engine ray, {most} worker(s), own Ray", most, inputs, scratch / "out-own",
                            common, ["--engine", "ray", "--ray-actors", str(most)]))

    print(f"starting a local Ray instance (ray.init): {ray_start_s:.1f} s")
    print_table(results, results[0])
    if args.json:
        figures = {"files": args.files, "frames": frames, "network": network, "threads": args.threads,
                   "cpu_count": os.cpu_count(), "ray_start_s": ray_start_s,
                   "runs": [{**asdict(r), "files_per_s": r.files_per_s} for r in results]}
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
