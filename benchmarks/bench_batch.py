"""Batch throughput of ``mtf-pose lift``: files per second, frames per second, and where the time goes.

Generates ``--files`` sequences of a walking person, ``--min-frames`` to ``--max-frames`` long (uniformly
drawn, seeded), written in turn in each of ``--formats`` (one person per file), then lifts them all with
the batch engine behind ``mtf-pose lift`` and reports:

- files/s and frames/s over the wall time of the run (input frames, at ``--fps``);
- the time spent reading and checking inputs, lifting and writing outputs. With ``--jobs`` > 0 reading
  and writing run in worker threads alongside the lifting, so their times overlap the wall time; with
  ``--jobs 0`` the three run one after another and add up to it.

Generating the files is not timed. Full size (as in the issue):

    python benchmarks/bench_batch.py --files 200 --min-frames 300 --max-frames 3000

Small:

    python benchmarks/bench_batch.py --files 20 --max-frames 600
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from mtf_pose.batch import BatchOptions, run_batch
from mtf_pose.io import _samples

IMAGE_SIZE = (1920, 1080)

WRITERS: dict[str, Callable[[Path, np.ndarray], Path]] = {
    "npy": lambda stem, k: _samples.write_npy(stem.with_suffix(".npy"), k),
    "npz": lambda stem, k: _samples.write_npz(stem.with_suffix(".npz"), k, layout="coco"),
    "alphapose": lambda stem, k: _samples.write_alphapose(stem.with_suffix(".json"), {1: k}),
    "coco": lambda stem, k: _samples.write_coco_results(stem.with_suffix(".json"), {0: k}),
    "mmpose": lambda stem, k: _samples.write_mmpose(stem.with_suffix(".json"), {0: k}),
    "openpose": lambda stem, k: _samples.write_openpose(
        stem, {0: _samples.coco_to(k, "openpose_body25")}, prefix=stem.name
    ),
}


def generate(
    folder: Path, files: int, min_frames: int, max_frames: int, fps: float, formats: list[str], seed: int
) -> int:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_frames, max_frames + 1, size=files)
    for index, frames in enumerate(lengths):
        keypoints = _samples.walking_person(int(frames), fps=fps, image_size=IMAGE_SIZE, seed=index)
        WRITERS[formats[index % len(formats)]](folder / f"seq{index:04d}", keypoints)
    return int(lengths.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--min-frames", type=int, default=300)
    parser.add_argument("--max-frames", type=int, default=3000)
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate of the sequences (the model runs at 50)")
    parser.add_argument("--formats", default="npy,alphapose,mmpose,coco,npz",
                        help=f"input formats, used in turn (of {', '.join(WRITERS)})")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--no-flip", action="store_true")
    parser.add_argument("--weights", default=None, help="weights folder (default: embedded)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: PyTorch's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    formats = args.formats.split(",")
    unknown = set(formats) - set(WRITERS)
    if unknown:
        parser.error(f"unknown formats {sorted(unknown)}; choose from {sorted(WRITERS)}")
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="bench_batch_") as scratch:
        inputs, outputs = Path(scratch) / "in", Path(scratch) / "out"
        inputs.mkdir()
        started = time.perf_counter()
        frames = generate(inputs, args.files, args.min_frames, args.max_frames, args.fps, formats, args.seed)
        print(f"generated {args.files} files ({frames} frames, {', '.join(formats)}) "
              f"in {time.perf_counter() - started:.1f} s",
              file=sys.stderr)
        options = BatchOptions(
            output_dir=outputs, fps=args.fps, image_size=IMAGE_SIZE, layout="coco", weights=args.weights,
            device="cpu", batch_size=args.batch_size, flip=not args.no_flip, jobs=args.jobs,
        )
        summary = run_batch([inputs], options)
    if summary.failures:
        raise SystemExit("failures: " + "; ".join(map(str, summary.failures)))

    wall = summary.wall_s
    figures = {
        "files": args.files, "frames": summary.frames, "fps_of_sequences": args.fps, "formats": formats,
        "jobs": args.jobs, "batch_size": args.batch_size, "flip": not args.no_flip,
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "wall_s": wall,
        "files_per_s": args.files / wall, "frames_per_s": summary.frames / wall,
        "read_s": summary.read_s, "lift_s": summary.lift_s, "write_s": summary.write_s,
    }
    print(f"{args.files} files, {summary.frames} frames "
          f"({args.min_frames}-{args.max_frames} per file at {args.fps:g} fps; "
          f"{', '.join(formats)}), flip {'on' if not args.no_flip else 'off'}, batch {args.batch_size}, "
          f"jobs {args.jobs}, torch threads {torch.get_num_threads()}")
    print(f"wall time     {wall:8.1f} s   {args.files / wall:6.2f} files/s   {summary.frames / wall:7.0f} frames/s")
    for stage in ("read", "lift", "write"):
        seconds = figures[f"{stage}_s"]
        print(f"  {stage:<10}  {seconds:8.1f} s   {100 * seconds / wall:5.1f} % of the wall time")
    busy = summary.read_s + summary.lift_s + summary.write_s
    print(f"lifting is {100 * summary.lift_s / busy:.1f} % of all stage time (read + lift + write = {busy:.1f} s)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
