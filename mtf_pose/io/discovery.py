"""Finding the inputs of a batch: files, folders (searched recursively) and glob patterns, each input
with the name its outputs take."""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mtf_pose.io.base import KeypointSource
from mtf_pose.io.openpose import group_frame_files, is_frame_file, sequence_name
from mtf_pose.io.registry import handled_extensions

_GLOB_MAGIC = re.compile(r"[*?[]")


@dataclass(frozen=True)
class BatchInput:
    """One input and the name its outputs take (relative to the output folder, without extension)."""

    source: KeypointSource
    name: str


@dataclass(frozen=True)
class Failure:
    input: str
    reason: str
    person: str = ""

    def __str__(self) -> str:
        return f"{self.input}" + (f" ({self.person})" if self.person else "") + f": {self.reason}"


@dataclass
class Discovery:
    inputs: list[BatchInput] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    ignored: int = 0
    """Files inside the given folders with extensions no reader handles."""


def discover_inputs(patterns: Sequence[str | Path], output_dir: Path) -> Discovery:
    """Inputs named by files, folders (searched recursively) and glob patterns, in a stable order.

    Output names mirror each input's path below the folder (or the glob's fixed part) it was found in,
    and keep the input's extension (``walk.npy`` -> ``walk.npy.npz``), so no two inputs share a name.
    OpenPose per-frame files become one input per sequence. Hidden files and the output folder are
    skipped.
    """
    discovery = Discovery()
    found: list[tuple[Path, Path]] = []  # (file or OpenPose folder, folder its name is relative to)
    output_dir = output_dir.resolve()
    for pattern in patterns:
        text = str(pattern)
        path = Path(text).expanduser()
        if path.is_file():
            found.append((path, path.parent))
        elif path.is_dir():
            discovery.ignored += _walk(path, path, output_dir, found)
        elif _GLOB_MAGIC.search(text):
            matches = sorted(glob.glob(os.path.expanduser(text), recursive=True))
            if not matches:
                discovery.failures.append(Failure(text, "no files match this pattern"))
            base = _glob_base(text)
            for match in map(Path, matches):
                if match.is_dir():
                    discovery.ignored += _walk(match, base, output_dir, found)
                elif not _is_hidden(match) and not _inside(match, output_dir):
                    found.append((match, base))
        else:
            discovery.failures.append(Failure(text, "no such file or folder"))
    _add_inputs(found, discovery)
    return discovery


def _walk(folder: Path, base: Path, output_dir: Path, found: list[tuple[Path, Path]]) -> int:
    ignored = 0
    extensions = handled_extensions()
    for root, folders, files in os.walk(folder):
        root_path = Path(root)
        folders[:] = sorted(f for f in folders if not f.startswith(".") and not _inside(root_path / f, output_dir))
        for name in sorted(files):
            if name.startswith("."):
                continue
            if Path(name).suffix.lower() in extensions:
                found.append((root_path / name, base))
            else:
                ignored += 1
    return ignored


def _add_inputs(found: list[tuple[Path, Path]], discovery: Discovery) -> None:
    seen: set[Path] = set()
    owner: dict[str, str] = {}
    frame_files: dict[Path, Path] = {}
    entries: list[tuple[KeypointSource, str]] = []
    for path, base in found:
        resolved = path.resolve()
        if resolved in seen:
            continue
        seen.add(resolved)
        if is_frame_file(path):
            frame_files[path] = base
            continue
        entries.append((KeypointSource(path), _relative_name(path.parent, base, path.name)))
    for (folder, prefix), members in group_frame_files(frame_files).items():
        name = _relative_name(folder, frame_files[members[0]], sequence_name(prefix))
        entries.append((KeypointSource(folder, tuple(members)), name))
    for source, name in entries:
        key = name.lower()  # case-insensitive file systems would merge names differing in case only
        if key in owner:
            discovery.failures.append(Failure(str(source), f"its outputs would have the same names as {owner[key]}'s"))
            continue
        owner[key] = str(source)
        discovery.inputs.append(BatchInput(source, name))


def _relative_name(folder: Path, base: Path, name: str) -> str:
    try:
        relative = folder.resolve().relative_to(base.resolve())
    except ValueError:
        relative = Path()
    return (relative / name).as_posix()


def _glob_base(pattern: str) -> Path:
    parts = Path(os.path.expanduser(pattern)).parts
    fixed = []
    for part in parts:
        if _GLOB_MAGIC.search(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _is_hidden(path: Path) -> bool:
    return path.name.startswith(".")


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder)
