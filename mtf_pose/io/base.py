"""What every reader returns, and what every reader reads from.

A reader turns one input (a file, or an OpenPose folder of per-frame files) into a :class:`KeypointFile`:
one :class:`PersonTrack` per person (or per video, for files that hold several), each a
``(frames, joints, 3)`` array of x, y and confidence with NaN where the person was not detected.
Facts a format does not record (image size, frame rate, sometimes the joint layout) are ``None`` and
come from the caller.

Readers detect their format from a :class:`Probe`, which loads each view of the input (parsed JSON, an
``.npy`` array, the members of an ``.npz``) at most once, so detection and reading share the work.
"""

from __future__ import annotations

import json
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

Coordinates = Literal["pixels", "unit", "normalized"]

# Detectors extrapolate joints a little outside the image, so unit coordinates may stray past [0, 1].
UNIT_MARGIN = 0.25


class KeypointReadError(ValueError):
    """An input that cannot be read as keypoints; the message names the file and what is wrong."""


@dataclass(frozen=True)
class KeypointSource:
    """One input: a file, or a folder of per-frame files (``members``, in frame order)."""

    path: Path
    members: tuple[Path, ...] = ()

    def __str__(self) -> str:
        return str(self.path)


@dataclass
class PersonTrack:
    """One person's (or one video's) keypoints over consecutive source frames."""

    keypoints: NDArray[np.float64]
    """``(frames, joints, 3)``: x, y, confidence; NaN x, y where the person was not detected."""
    key: str | None = None
    """Distinguishes this track's output from the file's other tracks (``"person3"``); ``None`` when the
    file holds one sequence by definition."""
    label: str = ""
    """For people: ``"person 3"``."""
    first_frame: int = 0
    """Source frame number of ``keypoints[0]`` (so outputs can be matched to the video)."""
    layout: str | None = None
    image_size: tuple[float, float] | None = None
    fps: float | None = None
    coordinates: Coordinates | None = None
    """``None`` when the format does not say; see :func:`guess_coordinates`."""

    @property
    def frames(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def num_joints(self) -> int:
        return int(self.keypoints.shape[1])

    @property
    def missing_frames(self) -> int:
        """Frames inside the track's span where the person was not detected at all."""
        return int(np.isnan(self.keypoints[..., :2]).all(axis=(1, 2)).sum())


@dataclass
class KeypointFile:
    """Everything read from one input."""

    source: KeypointSource
    format: str
    tracks: list[PersonTrack]
    people: str = "single sequence"
    """How the tracks were told apart, in words (``"track ids from 'idx'"``, ``"linked by position"``)."""
    notes: list[str] = field(default_factory=list)
    """Anything a user should know about how the file was read (joints dropped, ids ignored)."""


class Probe:
    """Lazily loaded views of one input, each read at most once and shared by detection and reading."""

    def __init__(self, source: KeypointSource | str | Path) -> None:
        self.source = source if isinstance(source, KeypointSource) else KeypointSource(Path(source))
        self.path = self.source.path

    @property
    def suffix(self) -> str:
        """Lower-case extension, ``"/"`` for a folder."""
        return "/" if self.path.is_dir() else self.path.suffix.lower()

    @cached_property
    def json(self) -> Any:
        """The parsed JSON document."""
        return load_json(self.path)

    @cached_property
    def npy(self) -> NDArray[Any]:
        """The array of an ``.npy`` file (numeric only: pickled object arrays are refused)."""
        try:
            with open(self.path, "rb") as handle:
                if not handle.read(6):
                    raise KeypointReadError("the file is empty")
                handle.seek(0)
                return np.load(handle, allow_pickle=False)
        except KeypointReadError:
            raise
        except OSError as error:
            raise KeypointReadError(f"cannot read the file ({error.strerror or error})") from None
        except ValueError as error:
            if "allow_pickle" in str(error):
                raise KeypointReadError(
                    "the array holds Python objects (a pickle); only numeric arrays are read"
                ) from None
            raise KeypointReadError(f"not a valid .npy array ({error})") from None

    @cached_property
    def npz(self) -> NpzArchive:
        return NpzArchive(self.path)


def load_json(path: Path) -> Any:
    """Parse a JSON file; every failure is a :class:`KeypointReadError` saying where and why."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise KeypointReadError(f"cannot read the file ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise KeypointReadError("not a text file (not UTF-8); expected JSON") from None
    if not text.strip():
        raise KeypointReadError("the file is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise KeypointReadError(f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}") from None
    except RecursionError:
        raise KeypointReadError("not valid JSON: nested too deeply") from None


class NpzArchive:
    """The members of an ``.npz`` file, loaded on demand; object members only through the restricted
    unpickler of :mod:`mtf_pose.io._safe_pickle`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            if path.stat().st_size == 0:
                raise KeypointReadError("the file is empty")
            with zipfile.ZipFile(path) as archive:
                self.members = [name for name in archive.namelist() if name.endswith(".npy")]
        except KeypointReadError:
            raise
        except zipfile.BadZipFile:
            raise KeypointReadError("not a valid .npz archive (not a zip file)") from None
        except OSError as error:
            raise KeypointReadError(f"cannot read the file ({error.strerror or error})") from None
        self.names = [name.removesuffix(".npy") for name in self.members]
        self._cache: dict[str, Any] = {}

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def dtype(self, name: str) -> np.dtype[Any]:
        from mtf_pose.io._safe_pickle import read_npy_header

        with self._open(name) as handle:
            return read_npy_header(handle)[2]

    def get(self, name: str) -> Any:
        """The member's array; an object member's content (dicts, lists, arrays) for pickled ones."""
        if name not in self._cache:
            from mtf_pose.io._safe_pickle import load_npy

            try:
                with self._open(name) as handle:
                    self._cache[name] = load_npy(handle)
            except KeypointReadError as error:
                raise KeypointReadError(f"member {name!r}: {error}") from None
            except (OSError, zipfile.BadZipFile, EOFError, ValueError) as error:
                raise KeypointReadError(f"member {name!r} is damaged ({error})") from None
        return self._cache[name]

    def _open(self, name: str) -> Any:
        archive = zipfile.ZipFile(self.path)
        try:
            return _ClosingMember(archive, archive.open(f"{name}.npy"))
        except Exception:
            archive.close()
            raise


class _ClosingMember:
    """A zip member's file object that also closes its archive."""

    def __init__(self, archive: zipfile.ZipFile, handle: Any) -> None:
        self._archive, self._handle = archive, handle

    def __enter__(self) -> Any:
        return self._handle

    def __exit__(self, *exc: object) -> None:
        self._handle.close()
        self._archive.close()


class KeypointReader(ABC):
    """A keypoint file format: how to recognise it and how to read it."""

    name: ClassVar[str]
    """Registry key, also the ``--format`` value."""
    title: ClassVar[str]
    """Human-readable name of the format."""
    extensions: ClassVar[tuple[str, ...]]
    """Lower-case suffixes this format comes with; ``"/"`` for a folder."""
    detection: ClassVar[str]
    """The detection rule, in words (shown by ``mtf-pose info`` and the docs)."""

    @abstractmethod
    def detect(self, probe: Probe) -> bool:
        """Whether ``probe`` holds this format (called only for inputs with one of :attr:`extensions`)."""

    @abstractmethod
    def read(self, probe: Probe) -> KeypointFile:
        """Read the input; raises :class:`KeypointReadError` with a readable message."""


def guess_coordinates(keypoints: NDArray[np.floating]) -> Coordinates:
    """``"unit"`` when every detected x and y lies in about [0, 1] (fractions of the image, as MediaPipe
    and OpenPose's ``--keypoint_scale 3`` write them), else ``"pixels"``."""
    xy = keypoints[..., :2]
    finite = xy[np.isfinite(xy)]
    if finite.size and finite.min() >= -UNIT_MARGIN and finite.max() <= 1 + UNIT_MARGIN:
        return "unit"
    return "pixels"
