"""Helpers shared by the batch tests: test data and the command line to run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from mtf_pose.io import _samples

REPO_ROOT = Path(__file__).resolve().parents[2]
FPS = 30.0
IMAGE_SIZE = (1920, 1080)


def person(frames: int = 40, *, shift: float = 0.0, seed: int = 0, image_size: tuple[int, int] = IMAGE_SIZE) -> np.ndarray:
    """A walking person's COCO keypoints, rounded as a JSON file would keep them."""
    return np.round(_samples.walking_person(frames, fps=FPS, image_size=image_size, shift=shift, seed=seed), 2)


def console_script() -> list[str]:
    """The installed ``mtf-pose`` entry point (next to this Python, else on PATH); ``python -m`` when absent."""
    beside = Path(sys.executable).parent / "mtf-pose"
    found = str(beside) if beside.is_file() else shutil.which("mtf-pose")
    return [found] if found else [sys.executable, "-m", "mtf_pose.cli"]


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def run_cli(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*console_script(), *map(str, args)], env=cli_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def visible_files(folder: Path) -> set[str]:
    """Files a user sees in ``folder`` (hidden ones, like the .mtf-pose state, left out), relative paths."""
    return {
        p.relative_to(folder).as_posix() for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    }
