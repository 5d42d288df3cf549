"""``mtf-pose lift`` end to end, through the installed console script: a folder mixing every format with
broken files, results compared with lifting the same keypoints through the Python API, resuming, SIGKILL
and SIGINT in the middle of a batch."""

from __future__ import annotations

import csv
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from batch_helpers import (
    FPS,
    IMAGE_SIZE,
    cli_env,
    console_script,
    lift_with_api,
    make_mixed_folder,
    person,
    run_cli,
    visible_files,
)

from mtf_pose import Lifter, LiftResult
from mtf_pose._atomic import PARTIAL_SUFFIX
from mtf_pose.io import _samples


def test_lift_a_folder_of_every_format(tmp_path: Path, small_weights: Path, small_lifter: Lifter) -> None:
    expected, broken = make_mixed_folder(tmp_path / "in")
    out = tmp_path / "out"
    arguments = ["lift", tmp_path / "in", "-o", out, "--weights", small_weights, "--fps", "30", "--image-size",
                 "1920x1080", "--layout", "coco", "--no-flip", "--threads", "1"]
    first = run_cli(*arguments)
    assert first.returncode == 1, first.stderr
    assert visible_files(out) == set(expected)
    lines = first.stdout.splitlines()
    assert lines[0] == (
        f"{len(expected) - 2 + len(broken)} inputs: 9 lifted, 0 skipped (outputs exist), {len(broken)} failed"
    )
    assert lines[1].startswith(f"{len(expected)} outputs written, 0 already there")
    assert "1 file with other extensions ignored" in lines
    failures = lines[lines.index("failed:") + 1:]
    assert len(failures) == len(broken)
    for name, reason in broken.items():
        (line,) = [f for f in failures if f.startswith(f"  {tmp_path / 'in' / name}")]
        assert reason in line, line
        assert f"failed: {tmp_path / 'in' / name}" in first.stderr  # reported as it happened, too
    assert "Traceback" not in first.stderr

    for name, truth in expected.items():
        result = LiftResult.load(out / name)
        reference = lift_with_api(small_lifter, truth)
        np.testing.assert_allclose(result.joints_3d, reference.joints_3d, atol=1e-4, err_msg=name)
        np.testing.assert_array_equal(result.filled, reference.filled, err_msg=name)
        np.testing.assert_allclose(result.confidence, reference.confidence, atol=1e-6, err_msg=name)
        assert result.metadata["source"]["first_frame"] == truth.first_frame, name
    assert LiftResult.load(out / "alphapose-results.json.person2.npz").filled[10:15].all()

    stamps = {name: (out / name).stat().st_mtime_ns for name in expected}
    second = run_cli(*arguments, "--skip-existing")
    assert second.returncode == 1  # the broken files are tried again, and fail again
    assert second.stdout.splitlines()[0].endswith(f"0 lifted, 9 skipped (outputs exist), {len(broken)} failed")
    assert second.stdout.splitlines()[1].startswith(f"0 outputs written, {len(expected)} already there; 0 frames")
    assert {name: (out / name).stat().st_mtime_ns for name in expected} == stamps


def test_csv_output_of_one_person(tmp_path: Path, small_weights: Path, small_lifter: Lifter) -> None:
    people = {3: person(30, seed=1), 8: person(30, shift=2.0, seed=2)}
    _samples.write_alphapose(tmp_path / "ap.json", people)
    done = run_cli("lift", tmp_path / "ap.json", "-o", tmp_path / "out", "--weights", small_weights, "--fps", "30",
                   "--image-size", "1920,1080", "--person", "8", "--output-format", "csv", "--no-flip",
                   "--threads", "1")
    assert done.returncode == 0, done.stderr
    assert visible_files(tmp_path / "out") == {"ap.json.person8.csv"}
    with open(tmp_path / "out" / "ap.json.person8.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    header, rows = rows[0], rows[1:]
    assert (
        header[:6] == ["frame", "time_s", "source_frame", "pelvis_x", "pelvis_y", "pelvis_z"]
        and len(header) == 3 + 17 * 4
    )
    reference = small_lifter.lift(people[8], layout="coco", image_size=IMAGE_SIZE, fps=FPS, flip=False)
    values = np.array([[float(v) for v in row] for row in rows])
    np.testing.assert_array_equal(values[:, 0], np.arange(30))
    np.testing.assert_allclose(values[:, 1], np.arange(30) / FPS, atol=1e-6)
    np.testing.assert_allclose(values[:, 3:54].reshape(30, 17, 3), reference.joints_3d, atol=2e-4)
    np.testing.assert_allclose(values[:, 54:], reference.confidence, atol=1e-4)


def test_bad_arguments_are_usage_errors(tmp_path: Path) -> None:
    bad_size = run_cli("lift", tmp_path, "-o", tmp_path / "out", "--image-size", "1920")
    assert bad_size.returncode == 2 and "expected WIDTHxHEIGHT" in bad_size.stderr
    bad_format = run_cli("lift", tmp_path, "-o", tmp_path / "out", "--output-format", "fbx")
    assert bad_format.returncode == 2 and "invalid choice: 'fbx'" in bad_format.stderr
    nothing = run_cli("lift", tmp_path / "absent", "-o", tmp_path / "out")
    assert nothing.returncode == 1
    assert f"{tmp_path / 'absent'}: no such file or folder" in nothing.stdout
    assert not (tmp_path / "out").exists()


# -- interruptions ----------------------------------------------------------------------------------------------
def many_short_files(folder: Path, count: int = 16) -> list[str]:
    """Enough one-clip files that, lifted two at a time (--batch-size 1), the batch is still running when
    the first outputs appear, even on an idle machine."""
    for index in range(count):
        _samples.write_npy(folder / f"walk{index:02d}.npy", person(40, seed=index))
    return [f"walk{index:02d}.npy.npz" for index in range(count)]


def start_lift(folder: Path, out: Path, weights: Path, *extra: str) -> subprocess.Popen[str]:
    command = [*console_script(), "lift", str(folder), "-o", str(out), "--weights", str(weights), "--fps", "30",
               "--image-size", "1920x1080", "--layout", "coco", "--no-flip", "--batch-size", "1", "--threads", "1",
               *extra]
    return subprocess.Popen(command, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_outputs(out: Path, count: int, process: subprocess.Popen[str], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while len(visible_files(out)) < count:
        assert process.poll() is None, "the batch ended before it could be interrupted"
        assert time.monotonic() < deadline, "no outputs appeared"
        time.sleep(0.01)


def assert_every_output_complete(out: Path, names: list[str]) -> set[str]:
    """Every visible file is one of the expected outputs and loads completely; the only other files are
    hidden ones (the run's state and temporary files)."""
    present = visible_files(out)
    assert present <= set(names), present - set(names)
    for name in present:
        result = LiftResult.load(out / name)
        assert result.joints_3d.shape == (40, 17, 3) and np.isfinite(result.joints_3d).all()
    return present


@pytest.mark.slow
def test_sigkill_mid_batch_then_resume(tmp_path: Path, small_weights: Path) -> None:
    names = many_short_files(tmp_path / "in")
    out = tmp_path / "out"
    process = start_lift(tmp_path / "in", out, small_weights)
    wait_for_outputs(out, 1, process)
    process.kill()
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    survivors = assert_every_output_complete(out, names)
    assert len(survivors) < len(names)
    # A write cut short by the kill leaves only a hidden temporary file; plant one in case this kill
    # happened between writes.
    (out / f".walk15.npy.npz.0123456789ab{PARTIAL_SUFFIX}").write_bytes(b"\x00" * 100)
    stamps = {name: ((out / name).stat().st_ino, (out / name).stat().st_mtime_ns) for name in survivors}

    resumed = run_cli("lift", tmp_path / "in", "-o", out, "--weights", small_weights, "--fps", "30", "--image-size",
                      "1920x1080", "--layout", "coco", "--no-flip", "--skip-existing", "--threads", "1")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{len(names) - len(survivors)} outputs written, {len(survivors)} already there" in resumed.stdout
    assert "partial file" in resumed.stdout
    assert assert_every_output_complete(out, names) == set(names)
    assert {name: ((out / name).stat().st_ino, (out / name).stat().st_mtime_ns) for name in survivors} == stamps
    assert not list(out.rglob(f"*{PARTIAL_SUFFIX}"))


@pytest.mark.slow
def test_sigint_stops_after_the_current_batch_with_a_summary(tmp_path: Path, small_weights: Path) -> None:
    names = many_short_files(tmp_path / "in")
    out = tmp_path / "out"
    process = start_lift(tmp_path / "in", out, small_weights)
    wait_for_outputs(out, 1, process)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stdout + stderr
    assert "SIGINT: stopping after the sequences being lifted" in stderr
    assert stdout.startswith(f"interrupted: {len(names)} inputs:") and "rerun with --skip-existing to finish" in stdout
    assert "Traceback" not in stderr
    done = assert_every_output_complete(out, names)
    assert 1 <= len(done) < len(names)
    assert not list(out.rglob(f"*{PARTIAL_SUFFIX}"))
    resumed = run_cli("lift", tmp_path / "in", "-o", out, "--weights", small_weights, "--fps", "30", "--image-size",
                      "1920x1080", "--layout", "coco", "--no-flip", "--skip-existing", "--threads", "1")
    assert resumed.returncode == 0
    assert f"{len(names) - len(done)} outputs written, {len(done)} already there" in resumed.stdout
    assert assert_every_output_complete(out, names) == set(names)
