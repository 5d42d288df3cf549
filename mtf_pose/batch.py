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
from mtf_pose.io.discovery import BatchInput, Failure, discover_inputs
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


# -- one input's way through the batch ----------------------------------------------------------------------
@dataclass
class _LiftItem:
    """One person's sequence, checked and ready for the model."""

    job: _Job
    person: str
    output: Path
    sequence: KeypointSequence
    clips: int
    source: dict[str, Any]


@dataclass
class _Prepared:
    items: list[_LiftItem] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)  # every output name of the input (for the record)
    existing: int = 0
    short: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(eq=False)
class _Job:
    input: BatchInput
    outputs: list[str] = field(default_factory=list)
    pending: int = 0
    written: int = 0
    existing: int = 0
    failed: bool = False
    done: bool = False


class _Stop:
    """Set by the first SIGINT/SIGTERM; the second one interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""

    @contextlib.contextmanager
    def installed(self) -> Iterator[_Stop]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}

        def handle(number: int, frame: object) -> None:
            if self.requested:
                raise KeyboardInterrupt
            self.requested, self.signal_name = True, signal.Signals(number).name
            print(
                f"\n{self.signal_name}: stopping after the sequences being lifted (again to stop at once)",
                file=sys.stderr, flush=True,
            )

        for number in previous:
            signal.signal(number, handle)
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)


class _BatchRun:
    """One run of :func:`run_batch` (kept as an object so its parts stay small)."""

    def __init__(self, options: BatchOptions, lifter: Lifter | None = None, log: Callable[[str], None] | None = None) -> None:
        from mtf_pose.hub import resolve_weights
        from mtf_pose.weights import read_config

        self.options = options
        self.output_format = get_output_format(options.output_format)
        self.summary = BatchSummary()
        self._lifter = lifter
        if lifter is None:
            resolve_device(options.device)  # a device that cannot work fails now, not once per file
            self._weights_dir = resolve_weights(options.weights)
            config = read_config(self._weights_dir / "config.json")
            self.model_fps, self.clip_frames = config.preprocessing.fps, config.model.frames
        else:
            self.model_fps, self.clip_frames = lifter.fps, lifter.frames
        self.log = log or (lambda message: tqdm.write(message, file=sys.stderr))
        self.stop = _Stop()
        self._writes: deque[tuple[Future[float] | float, _LiftItem]] = deque()

    # -- driving ----------------------------------------------------------------------------------------
    def run(self, inputs: Sequence[str | Path]) -> BatchSummary:
        started = time.perf_counter()
        options = self.options
        discovery = discover_inputs(inputs, options.output_dir)
        self.summary.inputs = len(discovery.inputs) + len({f.input for f in discovery.failures})
        self.summary.ignored_files = discovery.ignored
        for failure in discovery.failures:
            self._fail(failure)
        if not discovery.inputs:
            self.summary.wall_s = time.perf_counter() - started
            return self.summary
        options.output_dir.mkdir(parents=True, exist_ok=True)
        workers = max(options.jobs, 1)
        with (
            _locked(options.output_dir),
            self.stop.installed(),
            ThreadPoolExecutor(workers, thread_name_prefix="mtf-pose-read") as readers,
            ThreadPoolExecutor(workers, thread_name_prefix="mtf-pose-write") as writers,
            tqdm(total=len(discovery.inputs), unit="file", desc="lifting", disable=self._hide_progress(), file=sys.stderr) as bar,
        ):
            self.summary.partial_files_removed = remove_partial_files(options.output_dir)
            self._bar, self._readers, self._writers = bar, readers, writers
            try:
                self._pipeline([_Job(batch_input) for batch_input in discovery.inputs])
            finally:
                self._drain_writes(block=True)
                readers.shutdown(wait=True, cancel_futures=True)
        self.summary.wall_s = time.perf_counter() - started
        return self.summary

    def _hide_progress(self) -> bool:
        if self.options.progress is None:
            return not sys.stderr.isatty()
        return not self.options.progress

    def _pipeline(self, jobs: list[_Job]) -> None:
        lookahead = max(4, 4 * self.options.jobs)
        waiting = deque(jobs)
        reads: deque[tuple[_Job, Future[_Prepared] | _Prepared]] = deque()
        group: list[_LiftItem] = []
        group_limit = GROUP_BATCHES * self.options.batch_size
        while not self.stop.requested:
            while waiting and len(reads) < lookahead:
                job = waiting.popleft()
                if self.options.skip_existing and self._recorded_done(job):
                    self._finish_skipped(job)
                    continue
                reads.append((job, self._submit(self._readers, partial(self._prepare, job))))
            if not reads:
                break
            job, pending = reads[0]
            if group and isinstance(pending, Future) and not pending.done():
                self._lift(group)  # keep the model busy rather than wait for the next file
                group = []
                continue
            reads.popleft()
            prepared = pending.result() if isinstance(pending, Future) else pending
            group += self._take(job, prepared)
            if self.stop.requested:
                break
            if sum(item.clips for item in group) >= group_limit:
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

    # -- reading (worker threads) -----------------------------------------------------------------------
    def _prepare(self, job: _Job) -> _Prepared:
        started = time.perf_counter()
        prepared = _Prepared()
        label = str(job.input.source)
        try:
            keypoints = read_keypoints(job.input.source, self.options.format)
        except KeypointReadError as error:
            prepared.failures.append(Failure(label, str(error).removeprefix(f"{job.input.source.path}: ")))
        except Exception as error:  # noqa: BLE001 - one input's surprise must not end a night's batch
            prepared.failures.append(Failure(label, f"unexpected error ({type(error).__name__}: {error})"))
        else:
            tracks = self._selected(keypoints.tracks, label, prepared)
            names = self._output_names(job.input.name, tracks, label, prepared)
            for track, name in zip(tracks, names):
                self._prepare_track(job, track, name, keypoints.format, prepared)
        prepared.seconds = time.perf_counter() - started
        return prepared

    def _selected(self, tracks: list[PersonTrack], label: str, prepared: _Prepared) -> list[PersonTrack]:
        wanted = self.options.person
        if wanted is None or all(track.key is None for track in tracks):
            return tracks
        chosen = [t for t in tracks if t.key in (wanted, f"person{wanted}")]
        if not chosen:
            available = ", ".join(str(t.key) for t in tracks)
            prepared.failures.append(Failure(label, f"no person {wanted!r} (this file has: {available})"))
        return chosen

    def _output_names(self, name: str, tracks: list[PersonTrack], label: str, prepared: _Prepared) -> list[str]:
        names = [name + (f".{_UNSAFE_NAME.sub('_', track.key)}" if track.key else "") + self.output_format.suffix for track in tracks]
        if len({n.lower() for n in names}) != len(names):
            prepared.failures.append(Failure(label, "two of its tracks map to the same output name"))
            return []
        prepared.outputs = names
        return names

    def _prepare_track(self, job: _Job, track: PersonTrack, name: str, format_name: str, prepared: _Prepared) -> None:
        label = str(job.input.source)
        output = self.options.output_dir / name
        if self.options.skip_existing and output.exists():
            prepared.existing += 1
            return
        if track.frames - track.missing_frames < self.options.min_frames:
            prepared.short.append(f"{label} ({track.label}): seen in {track.frames - track.missing_frames} frames")
            return
        try:
            sequence = self._sequence(track)
            model_frames = prepare(sequence, self.model_fps).keypoints.shape[0]
            clips = clip_plan(model_frames, self.clip_frames).clips
        except (KeypointInputError, KeypointReadError) as error:
            prepared.failures.append(Failure(label, str(error).removeprefix("invalid keypoint input: "), track.label))
            return
        source = {
            "input": str(job.input.source), "format": format_name, "person": track.key,
            "first_frame": track.first_frame, "missing_frames": track.missing_frames,
        }
        prepared.items.append(_LiftItem(job, track.label, output, sequence, clips, source))

    def _sequence(self, track: PersonTrack) -> KeypointSequence:
        """The track with its facts from the file, else from the options; a missing one is an error that
        names the option to pass."""
        options = self.options
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

    # -- bookkeeping (main thread) ------------------------------------------------------------------------
    def _take(self, job: _Job, prepared: _Prepared) -> list[_LiftItem]:
        self.summary.read_s += prepared.seconds
        self.summary.not_lifted_short += prepared.short
        for failure in prepared.failures:
            self._fail(failure)
        job.outputs, job.existing, job.failed = prepared.outputs, prepared.existing, bool(prepared.failures)
        job.pending = len(prepared.items)
        self.summary.outputs_skipped += prepared.existing
        if not job.pending:
            self._finish(job)
        return prepared.items

    def _lift(self, group: list[_LiftItem]) -> None:
        started = time.perf_counter()
        results = self._lift_together(group)
        self.summary.lift_s += time.perf_counter() - started
        for item, result in zip(group, results):
            if isinstance(result, Failure):
                self._fail(result)
                item.job.failed = True
                self._output_settled(item.job)
                continue
            self.summary.frames += result.frames
            result.metadata["source"] = item.source
            write = self._submit(self._writers, partial(self._write, item, result))
            self._writes.append((write, item))
        self._update_speed()

    def _lift_together(self, group: list[_LiftItem]) -> list[LiftResult | Failure]:
        lifter = self.lifter  # loaded outside the try: a weights problem ends the run, it is no one file's fault
        try:
            return list(self._lift_sequences(lifter, [item.sequence for item in group]))
        except (KeypointInputError, RuntimeError, MemoryError, ValueError):
            if len(group) == 1:
                return [self._lift_alone(lifter, group[0])]
            # One sequence spoiled the batch: lift each alone to find it and keep the others.
            return [self._lift_alone(lifter, item) for item in group]

    def _lift_alone(self, lifter: Lifter, item: _LiftItem) -> LiftResult | Failure:
        try:
            return self._lift_sequences(lifter, [item.sequence])[0]
        except KeypointInputError as error:
            reason = str(error).removeprefix("sequence 0: ").removeprefix("invalid keypoint input: ")
            return Failure(str(item.job.input.source), reason, item.person)
        except (RuntimeError, MemoryError, ValueError) as error:
            return Failure(str(item.job.input.source), f"lifting failed ({type(error).__name__}: {error})", item.person)

    def _lift_sequences(self, lifter: Lifter, sequences: list[KeypointSequence]) -> list[LiftResult]:
        options = self.options
        return lifter.lift_batch(
            sequences, flip=options.flip, subject_height=options.subject_height, batch_size=options.batch_size,
            progress=False,
        )

    @property
    def lifter(self) -> Lifter:
        # Loaded on first use: a rerun that finds everything done never loads the network.
        if self._lifter is None:
            self._lifter = Lifter.from_pretrained(self._weights_dir, device=self.options.device)
            self._lifter.source = self.options.weights or "embedded default"
        return self._lifter

    def _write(self, item: _LiftItem, result: LiftResult) -> float:
        started = time.perf_counter()
        self.output_format.write(result, item.output)
        return time.perf_counter() - started

    def _drain_writes(self, *, block: bool) -> None:
        while self._writes and (block or not isinstance(self._writes[0][0], Future) or self._writes[0][0].done()):
            pending, item = self._writes.popleft()
            try:
                self.summary.write_s += pending.result() if isinstance(pending, Future) else pending
                self.summary.outputs_written += 1
                item.job.written += 1
            except Exception as error:  # noqa: BLE001 - a full disk or a permission problem, reported per output
                reason = f"cannot write {item.output} ({type(error).__name__}: {error})"
                self._fail(Failure(str(item.job.input.source), reason, item.person))
                item.job.failed = True
            self._output_settled(item.job)

    def _output_settled(self, job: _Job) -> None:
        job.pending -= 1
        if job.pending == 0:
            self._finish(job)

    def _finish(self, job: _Job) -> None:
        if job.done:
            return
        job.done = True
        if not job.failed:
            if job.written:
                self.summary.lifted += 1
            else:  # every output existed, or every person was too short to lift
                self.summary.skipped += 1
            self._record_done(job)
        self._bar.update(1)

    def _finish_skipped(self, job: _Job) -> None:
        job.done = True
        self.summary.skipped += 1
        self.summary.outputs_skipped += len(job.outputs)
        self._bar.update(1)

    def _fail(self, failure: Failure) -> None:
        self.summary.failures.append(failure)
        self.log(f"failed: {failure}")

    def _update_speed(self) -> None:
        if self.summary.lift_s > 0:
            self._bar.set_postfix_str(f"{self.summary.frames / self.summary.lift_s:.0f} frames/s")

    # -- the record of finished inputs ------------------------------------------------------------------------
    def _record_path(self, job: _Job) -> Path:
        return self.options.output_dir / STATE_DIR / "done" / f"{job.input.name}.{self.options.output_format}.json"

    def _record(self, job: _Job) -> dict[str, Any]:
        # What decides an input's outputs: a rerun with other values must look at the input again.
        options = self.options
        return {"input": str(job.input.source), "person": options.person, "min_frames": options.min_frames}

    def _record_done(self, job: _Job) -> None:
        outputs = [name for name in job.outputs if (self.options.output_dir / name).is_file()]
        write_text_atomic(self._record_path(job), json.dumps({**self._record(job), "outputs": outputs}, indent=1) + "\n")

    def _recorded_done(self, job: _Job) -> bool:
        try:
            record = json.loads(self._record_path(job).read_text(encoding="utf-8"))
            outputs = [str(name) for name in record.pop("outputs")]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return False
        if record == self._record(job) and all((self.options.output_dir / name).is_file() for name in outputs):
            job.outputs = outputs
            return True
        return False


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
def _locked(output_dir: Path) -> Iterator[None]:
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
