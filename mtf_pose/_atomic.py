"""Atomic file writes: a temporary file in the destination folder, fsynced, then renamed over the target.

An interrupted write leaves either the old file or none, never a half-written one.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

PARTIAL_SUFFIX = ".partial"


@contextlib.contextmanager
def atomic_path(destination: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``destination``; on success it replaces ``destination``."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.parent / f".{destination.name}.{uuid.uuid4().hex[:12]}{PARTIAL_SUFFIX}"
    # Created like any new file (permissions from the umask), unlike tempfile's owner-only files.
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield temporary
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)


def write_atomic(destination: str | Path, writer: Callable[[Path], object]) -> None:
    """Call ``writer(temporary_path)`` and move the result to ``destination`` atomically."""
    with atomic_path(destination) as temporary:
        writer(temporary)


def write_text_atomic(destination: str | Path, text: str) -> None:
    write_atomic(destination, lambda path: path.write_text(text, encoding="utf-8"))


def write_bytes_atomic(destination: str | Path, data: bytes) -> None:
    write_atomic(destination, lambda path: path.write_bytes(data))
