"""Lifting many keypoint files: the engine behind ``mtf-pose lift``.

The work flows in three stages. Worker threads read inputs ahead of the model and check every person's
sequence (``jobs`` threads); the main thread lifts sequences from several files together, so short files
share network batches; worker threads write the results behind it. Every output is written atomically,
and an input's outputs are recorded in ``OUTDIR/.mtf-pose/done/`` once all of them are written, so a
rerun with ``skip_existing`` skips finished inputs without reading them and resumes the rest.

A bad input is reported and the batch goes on. The first SIGINT or SIGTERM lets the sequences being
lifted finish and be written, then stops; a second one stops at once (writes in flight still complete or
leave nothing).
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from tqdm.auto import tqdm

from mtf_pose._atomic import PARTIAL_SUFFIX, write_text_atomic
from mtf_pose.io import KeypointReadError, PersonTrack, get_output_format, get_reader, read_keypoints
from mtf_pose.io._layouts import guess_17_joint_layout
from mtf_pose.io.base import Coordinates, guess_coordinates
from mtf_pose.io.discovery import BatchInput, Discovery, Failure, discover_inputs
from mtf_pose.layouts import get_layout, layouts_with
from mtf_pose.lifter import Lifter, clip_plan, resolve_device
from mtf_pose.result import DEFAULT_SUBJECT_HEIGHT, LiftResult
from mtf_pose.schemas import MAX_FPS, KeypointInputError, KeypointSequence, prepare, validate_sequence

if sys.platform != "win32":
    import fcntl

STATE_DIR = ".mtf-pose"
# Sequences from several files are lifted together until their clips fill this many network batches.
GROUP_BATCHES = 2
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")

T = TypeVar("T")


class BatchOptions(BaseModel):
    """Everything ``mtf-pose lift`` can be told. Per-file facts (layout, image size, frame rate,
    coordinates) come from the file when its format records them; these options fill the gaps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    output_dir: Path
    output_format: str = "npz"
    format: str | None = Field(default=None, description="Reader to use instead of detecting each file's format.")
    layout: str | None = None
    image_size: tuple[float, float] | None = None
    coordinates: Coordinates | None = None
    fps: float | None = Field(default=None, gt=0, le=MAX_FPS)
    person: str | None = Field(default=None, description="Lift only this person (track id) of multi-person files.")
    min_frames: int = Field(default=1, ge=1, description="People seen in fewer frames are listed, not lifted.")
    weights: str | None = None
    device: str = "auto"
    batch_size: int = Field(default=8, ge=1)
    flip: bool = True
    subject_height: float = Field(default=DEFAULT_SUBJECT_HEIGHT, ge=0.3, le=3.0)
    skip_existing: bool = False
    jobs: int = Field(default=2, ge=0, le=64, description="Reading and writing threads; 0 does everything in order.")
    progress: bool | None = Field(default=None, description="Progress bar; None shows it on a terminal.")

    @field_validator("output_format")
    @classmethod
    def _known_output_format(cls, value: str) -> str:
        get_output_format(value)
        return value

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str | None) -> str | None:
        if value is not None:
            get_reader(value)
        return value

    @field_validator("layout")
    @classmethod
    def _known_layout(cls, value: str | None) -> str | None:
        if value is not None:
            get_layout(value)
        return value


# -- results --------------------------------------------------------------------------------------------------
@dataclass
class BatchSummary:
    """What a batch did. An input counts as lifted when all its outputs exist after the run and at least
    one was written by it, as skipped when all already existed."""

    inputs: int = 0
    lifted: int = 0
    skipped: int = 0
    failures: list[Failure] = field(default_factory=list)
    not_lifted_short: list[str] = field(default_factory=list)
    outputs_written: int = 0
    outputs_skipped: int = 0
    frames: int = 0
    interrupted: bool = False
    unfinished: int = 0
    ignored_files: int = 0
    partial_files_removed: int = 0
    wall_s: float = 0.0
    read_s: float = 0.0
    lift_s: float = 0.0
    write_s: float = 0.0

    @property
    def failed(self) -> int:
        """Inputs with at least one failure."""
        return len({failure.input for failure in self.failures})

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    def lines(self) -> list[str]:
        """The human-readable summary."""
        head = "interrupted: " if self.interrupted else ""
        lines = [
            f"{head}{self.inputs} inputs: {self.lifted} lifted, {self.skipped} skipped (outputs exist), "
            f"{self.failed} failed" + (f", {self.unfinished} not finished" if self.unfinished else "")
        ]
        lines.append(
            f"{self.outputs_written} outputs written, {self.outputs_skipped} already there; {self.frames} frames in "
            f"{self.wall_s:.1f} s ({self.frames_per_second:.0f} frames/s; reading {self.read_s:.1f} s, lifting "
            f"{self.lift_s:.1f} s, writing {self.write_s:.1f} s)"
        )
        if self.ignored_files:
            lines.append(f"{_count(self.ignored_files, 'file')} with other extensions ignored")
        if self.partial_files_removed:
            lines.append(f"removed {_count(self.partial_files_removed, 'partial file')} left by an interrupted run")
        if self.not_lifted_short:
            lines.append(f"{len(self.not_lifted_short)} people seen in too few frames (--min-frames) not lifted:")
            lines += [f"  {entry}" for entry in self.not_lifted_short]
        if self.failures:
            lines.append("failed:")
            lines += [f"  {failure}" for failure in self.failures]
        if self.interrupted:
            lines.append("rerun with --skip-existing to finish")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs, "lifted": self.lifted, "skipped": self.skipped, "failed": self.failed,
            "failures": [{"input": f.input, "person": f.person, "reason": f.reason} for f in self.failures],
            "not_lifted_short": self.not_lifted_short, "outputs_written": self.outputs_written,
            "outputs_skipped": self.outputs_skipped, "frames": self.frames, "interrupted": self.interrupted,
            "unfinished": self.unfinished, "ignored_files": self.ignored_files,
            "partial_files_removed": self.partial_files_removed, "wall_s": self.wall_s, "read_s": self.read_s,
            "lift_s": self.lift_s, "write_s": self.write_s, "frames_per_second": self.frames_per_second,
        }


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


# -- one input, read and checked (shared by both engines) ---------------------------------------------------
@dataclass(frozen=True)
class ModelTiming:
    """What checking an input needs to know of the weights, without loading the network."""

    fps: float
    """Frame rate inputs are resampled to."""
    clip_frames: int
    """Clip length the network works on."""

    @classmethod
    def of_weights(cls, weights_dir: Path) -> ModelTiming:
        from mtf_pose.weights import read_config

        config = read_config(weights_dir / "config.json")
        return cls(config.preprocessing.fps, config.model.frames)


@dataclass
class PreparedTrack:
    """One person's sequence, checked and ready for the model."""

    person: str
    """The track's label, for messages (``"person 3"``; empty for single-sequence files)."""
    output: Path
    sequence: KeypointSequence
    clips: int
    source: dict[str, Any]
    """Recorded as the result's ``metadata["source"]``."""


@dataclass
class PreparedInput:
    """One input read and checked: the people to lift, and what became of the others."""

    tracks: list[PreparedTrack] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    """Every output name of the input, lifted now or not (for the record of finished inputs)."""
    existing: list[str] = field(default_factory=list)
    """Outputs that exist (``skip_existing``): their people are not lifted again."""
    short: list[Failure] = field(default_factory=list)
    """People seen in too few frames (``min_frames``), with the reason ``"seen in N frames"``."""
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def settled_now(self) -> int:
        """Outcomes known once the input is read: failures, outputs that exist and people too short."""
        return len(self.failures) + len(self.existing) + len(self.short)


def prepare_input(batch_input: BatchInput, options: BatchOptions, timing: ModelTiming) -> PreparedInput:
    """Read one input and check every person in it the way ``mtf-pose lift`` does: the person selection,
    output names, ``skip_existing`` and ``min_frames``, the facts from the file or the options, and the
    model's preprocessing. Problems become :attr:`PreparedInput.failures`; nothing is raised."""
    started = time.perf_counter()
    prepared = PreparedInput()
    label = str(batch_input.source)
    try:
        keypoints = read_keypoints(batch_input.source, options.format)
    except KeypointReadError as error:
        prepared.failures.append(Failure(label, str(error).removeprefix(f"{batch_input.source.path}: ")))
    except Exception as error:  # noqa: BLE001 - one input's surprise must not end a night's batch
        prepared.failures.append(Failure(label, f"unexpected error ({type(error).__name__}: {error})"))
    else:
        tracks = _selected(keypoints.tracks, options.person, label, prepared)
        suffix = get_output_format(options.output_format).suffix
        names = [output_name(batch_input.name, track.key, suffix) for track in tracks]
        if len({name.lower() for name in names}) != len(names):
            prepared.failures.append(Failure(label, "two of its tracks map to the same output name"))
        else:
            prepared.outputs = names
            for track, name in zip(tracks, names):
                _prepare_track(label, track, name, keypoints.format, options, timing, prepared)
    prepared.seconds = time.perf_counter() - started
    return prepared


def output_name(input_name: str, track_key: str | None, suffix: str) -> str:
    """``walk.npy`` -> ``walk.npy.npz``; a multi-person file's person 3 -> ``ap.json.person3.npz``."""
    return input_name + (f".{_UNSAFE_NAME.sub('_', track_key)}" if track_key else "") + suffix


def _selected(tracks: list[PersonTrack], wanted: str | None, label: str, prepared: PreparedInput) -> list[PersonTrack]:
    if wanted is None or all(track.key is None for track in tracks):
        return tracks
    chosen = [t for t in tracks if t.key in (wanted, f"person{wanted}")]
    if not chosen:
        available = ", ".join(str(t.key) for t in tracks)
        prepared.failures.append(Failure(label, f"no person {wanted!r} (this file has: {available})"))
    return chosen


def _prepare_track(
    label: str, track: PersonTrack, name: str, format_name: str, options: BatchOptions, timing: ModelTiming,
    prepared: PreparedInput,
) -> None:
    output = options.output_dir / name
    if options.skip_existing and output.exists():
        prepared.existing.append(name)
        return
    seen = track.frames - track.missing_frames
    if seen < options.min_frames:
        prepared.short.append(Failure(label, f"seen in {seen} frames", track.label))
        return
    try:
        sequence = track_sequence(track, options)
        model_frames = prepare(sequence, timing.fps).keypoints.shape[0]
        clips = clip_plan(model_frames, timing.clip_frames).clips
    except (KeypointInputError, KeypointReadError) as error:
        prepared.failures.append(Failure(label, str(error).removeprefix("invalid keypoint input: "), track.label))
        return
    source = {
        "input": label, "format": format_name, "person": track.key,
        "first_frame": track.first_frame, "missing_frames": track.missing_frames,
    }
    prepared.tracks.append(PreparedTrack(track.label, output, sequence, clips, source))


def track_sequence(track: PersonTrack, options: BatchOptions) -> KeypointSequence:
    """The track with its facts from the file, else from the options; a missing one is an error that
    names the option to pass."""
    layout = track.layout or options.layout
    if layout is None:
        candidates = layouts_with(track.num_joints)
        if len(candidates) != 1:
            guess = guess_17_joint_layout(track.keypoints) if track.num_joints == 17 else None
            hint = f"; the joint positions look like {guess}" if guess else ""
            raise KeypointReadError(
                f"the file does not say its joint layout and {track.num_joints} joints fit "
                f"{candidates or 'no supported layout'}{hint}: pass --layout"
                + (f" {guess}" if guess else "")
            )
        layout = candidates[0]
    coordinates = track.coordinates or options.coordinates or guess_coordinates(track.keypoints)
    image_size = track.image_size or options.image_size
    if image_size is None and coordinates != "normalized":
        raise KeypointReadError("the file does not record the image size: pass --image-size WIDTHxHEIGHT")
    fps = track.fps or options.fps
    if fps is None:
        raise KeypointReadError("the file does not record its frame rate: pass --fps")
    return validate_sequence(track.keypoints, layout=layout, image_size=image_size, coordinates=coordinates, fps=fps)


# -- lifting (shared by both engines) ---------------------------------------------------------------------------
def lift_isolating_failures(
    lifter: Lifter, sequences: list[KeypointSequence], *, flip: bool, subject_height: float, batch_size: int,
) -> list[LiftResult | str]:
    """Lift ``sequences`` together, sharing network batches. When one of them spoils the batch, each is
    lifted alone, so that only the culprit fails: its entry is then the reason, a string."""
    def lift(group: list[KeypointSequence]) -> list[LiftResult]:
        return lifter.lift_batch(group, flip=flip, subject_height=subject_height, batch_size=batch_size, progress=False)

    if not sequences:  # a Ray batch whose rows are all skipped or failed
        return []
    try:
        return list(lift(sequences))
    except (KeypointInputError, RuntimeError, MemoryError, ValueError):
        pass
    outcomes: list[LiftResult | str] = []
    for sequence in sequences:
        try:
            outcomes.append(lift([sequence])[0])
        except KeypointInputError as error:
            outcomes.append(str(error).removeprefix("sequence 0: ").removeprefix("invalid keypoint input: "))
        except (RuntimeError, MemoryError, ValueError) as error:
            outcomes.append(f"lifting failed ({type(error).__name__}: {error})")
    return outcomes


# -- the account of a batch (shared by both engines) ------------------------------------------------------------
@dataclass(eq=False)
class BatchJob:
    """One input's way through a batch: how many of its outcomes are still to come."""

    input: BatchInput
    outputs: list[str] = field(default_factory=list)
    pending: int = 0
    written: int = 0
    failed: bool = False
    done: bool = False


def report_failure(summary: BatchSummary, failure: Failure, log: Callable[[str], None]) -> None:
    summary.failures.append(failure)
    log(f"failed: {failure}")


def discover_and_count(
    inputs: Sequence[str | Path], output_dir: Path, summary: BatchSummary, log: Callable[[str], None]
) -> Discovery:
    """Find the inputs, as every engine starts: count them in ``summary`` and report those not found."""
    discovery = discover_inputs(inputs, output_dir)
    summary.inputs = len(discovery.inputs) + len({f.input for f in discovery.failures})
    summary.ignored_files = discovery.ignored
    for failure in discovery.failures:
        report_failure(summary, failure, log)
    return discovery


def list_failures_in_input_order(summary: BatchSummary, inputs: Sequence[BatchInput]) -> None:
    """Order the summary's failures by input, in the order of the inputs (those that could not be found first),
    then by person, so that it does not depend on when each failure came in: at reading, lifting a group or
    writing, from whichever worker. The log has them in the order they happened."""
    position = {str(batch_input.source): index for index, batch_input in enumerate(inputs)}
    summary.failures.sort(key=lambda failure: (position.get(failure.input, -1), failure.person or ""))


class BatchLedger:
    """Keeps the summary, the progress bar and the record of finished inputs as the outcomes of a batch come
    in, in whatever order: each of an input's people (or its one failure) settles one expected outcome, and
    the input is finished when none is left."""

    def __init__(self, options: BatchOptions, summary: BatchSummary, bar: tqdm, log: Callable[[str], None]) -> None:
        self.options, self.summary, self.bar, self.log = options, summary, bar, log

    def expect(self, job: BatchJob, outputs: list[str], outcomes: int) -> None:
        job.outputs, job.pending = outputs, outcomes
        if outcomes == 0:
            self._finish(job)

    def read(self, job: BatchJob, prepared: PreparedInput) -> None:
        """Settle what is known once the input is read; its tracks stay pending until they are written."""
        self.summary.read_s += prepared.seconds
        self.expect(job, prepared.outputs, len(prepared.tracks) + prepared.settled_now)
        for failure in prepared.failures:
            self.failed(job, failure)
        for _ in prepared.existing:
            self.output_exists(job)
        for short in prepared.short:
            self.too_short(job, short)

    def failed(self, job: BatchJob, failure: Failure) -> None:
        report_failure(self.summary, failure, self.log)
        job.failed = True
        self._settle(job)

    def output_exists(self, job: BatchJob) -> None:
        self.summary.outputs_skipped += 1
        self._settle(job)

    def too_short(self, job: BatchJob, short: Failure) -> None:
        self.summary.not_lifted_short.append(str(short))
        self._settle(job)

    def nothing_to_do(self, job: BatchJob) -> None:
        self._settle(job)

    def written(self, job: BatchJob, seconds: float) -> None:
        self.summary.write_s += seconds
        self.summary.outputs_written += 1
        job.written += 1
        self._settle(job)

    def recorded_done(self, job: BatchJob, outputs: list[str]) -> None:
        """An input that an earlier run finished, skipped without reading it."""
        job.outputs, job.done = outputs, True
        self.summary.skipped += 1
        self.summary.outputs_skipped += len(outputs)
        self.bar.update(1)

    def _settle(self, job: BatchJob) -> None:
        job.pending -= 1
        if job.pending == 0:
            self._finish(job)

    def _finish(self, job: BatchJob) -> None:
        if job.done:
            return
        job.done = True
        if not job.failed:
            if job.written:
                self.summary.lifted += 1
            else:  # every output existed, or every person was too short to lift
                self.summary.skipped += 1
            record_done(self.options, job.input, job.outputs)
        self.bar.update(1)


# -- the record of finished inputs ----------------------------------------------------------------------------
def _record_path(options: BatchOptions, batch_input: BatchInput) -> Path:
    return options.output_dir / STATE_DIR / "done" / f"{batch_input.name}.{options.output_format}.json"


def _record_key(options: BatchOptions, batch_input: BatchInput) -> dict[str, Any]:
    # What decides an input's outputs: a rerun with other values must look at the input again.
    return {"input": str(batch_input.source), "person": options.person, "min_frames": options.min_frames}


def record_done(options: BatchOptions, batch_input: BatchInput, outputs: list[str]) -> None:
    """Record that all of an input's outputs are written (those that exist are listed)."""
    present = [name for name in outputs if (options.output_dir / name).is_file()]
    record = {**_record_key(options, batch_input), "outputs": present}
    write_text_atomic(_record_path(options, batch_input), json.dumps(record, indent=1) + "\n")


def recorded_outputs(options: BatchOptions, batch_input: BatchInput) -> list[str] | None:
    """The outputs of an input that an earlier run with the same settings finished, when they all still
    exist; ``None`` when the input must be read."""
    try:
        record = json.loads(_record_path(options, batch_input).read_text(encoding="utf-8"))
        outputs = [str(name) for name in record.pop("outputs")]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if record == _record_key(options, batch_input) and all((options.output_dir / name).is_file() for name in outputs):
        return outputs
    return None


# -- stopping ---------------------------------------------------------------------------------------------------
class GracefulStop:
    """Set by the first SIGINT/SIGTERM; the second one interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""

    @contextlib.contextmanager
    def installed(self, action: str = "stopping after the sequences being lifted") -> Iterator[GracefulStop]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}

        def handle(number: int, frame: object) -> None:
            if self.requested:
                raise KeyboardInterrupt
            self.requested, self.signal_name = True, signal.Signals(number).name
            print(f"\n{self.signal_name}: {action} (again to stop at once)", file=sys.stderr, flush=True)

        for number in previous:
            signal.signal(number, handle)
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)


def hide_progress(options: BatchOptions) -> bool:
    if options.progress is None:
        return not sys.stderr.isatty()
    return not options.progress


# -- the single-process engine ----------------------------------------------------------------------------------
@dataclass
class _LiftItem:
    job: BatchJob
    track: PreparedTrack


class _BatchRun:
    """One run of :func:`run_batch` (kept as an object so its parts stay small)."""

    def __init__(
        self, options: BatchOptions, lifter: Lifter | None = None, log: Callable[[str], None] | None = None
    ) -> None:
        from mtf_pose.hub import resolve_weights

        self.options = options
        self.output_format = get_output_format(options.output_format)
        self.summary = BatchSummary()
        self._lifter = lifter
        if lifter is None:
            resolve_device(options.device)  # a device that cannot work fails now, not once per file
            self._weights_dir = resolve_weights(options.weights)
            self.timing = ModelTiming.of_weights(self._weights_dir)
        else:
            self.timing = ModelTiming(lifter.fps, lifter.frames)
        self.log = log or (lambda message: tqdm.write(message, file=sys.stderr))
        self.stop = GracefulStop()
        self._writes: deque[tuple[Future[float] | float, _LiftItem]] = deque()

    # -- driving ----------------------------------------------------------------------------------------
    def run(self, inputs: Sequence[str | Path]) -> BatchSummary:
        started = time.perf_counter()
        options = self.options
        discovery = discover_and_count(inputs, options.output_dir, self.summary, self.log)
        if not discovery.inputs:
            self.summary.wall_s = time.perf_counter() - started
            return self.summary
        options.output_dir.mkdir(parents=True, exist_ok=True)
        workers = max(options.jobs, 1)
        with (
            locked_output_dir(options.output_dir),
            self.stop.installed(),
            ThreadPoolExecutor(workers, thread_name_prefix="mtf-pose-read") as readers,
            ThreadPoolExecutor(workers, thread_name_prefix="mtf-pose-write") as writers,
            tqdm(
                total=len(discovery.inputs), unit="file", desc="lifting", disable=hide_progress(options),
                file=sys.stderr,
            ) as bar,
        ):
            self.ledger = BatchLedger(options, self.summary, bar, self.log)
            self.summary.partial_files_removed = remove_partial_files(options.output_dir)
            self._readers, self._writers = readers, writers
            try:
                self._pipeline([BatchJob(batch_input) for batch_input in discovery.inputs])
            finally:
                self._drain_writes(block=True)
                readers.shutdown(wait=True, cancel_futures=True)
        list_failures_in_input_order(self.summary, discovery.inputs)
        self.summary.wall_s = time.perf_counter() - started
        return self.summary

    def _pipeline(self, jobs: list[BatchJob]) -> None:
        lookahead = max(4, 4 * self.options.jobs)
        waiting = deque(jobs)
        reads: deque[tuple[BatchJob, Future[PreparedInput] | PreparedInput]] = deque()
        group: list[_LiftItem] = []
        group_limit = GROUP_BATCHES * self.options.batch_size
        while not self.stop.requested:
            while waiting and len(reads) < lookahead:
                job = waiting.popleft()
                recorded = recorded_outputs(self.options, job.input) if self.options.skip_existing else None
                if recorded is not None:
                    self.ledger.recorded_done(job, recorded)
                    continue
                reads.append(
                    (job, self._submit(self._readers, partial(prepare_input, job.input, self.options, self.timing)))
                )
            if not reads:
                break
            job, pending = reads[0]
            if group and isinstance(pending, Future) and not pending.done():
                self._lift(group)  # keep the model busy rather than wait for the next file
                group = []
                continue
            reads.popleft()
            prepared = pending.result() if isinstance(pending, Future) else pending
            self.ledger.read(job, prepared)
            group += [_LiftItem(job, track) for track in prepared.tracks]
            if self.stop.requested:
                break
            if sum(item.track.clips for item in group) >= group_limit:
                self._lift(group)
                group = []
            self._drain_writes(block=False)
        if group and not self.stop.requested:
            self._lift(group)
        if self.stop.requested:
            self.summary.interrupted = True
            unfinished = {id(item.job) for item in group} | {id(job) for job, _ in reads} | {id(job) for job in waiting}
            self.summary.unfinished = len(unfinished)

    def _submit(self, pool: ThreadPoolExecutor, function: Callable[[], T]) -> Future[T] | T:
        return function() if self.options.jobs == 0 else pool.submit(function)

    # -- lifting and writing --------------------------------------------------------------------------------
    def _lift(self, group: list[_LiftItem]) -> None:
        started = time.perf_counter()
        options = self.options
        lifter = self.lifter  # loaded outside lift_isolating_failures: a weights problem ends the run
        outcomes = lift_isolating_failures(
            lifter, [item.track.sequence for item in group], flip=options.flip,
            subject_height=options.subject_height, batch_size=options.batch_size,
        )
        self.summary.lift_s += time.perf_counter() - started
        for item, outcome in zip(group, outcomes):
            if isinstance(outcome, str):
                self.ledger.failed(item.job, Failure(str(item.job.input.source), outcome, item.track.person))
                continue
            self.summary.frames += outcome.frames
            outcome.metadata["source"] = item.track.source
            write = self._submit(self._writers, partial(self._write, item, outcome))
            self._writes.append((write, item))
        self._update_speed()

    @property
    def lifter(self) -> Lifter:
        # Loaded on first use: a rerun that finds everything done never loads the network.
        if self._lifter is None:
            self._lifter = Lifter.from_pretrained(self._weights_dir, device=self.options.device)
            self._lifter.source = self.options.weights or "embedded default"
        return self._lifter

    def _write(self, item: _LiftItem, result: LiftResult) -> float:
        started = time.perf_counter()
        self.output_format.write(result, item.track.output)
        return time.perf_counter() - started

    def _drain_writes(self, *, block: bool) -> None:
        while self._writes and (block or not isinstance(self._writes[0][0], Future) or self._writes[0][0].done()):
            pending, item = self._writes.popleft()
            try:
                seconds = pending.result() if isinstance(pending, Future) else pending
            except Exception as error:  # noqa: BLE001 - a full disk or a permission problem, reported per output
                reason = f"cannot write {item.track.output} ({type(error).__name__}: {error})"
                self.ledger.failed(item.job, Failure(str(item.job.input.source), reason, item.track.person))
            else:
                self.ledger.written(item.job, seconds)

    def _update_speed(self) -> None:
        if self.summary.lift_s > 0:
            self.ledger.bar.set_postfix_str(f"{self.summary.frames / self.summary.lift_s:.0f} frames/s")


def run_batch(
    inputs: Sequence[str | Path], options: BatchOptions, *, lifter: Lifter | None = None,
    log: Callable[[str], None] | None = None,
) -> BatchSummary:
    """Lift every keypoint file named by ``inputs`` (files, folders, globs) into ``options.output_dir``.

    ``lifter``: an already loaded :class:`~mtf_pose.lifter.Lifter` (default: load ``options.weights`` on
    first use). ``log``: where per-file failures are reported as they happen (default: stderr).
    """
    return _BatchRun(options, lifter, log).run(inputs)


# -- the output folder ------------------------------------------------------------------------------------------
@contextlib.contextmanager
def locked_output_dir(output_dir: Path) -> Iterator[None]:
    """Hold ``OUTDIR/.mtf-pose/lock`` for the run: a second run into the same folder is refused, and
    partial files found in it are known to be stale. The lock goes with the process, even on SIGKILL."""
    state = output_dir / STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "lock", "a+") as handle:
        if sys.platform != "win32":
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise BatchLockedError(f"{output_dir}: another mtf-pose lift is writing to this folder") from None
        yield


class BatchLockedError(RuntimeError):
    """Another run holds the output folder."""


def remove_partial_files(output_dir: Path) -> int:
    """Delete the temporary files of writes that an interrupted run left behind (``.*.partial``)."""
    removed = 0
    for path in output_dir.rglob(f".*{PARTIAL_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
    return removed
