"""Output formats of ``mtf-pose lift``: a registry of writers keyed by ``--output-format`` name.

A writer is called as ``write(result, path)`` and must write ``path`` atomically (through
:mod:`mtf_pose._atomic`), so that an interrupted run never leaves a half-written output.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtf_pose._atomic import write_text_atomic
from mtf_pose.result import LiftResult


@dataclass(frozen=True)
class OutputFormat:
    name: str
    suffix: str
    """File extension, with the dot."""
    write: Callable[[LiftResult, Path], object]
    description: str


_OUTPUT_FORMATS: dict[str, OutputFormat] = {}


def register_output_format(output_format: OutputFormat) -> None:
    if output_format.name in _OUTPUT_FORMATS:
        raise ValueError(f"an output format named {output_format.name!r} is already registered")
    _OUTPUT_FORMATS[output_format.name] = output_format


def get_output_format(name: str) -> OutputFormat:
    try:
        return _OUTPUT_FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown output format {name!r}; choose one of {list_output_formats()}") from None


def list_output_formats() -> list[str]:
    return list(_OUTPUT_FORMATS)


def csv_columns(result: LiftResult) -> list[str]:
    joints = result.joint_names
    return (
        ["frame", "time_s", "source_frame"]
        + [f"{joint}_{axis}" for joint in joints for axis in "xyz"]
        + [f"{joint}_confidence" for joint in joints]
    )


def write_csv(result: LiftResult, path: Path) -> None:
    """One row per frame: frame, time in seconds, source frame number, x y z of every joint in metres,
    then every joint's input confidence (0 where it was missing and filled in)."""
    first_frame = int(result.metadata.get("source", {}).get("first_frame", 0))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(csv_columns(result))
    joints = result.joints_3d.reshape(result.frames, -1)
    for frame in range(result.frames):
        writer.writerow(
            [frame, f"{frame / result.fps:.6f}", first_frame + frame]
            + [f"{value:.6f}" for value in joints[frame]]
            + [f"{value:.4f}" for value in np.asarray(result.confidence[frame], dtype=np.float64)]
        )
    write_text_atomic(path, buffer.getvalue())


def write_bvh_animation(result: LiftResult, path: Path) -> None:
    """BVH with ``mtf-pose export-bvh``'s defaults: Y-up, metres, humanoid names, constant bone lengths."""
    from mtf_pose.export.bvh import write_bvh

    write_bvh(result, path)


register_output_format(
    OutputFormat("npz", ".npz", LiftResult.save, "LiftResult arrays, compressed (LiftResult.load reads it)")
)
register_output_format(OutputFormat("json", ".json", LiftResult.save, "LiftResult as JSON (LiftResult.load reads it)"))
register_output_format(OutputFormat("csv", ".csv", write_csv, "one row per frame: joints in metres and confidence"))
register_output_format(
    OutputFormat("bvh", ".bvh", write_bvh_animation, "BVH animation over a constant skeleton (see export-bvh)")
)
