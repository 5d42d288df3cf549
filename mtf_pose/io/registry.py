"""The registry of keypoint readers, format detection, and :func:`read_keypoints`.

Detection tries, in registration order, every reader whose extensions include the input's (``"/"`` for
a folder) and takes the first whose :meth:`~mtf_pose.io.base.KeypointReader.detect` accepts the content.
Readers of specific formats come before the generic ones that would also accept them (MediaPipe's
33-landmark arrays before plain ``.npy``, VideoPose3D's archives before plain ``.npz``).
"""

from __future__ import annotations

from pathlib import Path

from mtf_pose.io.arrays import NpyReader, NpzReader, VideoPose3DReader
from mtf_pose.io.base import KeypointFile, KeypointReader, KeypointReadError, KeypointSource, Probe
from mtf_pose.io.detections import AlphaPoseReader, CocoResultsReader
from mtf_pose.io.mediapipe import MediaPipeReader
from mtf_pose.io.mmpose import MMPoseReader
from mtf_pose.io.openpose import OpenPoseReader

_READERS: dict[str, KeypointReader] = {}


def register_reader(reader: KeypointReader, *, before: str | None = None) -> None:
    """Add a reader (``before`` another, to be tried first when both accept the same extension)."""
    if reader.name in _READERS:
        raise ValueError(f"a reader named {reader.name!r} is already registered")
    if before is None:
        _READERS[reader.name] = reader
        return
    get_reader(before)
    entries = list(_READERS.items())
    position = [name for name, _ in entries].index(before)
    entries.insert(position, (reader.name, reader))
    _READERS.clear()
    _READERS.update(entries)


def get_reader(name: str) -> KeypointReader:
    try:
        return _READERS[name]
    except KeyError:
        raise KeypointReadError(f"unknown format {name!r}; choose one of {list_formats()}") from None


def list_formats() -> list[str]:
    """Registered format names, in detection order."""
    return list(_READERS)


def readers() -> list[KeypointReader]:
    return list(_READERS.values())


def handled_extensions() -> set[str]:
    return {extension for reader in _READERS.values() for extension in reader.extensions}


def detect_format(source: KeypointSource | str | Path, probe: Probe | None = None) -> KeypointReader:
    """The reader for ``source``, by extension and content."""
    probe = probe or Probe(source)
    _require_existing(probe.path)
    suffix = probe.suffix
    candidates = [reader for reader in _READERS.values() if suffix in reader.extensions]
    if not candidates:
        known = ", ".join(sorted(handled_extensions() - {"/"}))
        raise KeypointReadError(f"unknown format: extension {suffix or '(none)'!r} is not one of {known}")
    if suffix == ".json":
        _refuse_unreadable_json(probe)
    for reader in candidates:
        if reader.detect(probe):
            return reader
    names = ", ".join(reader.name for reader in candidates)
    raise KeypointReadError(
        f"unknown format: the content matches none of the {suffix} formats ({names}); {_describe(probe)}"
    )


def read_keypoints(source: KeypointSource | str | Path, format: str | None = None) -> KeypointFile:
    """Read a keypoint file (or an OpenPose folder); ``format`` skips detection.

    Raises :class:`KeypointReadError` whose message starts with the path and says what is wrong.
    """
    source = source if isinstance(source, KeypointSource) else KeypointSource(Path(source))
    probe = Probe(source)
    try:
        reader = get_reader(format) if format else detect_format(source, probe)
        if format:
            _require_existing(probe.path)
        return reader.read(probe)
    except KeypointReadError as error:
        raise KeypointReadError(f"{source.path}: {error}") from None
    except MemoryError:
        raise KeypointReadError(f"{source.path}: too large to read into memory") from None
    except (TypeError, KeyError, IndexError, AttributeError, ValueError) as error:
        # A structure the reader's checks did not foresee: still one line, naming the file.
        raise KeypointReadError(f"{source.path}: unexpected content ({type(error).__name__}: {error})") from None


def _require_existing(path: Path) -> None:
    if path.is_symlink() and not path.exists():
        raise KeypointReadError(f"a broken symbolic link (to {path.readlink()}, which does not exist)")
    if not path.exists():
        raise KeypointReadError("no such file or folder")


def _refuse_unreadable_json(probe: Probe) -> None:
    document = probe.json
    if document == [] or document == {}:
        raise KeypointReadError("the JSON document is empty (no detections in any frame?)")
    if isinstance(document, dict) and document.get("format") == "mtf_pose.LiftResult":
        raise KeypointReadError("this is a lift result (3D output of mtf-pose), not 2D keypoints")


def _describe(probe: Probe) -> str:
    if probe.suffix == ".json":
        document = probe.json
        if isinstance(document, dict):
            return f"it is an object with keys {sorted(document)[:8]}"
        if isinstance(document, list):
            first = document[0]
            keys = f" with keys {sorted(first)[:8]}" if isinstance(first, dict) else ""
            return f"it is a list of {len(document)} {type(first).__name__}{keys}"
        return f"it is a JSON {type(document).__name__}"
    if probe.suffix == ".npy":
        return f"it holds an array of shape {probe.npy.shape}, dtype {probe.npy.dtype}; expected (frames, joints, 2|3)"
    if probe.suffix == ".npz":
        return f"its members are {probe.npz.names}"
    return "no keypoint files inside"


for _reader in (
    OpenPoseReader(),
    AlphaPoseReader(),
    CocoResultsReader(),
    MMPoseReader(),
    MediaPipeReader(),
    VideoPose3DReader(),
    NpzReader(),
    NpyReader(),
):
    register_reader(_reader)
