"""Lifting at scale with Ray Data (extra ``ray``: ``pip install 'mtf_pose[ray]'``).

Three stages, each a Ray Data transform, streamed so that no stage waits for the whole dataset:

>>> from ray.data import ActorPoolStrategy
>>> from mtf_pose.batch import BatchOptions
>>> from mtf_pose.integrations.ray import LiftBatch, read_keypoint_files, write_result_files
>>> options = BatchOptions(output_dir="/shared/lifted", fps=30, image_size=(1920, 1080))
>>> rows = read_keypoint_files(["/shared/videos"], options)          # one row per person track
>>> lifted = rows.map_batches(LiftBatch, fn_constructor_kwargs={"flip": False}, batch_size=8,
...                           compute=ActorPoolStrategy(size=4), num_cpus=2)   # the network, once per actor
>>> status = write_result_files(lifted, options.output_dir)           # the files mtf-pose lift writes
>>> lifted.write_parquet("/shared/lifted.parquet")                    # or one table

:func:`run_batch` is ``mtf-pose lift --engine ray``: the same batch as the single-process engine
(:func:`mtf_pose.batch.run_batch`), with the same outputs, records of finished inputs and summary.

Reading and writing run as Ray tasks that reserve no CPU (they are light next to the network), so that the
lifting actors can take every CPU of a node without starving them; ``readers`` / ``writers`` cap how many
run at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator
from tqdm.auto import tqdm

try:
    import ray
    import ray.data
    import ray.exceptions
    from ray.data import ActorPoolStrategy, TaskPoolStrategy
    from ray.data.dataset import MaterializedDataset
except ImportError as error:  # pragma: no cover - exercised by the CLI test that hides ray
    raise ImportError(f"mtf_pose.integrations.ray needs Ray Data ({error}): pip install 'mtf_pose[ray]'") from error

from mtf_pose.batch import (
    BatchJob,
    BatchLedger,
    BatchOptions,
    BatchSummary,
    GracefulStop,
    ModelTiming,
    PreparedInput,
    discover_and_count,
    hide_progress,
    lift_isolating_failures,
    list_failures_in_input_order,
    locked_output_dir,
    prepare_input,
    recorded_outputs,
    remove_partial_files,
)
from mtf_pose.io import KeypointSource, get_output_format
from mtf_pose.io.base import Coordinates
from mtf_pose.io.discovery import BatchInput, Failure, discover_inputs
from mtf_pose.layouts import get_layout
from mtf_pose.lifter import Lifter, resolve_device
from mtf_pose.result import DEFAULT_SUBJECT_HEIGHT, LiftResult
from mtf_pose.schemas import MAX_FPS, KeypointInputError, KeypointSequence, validate_sequence
from mtf_pose.skeleton import BONES, JOINT_NAMES

__all__ = ["LiftBatch", "LiftConfig", "RayEngineError", "RayOptions", "read_keypoint_files", "result_from_row",
           "run_batch", "write_result_files"]

# Why a row is not lifted (the ``skip`` column); any other non-empty value is "seen in N frames" (min_frames).
SKIP_OUTPUT_EXISTS = "output exists"
SKIP_NO_PEOPLE = "no people in the input"

_JOINTS, _BONES = len(JOINT_NAMES), len(BONES)
# The result columns of LiftBatch: name -> (shape after the frame axis, dtype).
RESULT_ARRAYS: dict[str, tuple[tuple[int, ...], type[np.generic]]] = {
    "joints_3d": ((_JOINTS, 3), np.float32),
    "joints_3d_normalized": ((_JOINTS, 3), np.float32),
    "confidence": ((_JOINTS,), np.float32),
    "filled": ((_JOINTS,), np.bool_),
    "metres_per_unit": ((), np.float32),
    "bone_lengths": ((_BONES,), np.float32),
    "bone_directions": ((_BONES, 3), np.float32),
}
_NO_IMAGE_SIZE = np.array([np.nan, np.nan])


# -- reading: one row per person track --------------------------------------------------------------------------
def read_keypoint_files(inputs: Sequence[str | Path], options: BatchOptions, *, readers: int = 2) -> ray.data.Dataset:
    """A dataset of every person track in the keypoint files named by ``inputs`` (files, folders searched
    recursively, glob patterns), read in Ray tasks with the readers of :mod:`mtf_pose.io`.

    Each track is checked the way ``mtf-pose lift`` checks it, with ``options`` (format, layout, image size,
    frame rate, person, ``min_frames``, ``skip_existing``, the output names of ``output_format`` under
    ``output_dir``). Columns:

    - ``input``: the file (or OpenPose folder); ``person``: the track's label (``"person 3"``, or empty);
      ``output``: its output file, relative to ``options.output_dir``;
    - ``keypoints`` ``(T, J, 2 or 3)`` float64 (x, y, confidence; NaN where not detected), with ``layout``,
      ``image_size`` ``(2,)`` (NaN when the coordinates need none), ``coordinates`` and ``fps``;
    - ``source``: JSON of where the track comes from (recorded as each result's ``metadata["source"]``);
    - ``skip``: why the row is not lifted (``"output exists"``, ``"seen in 3 frames"``), empty otherwise;
      ``error``: why the input or track cannot be lifted, empty otherwise. A bad file is a row with an
      error, never a failed job;
    - ``input_rows``, ``input_outputs`` (JSON list), ``read_seconds``: the input's number of rows, all its
      output names and its reading time (shared among its rows), for keeping account of whole inputs.
    """
    from mtf_pose.hub import resolve_weights

    discovery = discover_inputs(inputs, options.output_dir)
    items = [_input_item(batch_input) for batch_input in discovery.inputs]
    items += [{**_input_item(None), "input": failure.input, "error": failure.reason} for failure in discovery.failures]
    return _read_dataset(items, options, ModelTiming.of_weights(resolve_weights(options.weights)), readers)


def _input_item(batch_input: BatchInput | None) -> dict[str, Any]:
    if batch_input is None:
        return {"input": "", "path": "", "members": "[]", "name": "", "error": ""}
    source = batch_input.source
    return {"input": str(source), "path": str(source.path), "members": json.dumps([str(m) for m in source.members]),
            "name": batch_input.name, "error": ""}


def _read_dataset(
    items: list[dict[str, Any]], options: BatchOptions, timing: ModelTiming, readers: int
) -> ray.data.Dataset:
    return ray.data.from_items(items).flat_map(
        partial(_read_input, options=options, timing=timing), num_cpus=0,
        compute=TaskPoolStrategy(size=readers),
    )


def _read_input(item: dict[str, Any], *, options: BatchOptions, timing: ModelTiming) -> list[dict[str, Any]]:
    if item["error"]:  # an input that could not even be found
        rows, outputs, seconds = [_row(item["input"], error=item["error"])], [], 0.0
    else:
        source = KeypointSource(Path(item["path"]), tuple(Path(m) for m in json.loads(item["members"])))
        prepared = prepare_input(BatchInput(source, item["name"]), options, timing)
        rows, outputs, seconds = _prepared_rows(item["input"], prepared, options), prepared.outputs, prepared.seconds
    for row in rows:
        row.update(input_rows=len(rows), input_outputs=json.dumps(outputs), read_seconds=seconds / len(rows))
    return rows


def _prepared_rows(label: str, prepared: PreparedInput, options: BatchOptions) -> list[dict[str, Any]]:
    rows = []
    for track in prepared.tracks:
        sequence = track.sequence
        rows.append(_row(
            label, person=track.person, output=track.output.relative_to(options.output_dir).as_posix(),
            keypoints=sequence.keypoints, layout=sequence.layout or "",
            image_size=np.asarray(sequence.image_size, dtype=np.float64) if sequence.image_size else _NO_IMAGE_SIZE,
            coordinates=sequence.coordinates, fps=sequence.fps or math.nan, source=json.dumps(track.source),
        ))
    rows += [_row(label, output=name, skip=SKIP_OUTPUT_EXISTS) for name in prepared.existing]
    rows += [_row(label, person=short.person, skip=short.reason) for short in prepared.short]
    rows += [_row(failure.input, person=failure.person, error=failure.reason) for failure in prepared.failures]
    return rows or [_row(label, skip=SKIP_NO_PEOPLE)]


def _row(input: str, **values: Any) -> dict[str, Any]:
    """A row with every column, so that all blocks share one schema."""
    return {
        "input": input, "person": "", "output": "", "keypoints": np.zeros((0, 0, 3)), "layout": "",
        "image_size": _NO_IMAGE_SIZE, "coordinates": "", "fps": math.nan, "source": "", "skip": "", "error": "",
        **values,
    }


# -- lifting: a callable class for map_batches ------------------------------------------------------------------
class LiftConfig(BaseModel):
    """How :class:`LiftBatch` lifts: the weights and the Lifter's options, and the facts for rows that do not
    carry their own ``layout``, ``image_size``, ``coordinates`` or ``fps`` column (or leave it empty/NaN)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weights: str | None = Field(default=None, description="Weights folder or Hub repo id (default: embedded).")
    device: str = Field(default="auto", description="auto: CUDA when Ray gave the actor a GPU, else CPU.")
    threads: int | None = Field(default=None, ge=1, description="CPU threads; default: the CPUs Ray gave the actor.")
    flip: bool = True
    subject_height: float = Field(default=DEFAULT_SUBJECT_HEIGHT, ge=0.3, le=3.0)
    batch_size: int = Field(default=8, ge=1, description="Clips per network batch.")
    layout: str | None = None
    image_size: tuple[float, float] | None = None
    coordinates: Coordinates = "pixels"
    fps: float | None = Field(default=None, gt=0, le=MAX_FPS)

    @field_validator("weights", mode="before")
    @classmethod
    def _path_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, Path) else value

    @field_validator("layout")
    @classmethod
    def _known_layout(cls, value: str | None) -> str | None:
        if value is not None:
            get_layout(value)
        return value


class LiftBatch:
    """Lifts batches of keypoint rows to 3D: pass the class to ``Dataset.map_batches`` so that every actor
    loads the network once (``fn_constructor_kwargs`` are :class:`LiftConfig` fields).

    Input: a ``keypoints`` column of ``(T, J, 2 or 3)`` arrays of any lengths (rows of several lengths share
    network batches), optionally ``layout``, ``image_size``, ``coordinates``, ``fps`` per row, and ``source``
    (JSON, recorded as ``metadata["source"]``). Rows with a non-empty ``error`` or ``skip`` column are passed
    through unlifted.

    Output: every input column but ``keypoints``, and per row ``joints_3d`` ``(T, 17, 3)`` metres,
    ``joints_3d_normalized``, ``confidence`` and ``filled`` ``(T, 17)``, ``metres_per_unit`` ``(T,)``,
    ``bone_lengths`` ``(T, 16)``, ``bone_directions`` ``(T, 16, 3)``, ``fps``, ``subject_height``,
    ``metadata`` (JSON), ``lift_seconds`` (the row's share of the actor's time) and ``error``: a row that
    cannot be lifted gets the reason there and empty arrays, and the batch goes on.
    :func:`result_from_row` turns a row back into a :class:`~mtf_pose.result.LiftResult`.
    """

    def __init__(self, config: LiftConfig | None = None, **fields: Any) -> None:
        self.config = LiftConfig(**{**(config.model_dump() if config else {}), **fields})
        _use_threads(self.config.threads or _actor_cpus())
        self.lifter = Lifter.from_pretrained(self.config.weights, device=_actor_device(self.config.device))

    def __call__(self, batch: dict[str, NDArray[Any]]) -> dict[str, Any]:
        if not isinstance(batch, dict) or "keypoints" not in batch:
            raise TypeError("LiftBatch takes batches in the numpy format (the default) with a 'keypoints' column")
        rows = len(batch["keypoints"])
        errors = [str(e) if e else "" for e in batch["error"]] if "error" in batch else [""] * rows
        skipped = [bool(s) for s in batch["skip"]] if "skip" in batch else [False] * rows
        sequences: dict[int, KeypointSequence] = {}
        for index in range(rows):
            if errors[index] or skipped[index]:
                continue
            try:
                sequences[index] = self._sequence(batch, index)
            except KeypointInputError as error:
                errors[index] = str(error).removeprefix("invalid keypoint input: ")
        started = time.perf_counter()
        config = self.config
        outcomes = lift_isolating_failures(
            self.lifter, list(sequences.values()), flip=config.flip, subject_height=config.subject_height,
            batch_size=config.batch_size,
        )
        seconds = time.perf_counter() - started
        results: dict[int, LiftResult] = {}
        for index, outcome in zip(sequences, outcomes):
            if isinstance(outcome, str):
                errors[index] = outcome
            else:
                results[index] = outcome
                if "source" in batch and batch["source"][index]:
                    outcome.metadata["source"] = json.loads(batch["source"][index])
        return self._columns(batch, rows, results, errors, seconds)

    def _sequence(self, batch: dict[str, NDArray[Any]], index: int) -> KeypointSequence:
        """The row's keypoints with its own facts, else the config's (a column may be absent, empty, NaN or
        null)."""
        config = self.config

        def given(column: str) -> Any:
            return batch[column][index] if column in batch else None

        image_size: tuple[float, ...] | None = config.image_size
        row_size = given("image_size")
        if row_size is not None and np.isfinite(np.asarray(row_size, dtype=np.float64)).all():
            image_size = tuple(float(side) for side in row_size)  # its length is checked with the sequence
        fps = config.fps
        if math.isfinite(_number(given("fps"))):
            fps = _number(given("fps"))
        return validate_sequence(
            _stacked(batch["keypoints"][index]), layout=str(given("layout") or "") or config.layout,
            image_size=image_size, coordinates=str(given("coordinates") or "") or config.coordinates, fps=fps,
        )

    def _columns(
        self, batch: dict[str, NDArray[Any]], rows: int, results: dict[int, LiftResult], errors: list[str],
        seconds: float,
    ) -> dict[str, Any]:
        columns: dict[str, Any] = {name: values for name, values in batch.items() if name != "keypoints"}
        for name, (shape, dtype) in RESULT_ARRAYS.items():
            empty = np.zeros((0, *shape), dtype=dtype)
            columns[name] = [getattr(results[i], name).astype(dtype) if i in results else empty for i in range(rows)]
        given_fps = batch.get("fps", [None] * rows)
        columns["fps"] = [results[i].fps if i in results else _number(given_fps[i]) for i in range(rows)]
        columns["subject_height"] = [results[i].subject_height if i in results else math.nan for i in range(rows)]
        columns["metadata"] = [json.dumps(results[i].metadata) if i in results else "" for i in range(rows)]
        frames = sum(result.frames for result in results.values())
        columns["lift_seconds"] = [seconds * results[i].frames / frames if i in results else 0.0 for i in range(rows)]
        columns["error"] = errors
        return columns


def _number(value: Any) -> float:
    """A number column's value; NaN for null."""
    return math.nan if value is None else float(value)


def _stacked(keypoints: Any) -> Any:
    """A row's keypoints as one array. Nested list columns (a table that pandas or pyarrow wrote) arrive as
    object arrays of object arrays, one level per axis."""
    if not (isinstance(keypoints, np.ndarray) and keypoints.dtype == object and keypoints.size):
        return keypoints
    try:
        return np.stack([_stacked(item) for item in keypoints])
    except ValueError as error:  # ragged: frames with different numbers of joints or values
        raise KeypointInputError(f"keypoints: not a (frames, joints, 2 or 3) array ({error})") from None


def _in_ray_actor() -> bool:
    return ray.is_initialized() and ray.get_runtime_context().get_actor_id() is not None


def _actor_cpus() -> int | None:
    """The CPUs Ray reserved for this actor, as a thread count (``None`` outside an actor: a driver or a plain
    process keeps PyTorch's own choice)."""
    if not _in_ray_actor():
        return None
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 0.0)
    return max(1, round(cpus)) if cpus > 0 else None


def _actor_device(requested: str) -> str:
    """``auto`` in a Ray actor means the GPU Ray gave it, if any; elsewhere, CUDA when available."""
    if requested != "auto":
        return requested
    if _in_ray_actor():
        return "cuda" if ray.get_runtime_context().get_accelerator_ids().get("GPU") else "cpu"
    return str(resolve_device("auto"))


def _use_threads(threads: int | None) -> None:
    # The PyTorch layers would otherwise use every core of the node, however many actors share it; the numba
    # scan kernels follow PyTorch's count.
    if threads is not None:
        torch.set_num_threads(threads)


def result_from_row(row: dict[str, Any]) -> LiftResult:
    """The :class:`~mtf_pose.result.LiftResult` of a row lifted by :class:`LiftBatch` (or read back from
    its Parquet files)."""
    if row.get("error"):
        raise ValueError(f"{row.get('input', 'this row')}: not lifted ({row['error']})")
    if not row.get("metadata"):
        raise ValueError(f"{row.get('input', 'this row')}: not lifted ({row.get('skip') or 'no result columns'})")
    return LiftResult(
        joints_3d=np.asarray(row["joints_3d"], dtype=np.float32),
        joints_3d_normalized=np.asarray(row["joints_3d_normalized"], dtype=np.float32),
        confidence=np.asarray(row["confidence"], dtype=np.float32),
        filled=np.asarray(row["filled"], dtype=bool),
        fps=float(row["fps"]),
        subject_height=float(row["subject_height"]),
        metres_per_unit=np.asarray(row["metres_per_unit"], dtype=np.float32),
        metadata=json.loads(row["metadata"]),
    )


# -- writing: the files of mtf-pose lift ------------------------------------------------------------------------
def write_result_files(
    dataset: ray.data.Dataset, output_dir: str | Path, *, output_format: str = "npz", writers: int = 2
) -> MaterializedDataset:
    """Write every lifted row of ``dataset`` to ``output_dir / row["output"]`` in ``output_format``, atomically,
    in Ray tasks (``output_dir`` must be a folder every node can write: shared storage on a cluster), and
    run the pipeline. Returns one row per input row, without the arrays: ``written``, ``frames``,
    ``write_seconds`` and ``error`` (a row that could not be written says why; the others are written)."""
    with _no_sizing_hints():
        return _written(dataset, Path(output_dir), output_format, writers).materialize()


def _written(dataset: ray.data.Dataset, output_dir: Path, output_format: str, writers: int) -> ray.data.Dataset:
    get_output_format(output_format)  # an unknown format fails here, not in every task
    return dataset.map_batches(
        partial(_write_rows, output_dir=output_dir, output_format=output_format), num_cpus=0,
        compute=TaskPoolStrategy(size=writers),
    )


def _write_rows(batch: dict[str, NDArray[Any]], *, output_dir: Path, output_format: str) -> dict[str, Any]:
    writer = get_output_format(output_format)
    rows = len(batch["error"])
    columns: dict[str, Any] = {name: values for name, values in batch.items() if name not in RESULT_ARRAYS}
    errors, written, seconds = [str(e) for e in batch["error"]], [False] * rows, [0.0] * rows
    for index in range(rows):
        if errors[index] or not batch["metadata"][index]:
            continue
        name = str(batch["output"][index])
        problem = _unsafe_output_name(name, writer.suffix)
        if problem:
            errors[index] = problem
            continue
        started = time.perf_counter()
        try:
            writer.write(result_from_row({key: values[index] for key, values in batch.items()}), output_dir / name)
        except Exception as error:  # noqa: BLE001 - a full disk or a permission problem, reported per output
            errors[index] = f"cannot write {output_dir / name} ({type(error).__name__}: {error})"
        else:
            written[index], seconds[index] = True, time.perf_counter() - started
    columns.update(error=errors, written=written, write_seconds=seconds,
                   frames=[len(joints) for joints in batch["joints_3d"]])
    return columns


def _unsafe_output_name(name: str, suffix: str) -> str:
    path = Path(name)
    if not name or path.is_absolute() or ".." in path.parts:
        return f"output name {name!r} is not a relative path inside the output folder"
    if not name.endswith(suffix):
        return f"output name {name!r} does not end with {suffix}, the extension of the output format"
    return ""


# -- mtf-pose lift --engine ray ---------------------------------------------------------------------------------
class RayOptions(BaseModel):
    """Where and how wide ``mtf-pose lift --engine ray`` runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str | None = Field(
        default=None, description="Cluster to connect to ('auto', 'HOST:PORT', 'ray://HOST:10001'); None: the one "
        "in RAY_ADDRESS, else a local Ray started for the run (unless this process has already joined one).",
    )
    actors: int | None = Field(default=None, ge=1, description="Lifting actors; default: as many as fit the cluster.")
    cpus_per_actor: float | None = Field(
        default=None, gt=0, description="CPUs each actor reserves, and its threads; default: 1 for CPU actors, none "
        "for GPU actors (their GPU does the work).",
    )
    gpus_per_actor: float = Field(default=0.0, ge=0, description="GPUs of each actor; fractions share a GPU.")
    rows_per_batch: int = Field(default=8, ge=1, description="Person tracks per LiftBatch call.")


def run_batch(
    inputs: Sequence[str | Path], options: BatchOptions, ray_options: RayOptions | None = None, *,
    threads: int | None = None, log: Callable[[str], None] | None = None,
) -> BatchSummary:
    """:func:`mtf_pose.batch.run_batch` on Ray Data: the inputs are read, lifted and written by Ray tasks and
    actors, this process keeps the account (summary, progress, records of finished inputs). The output
    folder (and the inputs) must be reachable under the same paths from every node. ``options.jobs`` is the
    number of read and of write tasks that run at once; ``threads`` the CPU threads of each actor (default:
    its CPUs)."""
    return _RayBatchRun(options, ray_options or RayOptions(), threads, log).run(inputs)


class _RayBatchRun:
    def __init__(
        self, options: BatchOptions, ray_options: RayOptions, threads: int | None, log: Callable[[str], None] | None
    ) -> None:
        from mtf_pose.hub import resolve_weights

        if not options.device.startswith("cuda"):
            resolve_device(options.device)  # a misspelt device fails here; CUDA is the GPU nodes' to check
        if options.device.startswith("cuda") and ray_options.gpus_per_actor == 0:
            raise ValueError(f"device {options.device!r} needs GPU actors: give each some GPUs (--ray-gpus-per-actor)")
        if options.device == "cpu" and ray_options.gpus_per_actor > 0:
            raise ValueError("GPU actors with device 'cpu' would leave their GPUs idle: use device 'auto'")
        self.options, self.ray_options = options, ray_options
        self.timing = ModelTiming.of_weights(resolve_weights(options.weights))
        self.lift_config = LiftConfig(
            weights=options.weights, device=options.device, threads=threads, flip=options.flip,
            subject_height=options.subject_height, batch_size=options.batch_size,
        )
        self.summary = BatchSummary()
        self.log = log or (lambda message: tqdm.write(message, file=sys.stderr))
        self.stop = GracefulStop()
        self._short_inputs: dict[str, str] = {}  # summary line of a person too short -> its input

    def run(self, inputs: Sequence[str | Path]) -> BatchSummary:
        started = time.perf_counter()
        options = self.options
        discovery = discover_and_count(inputs, options.output_dir, self.summary, self.log)
        if not discovery.inputs:
            self.summary.wall_s = time.perf_counter() - started
            return self.summary
        options.output_dir.mkdir(parents=True, exist_ok=True)
        with (
            locked_output_dir(options.output_dir),
            tqdm(
                total=len(discovery.inputs), unit="file", desc="lifting", disable=hide_progress(options),
                file=sys.stderr,
            ) as bar,
        ):
            ledger = BatchLedger(options, self.summary, bar, self.log)
            self.summary.partial_files_removed = remove_partial_files(options.output_dir)
            jobs = {str(batch_input.source): BatchJob(batch_input) for batch_input in discovery.inputs}
            to_read = self._inputs_to_read(list(jobs.values()), ledger)
            if to_read:  # Ray is started (or joined) only for inputs to read
                # Signal handlers after ray.init, which installs its own.
                with (
                    _ray_connected(self.ray_options.address),
                    self.stop.installed("stopping: outputs already written are kept"),
                ):
                    self._stream(to_read, jobs, ledger, started)
        list_failures_in_input_order(self.summary, discovery.inputs)
        self._list_short_in_input_order(discovery.inputs)
        self.summary.wall_s = time.perf_counter() - started
        return self.summary

    def _inputs_to_read(self, jobs: list[BatchJob], ledger: BatchLedger) -> list[BatchJob]:
        """All inputs but, with ``skip_existing``, those an earlier run recorded as finished (settled here)."""
        to_read = []
        for job in jobs:
            recorded = recorded_outputs(self.options, job.input) if self.options.skip_existing else None
            if recorded is None:
                to_read.append(job)
            else:
                ledger.recorded_done(job, recorded)
        return to_read

    def _stream(self, to_read: list[BatchJob], jobs: dict[str, BatchJob], ledger: BatchLedger, started: float) -> None:
        options, ray_options = self.options, self.ray_options
        actors = min(self._actors(), len(to_read))
        io_tasks = max(options.jobs, 1)
        rows = _read_dataset([_input_item(job.input) for job in to_read], options, self.timing, io_tasks)
        lifted = rows.map_batches(
            LiftBatch, fn_constructor_kwargs={"config": self.lift_config}, batch_size=ray_options.rows_per_batch,
            compute=ActorPoolStrategy(size=actors), **_actor_resources(ray_options),
        )
        expected: set[str] = set()
        status = _written(lifted, options.output_dir, options.output_format, io_tasks)
        try:
            for row in status.iter_rows():
                self._settle(row, jobs[row["input"]], expected, ledger)
                ledger.bar.set_postfix_str(f"{self.summary.frames / (time.perf_counter() - started):.0f} frames/s")
                if self.stop.requested:
                    self.summary.interrupted = True
                    self.summary.unfinished = sum(not job.done for job in to_read)
                    break
        except ray.exceptions.RayError as error:  # not one input's fault: an actor that cannot start, a lost node
            raise RayEngineError(f"the Ray job failed: {_last_line(error)}") from error

    def _settle(self, row: dict[str, Any], job: BatchJob, expected: set[str], ledger: BatchLedger) -> None:
        """Account for one row, as the single-process engine accounts for the same outcome."""
        summary = self.summary
        if row["input"] not in expected:
            expected.add(row["input"])
            ledger.expect(job, json.loads(row["input_outputs"]), int(row["input_rows"]))
        summary.read_s += float(row["read_seconds"])
        summary.lift_s += float(row["lift_seconds"])
        summary.frames += int(row["frames"])
        error, skip, person = str(row["error"]), str(row["skip"]), str(row["person"])
        if error:
            ledger.failed(job, Failure(str(row["input"]), error, person))
        elif skip == SKIP_OUTPUT_EXISTS:
            ledger.output_exists(job)
        elif skip == SKIP_NO_PEOPLE:
            ledger.nothing_to_do(job)
        elif skip:
            short = Failure(str(row["input"]), skip, person)
            self._short_inputs[str(short)] = short.input
            ledger.too_short(job, short)
        else:
            ledger.written(job, float(row["write_seconds"]))

    def _list_short_in_input_order(self, inputs: list[BatchInput]) -> None:
        """People too short listed in the order of the inputs, as the single-process engine reads them (Ray's
        workers finish in any order)."""
        position = {str(batch_input.source): index for index, batch_input in enumerate(inputs)}
        self.summary.not_lifted_short.sort(key=lambda entry: position[self._short_inputs[entry]])

    def _actors(self) -> int:
        ray_options = self.ray_options
        if ray_options.actors is not None:
            return ray_options.actors
        resources = ray.cluster_resources()
        if ray_options.gpus_per_actor > 0:
            fit = int(resources.get("GPU", 0) // ray_options.gpus_per_actor)
            if fit == 0:
                raise ValueError(f"the Ray cluster has no GPU for an actor of {ray_options.gpus_per_actor:g} GPUs")
            return fit
        return max(1, int(resources.get("CPU", 1) // (ray_options.cpus_per_actor or 1)))


def _actor_resources(ray_options: RayOptions) -> dict[str, Any]:
    if ray_options.gpus_per_actor == 0:
        return {"num_cpus": ray_options.cpus_per_actor or 1}
    if ray_options.cpus_per_actor is None:
        return {"num_gpus": ray_options.gpus_per_actor}
    return {"num_cpus": ray_options.cpus_per_actor, "num_gpus": ray_options.gpus_per_actor}


class RayEngineError(RuntimeError):
    """Ray could not run the batch: no cluster at the address, an actor that cannot start (weights not
    reachable from a node, no CUDA where a GPU was reserved), a node lost."""


def _last_line(error: BaseException) -> str:
    """The line of a Ray error that says what went wrong: its last one (Ray puts the remote traceback first)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


@contextlib.contextmanager
def _ray_connected(address: str | None) -> Iterator[None]:
    """Connected to Ray for the run: the cluster at ``address`` (else at ``RAY_ADDRESS``, which ``ray job submit``
    sets), else a local instance started for the run. A Ray this process already joined is used as it is, and
    left running."""
    started = not ray.is_initialized()
    if started:
        address = address or os.environ.get("RAY_ADDRESS")
        # The workers' own output stays in Ray's session logs: the run reports every outcome itself.
        try:
            if address:
                ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
            else:
                ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
        except ConnectionError as error:
            raise RayEngineError(f"cannot connect to the Ray cluster at {address!r}: {error}") from None
    try:
        with _quiet_ray_data():
            yield
    finally:
        if started:
            ray.shutdown()


@contextlib.contextmanager
def _quiet_ray_data() -> Iterator[None]:
    """No progress bars, logs or sizing hints of Ray Data: the run has its own progress bar and summary, a
    small run of few files is no mistake, and a failure comes back as one :class:`RayEngineError` (Ray Data
    would print its whole traceback first)."""
    context = ray.data.DataContext.get_current()
    logger = logging.getLogger("ray.data")
    saved = context.enable_progress_bars, context.print_on_execution_start, logger.level
    context.enable_progress_bars, context.print_on_execution_start = False, False
    logger.setLevel(logging.CRITICAL)
    try:
        with _no_sizing_hints():
            yield
    finally:
        context.enable_progress_bars, context.print_on_execution_start = saved[:2]
        logger.setLevel(saved[2])


@contextlib.contextmanager
def _no_sizing_hints() -> Iterator[None]:
    """Without Ray Data's warning that a stage of ``writers`` tasks got fewer blocks than that: with few files
    it is no mistake."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The maximum number of concurrent tasks", category=UserWarning)
        yield
