"""Helpers shared by the batch and Ray engine tests: test data and the command line to run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtf_pose import Lifter, LiftResult
from mtf_pose.io import _samples

REPO_ROOT = Path(__file__).resolve().parents[2]
FPS = 30.0
IMAGE_SIZE = (1920, 1080)


def person(
    frames: int = 40, *, shift: float = 0.0, seed: int = 0, image_size: tuple[int, int] = IMAGE_SIZE
) -> np.ndarray:
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
        [*console_script(), *map(str, args)],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def visible_files(folder: Path) -> set[str]:
    """Files a user sees in ``folder`` (hidden ones, like the .mtf-pose state, left out), relative paths."""
    return {
        p.relative_to(folder).as_posix() for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    }


# -- a folder of every format, with broken files -----------------------------------------------------------------
@dataclass
class Expected:
    """What the Python API is given for the same person."""

    keypoints: np.ndarray
    layout: str
    image_size: tuple[float, float] = IMAGE_SIZE
    fps: float = FPS
    coordinates: str = "pixels"
    first_frame: int = 0


def in_layout(coco: np.ndarray, layout: str) -> np.ndarray:
    """The person in another layout, rounded to the 2 decimals the JSON writers keep."""
    return np.round(_samples.coco_to(coco, layout), 2)


def make_mixed_folder(root: Path) -> tuple[dict[str, Expected], dict[str, str]]:
    """Every format once, plus broken files. Returns the expected outputs and the broken inputs' reasons."""
    expected: dict[str, Expected] = {}
    walk = person(40, seed=1)
    _samples.write_npy(root / "walk.npy", walk)
    expected["walk.npy.npz"] = Expected(walk.astype(np.float32), "coco")

    small = person(35, seed=2, image_size=(1280, 720))
    _samples.write_npz(root / "arrays" / "named.npz", small, image_size=[1280, 720], fps=25.0, layout="coco")
    expected["arrays/named.npz.npz"] = Expected(small.astype(np.float32), "coco", (1280, 720), 25.0)

    clip = person(30, seed=3, image_size=(1000, 1002))[..., :2].astype(np.float32)
    _samples.write_videopose3d(root / "data_2d_custom_set.npz", {"clip": (clip, (1000, 1002))})
    expected["data_2d_custom_set.npz.clip.npz"] = Expected(clip, "coco", (1000, 1002))

    first, second = in_layout(person(40, seed=4), "halpe26"), in_layout(person(40, shift=2.0, seed=5), "halpe26")
    second[10:15] = np.nan  # person 2 not detected for 5 frames
    _samples.write_alphapose(root / "alphapose-results.json", {1: first, 2: second})
    expected["alphapose-results.json.person1.npz"] = Expected(first, "halpe26")
    expected["alphapose-results.json.person2.npz"] = Expected(second, "halpe26")

    coco = person(30, seed=6)
    _samples.write_coco_results(root / "coco_results.json", {0: coco})
    expected["coco_results.json.person0.npz"] = Expected(coco, "coco")

    near, far = (
        in_layout(person(40, seed=7), "openpose_body25"),
        in_layout(person(40, shift=2.2, seed=8), "openpose_body25"),
    )
    far[30:] = np.nan  # leaves after frame 29
    _samples.write_openpose(root / "openpose", {0: near, 1: far}, prefix="clip")
    expected["openpose/clip_keypoints.person0.npz"] = Expected(near, "openpose_body25")
    expected["openpose/clip_keypoints.person1.npz"] = Expected(far[:30], "openpose_body25")

    mm = person(30, seed=9)
    _samples.write_mmpose(root / "mmpose_demo.json", {0: mm}, style="demo")
    expected["mmpose_demo.json.person0.npz"] = Expected(mm, "coco", first_frame=1)

    unit = np.round(
        _samples.to_unit(_samples.coco_to(person(30, seed=10, image_size=(1280, 720)), "mediapipe33"), (1280, 720)), 4
    )
    _samples.write_mediapipe_json(root / "mediapipe.json", unit, image_size=(1280, 720), fps=FPS)
    expected["mediapipe.json.npz"] = Expected(unit, "mediapipe33", (1280, 720), coordinates="unit")

    landmarks = _samples.to_unit(_samples.coco_to(person(30, seed=11), "mediapipe33"), IMAGE_SIZE)
    _samples.write_mediapipe_npy(root / "landmarks.npy", landmarks)
    expected["landmarks.npy.npz"] = Expected(
        landmarks.astype(np.float32).astype(np.float64), "mediapipe33", coordinates="unit"
    )

    broken = {
        "broken.json": "not valid JSON: Expecting ',' delimiter at line 1, column",
        "empty.npy": "the file is empty",
        "flat.npy": "unknown format: the content matches none of the .npy formats",
        "unknown.json": "unknown format: the content matches none of the .json formats",
        "dangling.npz": "a broken symbolic link (to",
        "hips_missing.json": "keypoints: joint 'pelvis'",
    }
    (root / "broken.json").write_text('[{"image_id": "0.jpg", "keypoints": [1, 2 3]}]')
    (root / "empty.npy").write_bytes(b"")
    np.save(root / "flat.npy", np.ones((40, 17)))
    (root / "unknown.json").write_text('{"hello": "world"}')
    os.symlink(root / "nowhere.npz", root / "dangling.npz")
    no_hips = person(20, seed=12)
    no_hips[:, 11:13, 2] = 0.0
    _samples.write_alphapose(root / "hips_missing.json", {1: no_hips})
    (root / "README.txt").write_text("not an input")
    return expected, broken


def lift_with_api(lifter: Lifter, expected: Expected) -> LiftResult:
    return lifter.lift(
        expected.keypoints, layout=expected.layout, image_size=expected.image_size, fps=expected.fps,
        coordinates=expected.coordinates, flip=False,
    )
