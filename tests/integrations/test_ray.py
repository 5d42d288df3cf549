"""The Ray Data engine on a local Ray instance (``ray_address``): ``mtf-pose lift --engine ray`` writes the
files, records, summary and exit status of the single-process engine on the same folder, bad files
included; the Python pieces (reading, LiftBatch, writing files or Parquet) row by row; actors use the CPUs
and GPUs Ray gives them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray.data", reason="Ray Data is not installed: pip install 'mtf_pose[ray]' (in the test extra)")

import ray  # after the skip: these tests need Ray
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
from ray.data import ActorPoolStrategy

from mtf_pose import Lifter, LiftResult, cli
from mtf_pose.batch import BatchOptions
from mtf_pose.integrations.ray import (
    LiftBatch,
    RayOptions,
    read_keypoint_files,
    result_from_row,
    run_batch,
    write_result_files,
)
from mtf_pose.io import _samples
from mtf_pose.skeleton import BONES

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
ARRAYS = ("joints_3d", "joints_3d_normalized", "confidence", "filled", "metres_per_unit")


def lift_arguments(folder: Path, weights: Path) -> list[str | Path]:
    return ["lift", folder, "--weights", weights, "--fps", "30", "--image-size", "1920x1080", "--layout", "coco",
            "--no-flip", "--threads", "1"]


TIMINGS = ("wall_s", "read_s", "lift_s", "write_s", "frames_per_second")


def summary_without_timings(stdout: str) -> list[str]:
    counts, outputs, *rest = stdout.splitlines()
    return [counts, outputs.split(" frames in ")[0], *rest]


def report_without_timings(path: Path) -> dict:
    return {key: value for key, value in json.loads(path.read_text()).items() if key not in TIMINGS}


def assert_same_results(first: Path, second: Path) -> None:
    left, right = LiftResult.load(first), LiftResult.load(second)
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(left, name), getattr(right, name), err_msg=f"{first.name}: {name}")
    assert (left.fps, left.subject_height, left.metadata) == (right.fps, right.subject_height, right.metadata)


def records(out: Path) -> dict[str, dict]:
    done = out / ".mtf-pose" / "done"
    return {path.relative_to(done).as_posix(): json.loads(path.read_text()) for path in done.rglob("*.json")}


def test_workers_import_this_checkout(ray_address: str) -> None:
    @ray.remote
    def module_file() -> str:
        import mtf_pose

        return mtf_pose.__file__

    assert Path(ray.get(module_file.remote())).is_relative_to(REPO_ROOT)


# -- mtf-pose lift --engine ray -----------------------------------------------------------------------------
def test_ray_engine_writes_what_the_local_engine_writes(tmp_path: Path, small_weights: Path, small_lifter: Lifter,
                                                        ray_address: str) -> None:
    expected, broken = make_mixed_folder(tmp_path / "in")
    arguments = lift_arguments(tmp_path / "in", small_weights)
    on_ray = ["--engine", "ray", "--address", ray_address, "--ray-actors", "2", "--ray-batch-rows", "3"]
    local = run_cli(*arguments, "-o", tmp_path / "local", "--report", tmp_path / "local.json")
    distributed = run_cli(*arguments, "-o", tmp_path / "ray", "--report", tmp_path / "ray.json", *on_ray)

    assert (local.returncode, distributed.returncode) == (1, 1), distributed.stderr
    assert visible_files(tmp_path / "ray") == visible_files(tmp_path / "local") == set(expected)
    assert summary_without_timings(distributed.stdout) == summary_without_timings(local.stdout)
    assert report_without_timings(tmp_path / "ray.json") == report_without_timings(tmp_path / "local.json")
    counts, outputs, *rest = summary_without_timings(distributed.stdout)
    inputs, frames = len(expected) - 2 + len(broken), sum(len(truth.keypoints) for truth in expected.values())
    assert counts == f"{inputs} inputs: 9 lifted, 0 skipped (outputs exist), {len(broken)} failed"
    assert outputs == f"{len(expected)} outputs written, 0 already there; {frames}"
    for name, reason in broken.items():
        (line,) = [line for line in rest if line.startswith(f"  {tmp_path / 'in' / name}")]
        assert reason in line, line
        assert f"failed: {tmp_path / 'in' / name}" in distributed.stderr  # reported as it happened
    assert "Traceback" not in distributed.stderr
    for name, truth in expected.items():
        assert_same_results(tmp_path / "ray" / name, tmp_path / "local" / name)
        reference = lift_with_api(small_lifter, truth)  # and both match the Python API
        np.testing.assert_allclose(LiftResult.load(tmp_path / "ray" / name).joints_3d, reference.joints_3d, atol=1e-4)
    assert records(tmp_path / "ray") == records(tmp_path / "local")

    stamps = {name: (tmp_path / "ray" / name).stat().st_mtime_ns for name in expected}
    local_again = run_cli(*arguments, "-o", tmp_path / "local", "--skip-existing")
    ray_again = run_cli(*arguments, "-o", tmp_path / "ray", "--skip-existing", *on_ray)
    assert (local_again.returncode, ray_again.returncode) == (1, 1)  # the broken files fail again
    assert summary_without_timings(ray_again.stdout) == summary_without_timings(local_again.stdout)
    assert ray_again.stdout.splitlines()[0].endswith(f"0 lifted, 9 skipped (outputs exist), {len(broken)} failed")
    assert {name: (tmp_path / "ray" / name).stat().st_mtime_ns for name in expected} == stamps


@pytest.mark.parametrize(("arguments", "message"), [
    (["--address", "auto"], "--address needs --engine ray"),
    (["--ray-actors", "2"], "--ray-actors needs --engine ray"),
    (["--engine", "ray", "--device", "cuda"],
     "device 'cuda' needs GPU actors: give each some GPUs (--ray-gpus-per-actor)"),
    (["--engine", "ray", "--ray-actors", "0"], "actors: Input should be greater than or equal to 1"),
    (["--engine", "ray", "--device", "gpu"], "device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'gpu'"),
])
def test_ray_options_that_cannot_work_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  arguments: list[str], message: str) -> None:
    _samples.write_npy(tmp_path / "walk.npy", person(20))
    assert cli.main(["lift", str(tmp_path / "walk.npy"), "-o", str(tmp_path / "out"), *arguments]) == 1
    assert capsys.readouterr().err == f"mtf-pose lift: error: {message}\n"
    assert not (tmp_path / "out").exists()


def test_ctrl_c_stops_a_run_on_its_own_local_ray_and_a_rerun_finishes(tmp_path: Path, small_weights: Path,
                                                                      ray_address: str) -> None:
    names = []
    for index in range(24):
        _samples.write_npy(tmp_path / "in" / f"walk{index:02d}.npy", person(400, seed=index))
        names.append(f"walk{index:02d}.npy.npz")
    arguments = [*lift_arguments(tmp_path / "in", small_weights), "-o", str(tmp_path / "out"), "--engine", "ray",
                 "--ray-actors", "1", "--ray-batch-rows", "1", "--batch-size", "1"]
    # No --address: the run starts a Ray of its own. Its own session, so that SIGINT goes to the whole process
    # group, Ray's processes included, as Ctrl-C in a terminal does.
    process = subprocess.Popen([*console_script(), *map(str, arguments)], env=cli_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 240
    while not visible_files(tmp_path / "out"):
        assert process.poll() is None, "the batch ended before it could be interrupted"
        assert time.monotonic() < deadline, "no outputs appeared"
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stdout + stderr
    assert "SIGINT: stopping: outputs already written are kept" in stderr
    # Ray may add a line of its own: the SIGINT reached the actor too, and its task is to be retried.
    (counts,) = [line for line in stdout.splitlines() if line.startswith("interrupted: ")]
    assert counts.startswith(f"interrupted: {len(names)} inputs:") and "not finished" in counts
    assert "rerun with --skip-existing to finish" in stdout and "Traceback" not in stderr
    present = visible_files(tmp_path / "out")
    assert present < set(names)
    for name in present:  # complete, never half-written
        assert LiftResult.load(tmp_path / "out" / name).joints_3d.shape == (400, 17, 3)

    resumed = run_cli(*arguments, "--skip-existing", "--address", ray_address)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{len(names) - len(present)} outputs written, {len(present)} already there" in resumed.stdout
    assert visible_files(tmp_path / "out") == set(names)


def test_an_actor_that_cannot_start_ends_the_run_with_one_line(tmp_path: Path, small_weights: Path,
                                                              capsys: pytest.CaptureFixture[str],
                                                              ray_address: str) -> None:
    # The driver reads only config.json; the actors load the network, as on a node that sees another file.
    weights = tmp_path / "weights"
    shutil.copytree(small_weights, weights)
    (weights / "model.safetensors").write_bytes(b"not a safetensors file")
    _samples.write_npy(tmp_path / "in" / "walk.npy", person(20))
    arguments = [*map(str, lift_arguments(tmp_path / "in", weights)), "-o", str(tmp_path / "out"), "--engine", "ray",
                 "--address", ray_address, "--ray-actors", "1"]
    assert cli.main(arguments) == 1
    # Ray's log monitor may print the workers' own lines around ours.
    (error,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("mtf-pose lift: error: ")]
    assert error.startswith("mtf-pose lift: error: the Ray job failed: ") and "model.safetensors" in error, error
    assert not visible_files(tmp_path / "out")


# -- the Python pieces ------------------------------------------------------------------------------------------
def test_read_lift_write_files_and_parquet(tmp_path: Path, small_weights: Path, small_lifter: Lifter,
                                          ray_address: str) -> None:
    walk, first, second = person(40, seed=1), person(30, seed=2), person(300, shift=2.0, seed=3)
    _samples.write_npy(tmp_path / "in" / "walk.npy", walk)
    _samples.write_alphapose(tmp_path / "in" / "ap.json", {1: first, 2: second})
    (tmp_path / "in" / "bad.json").write_text("{")
    out = tmp_path / "out"
    (out / "ap.json.person1.npz").mkdir(parents=True)  # cannot be written: a folder is in the way
    options = BatchOptions(output_dir=out, fps=FPS, image_size=IMAGE_SIZE, layout="coco", weights=str(small_weights))

    rows = read_keypoint_files([tmp_path / "in"], options)
    lifted = rows.map_batches(
        LiftBatch, fn_constructor_kwargs={"weights": small_weights, "flip": False}, batch_size=8,
        compute=ActorPoolStrategy(size=1), num_cpus=1,
    ).materialize()
    by_output = {row["output"] or row["input"]: row for row in lifted.iter_rows()}
    bad_input = str(tmp_path / "in" / "bad.json")
    assert set(by_output) == {"walk.npy.npz", "ap.json.person1.npz", "ap.json.person2.npz", bad_input}
    bad = by_output.pop(bad_input)
    assert bad["error"].startswith("not valid JSON") and bad["joints_3d"].shape == (0, 17, 3)
    for name, keypoints in {"walk.npy.npz": walk, "ap.json.person1.npz": first, "ap.json.person2.npz": second}.items():
        row = by_output[name]
        reference = small_lifter.lift(keypoints, layout="coco", image_size=IMAGE_SIZE, fps=FPS, flip=False)
        frames = keypoints.shape[0]
        assert row["error"] == "" and row["joints_3d"].shape == (frames, 17, 3) and row["fps"] == FPS
        # The actor runs 1 thread, this process more: sums are added up in another order.
        np.testing.assert_allclose(row["joints_3d"], reference.joints_3d, atol=1e-4)
        bones = np.stack([row["joints_3d"][:, child] - row["joints_3d"][:, parent] for parent, child in BONES], axis=1)
        np.testing.assert_allclose(row["bone_lengths"], np.linalg.norm(bones, axis=-1), atol=1e-6)
        np.testing.assert_allclose(row["bone_directions"] * row["bone_lengths"][..., None], bones, atol=1e-6)
        assert json.loads(row["metadata"])["source"]["input"] == row["input"]

    status = {row["output"] or row["input"]: row for row in write_result_files(lifted, out).iter_rows()}
    assert {name for name, row in status.items() if row["written"]} == {"walk.npy.npz", "ap.json.person2.npz"}
    assert status["ap.json.person1.npz"]["error"].startswith(f"cannot write {out / 'ap.json.person1.npz'} (")
    for name in ("walk.npy.npz", "ap.json.person2.npz"):
        written, row = LiftResult.load(out / name), result_from_row(by_output[name])
        for array in ARRAYS:
            np.testing.assert_array_equal(getattr(written, array), getattr(row, array))
        assert written.metadata == row.metadata

    lifted.write_parquet(tmp_path / "parquet")
    read_back = {row["output"] or row["input"]: row for row in ray.data.read_parquet(tmp_path / "parquet").iter_rows()}
    assert set(read_back) == {*by_output, bad_input}
    for name, row in by_output.items():
        for array in (*ARRAYS, "bone_lengths", "bone_directions"):
            np.testing.assert_array_equal(read_back[name][array], row[array], err_msg=f"{name}: {array}")
        assert result_from_row(read_back[name]).metadata == result_from_row(row).metadata
    with pytest.raises(ValueError, match=r"bad\.json: not lifted \(not valid JSON"):
        result_from_row(read_back[bad_input])


def nested(keypoints: np.ndarray) -> np.ndarray:
    """The keypoints as Ray Data gives a nested list column (Parquet that pandas or pyarrow wrote): object
    arrays of object arrays."""
    frames = np.empty(len(keypoints), dtype=object)
    for index, frame in enumerate(keypoints):
        frames[index] = np.empty(len(frame), dtype=object)
        frames[index][:] = list(frame)
    return frames


def test_lift_batch_on_rows_of_arrays(small_weights: Path, small_lifter: Lifter, ray_address: str) -> None:
    coco, halpe = person(50, seed=1), _samples.coco_to(person(20, seed=2), "halpe26")
    ragged = nested(person(10, seed=3))
    ragged[4] = ragged[4][:16]
    rows = [
        {"id": 0, "keypoints": coco, "layout": "", "fps": np.nan},  # the config's layout and frame rate
        {"id": 1, "keypoints": halpe, "layout": "halpe26", "fps": 25.0},  # its own
        {"id": 2, "keypoints": nested(coco), "layout": None, "fps": None},  # nested lists, nulls
        {"id": 3, "keypoints": np.full((10, 17, 3), np.nan), "layout": "", "fps": None},
        {"id": 4, "keypoints": ragged, "layout": "", "fps": np.nan},
    ]
    batch = {name: np.array([row[name] for row in rows] + [None], dtype=object)[:-1]  # 1-D, whatever the rows
             for name in ("id", "keypoints", "layout", "fps")}
    lift = LiftBatch(weights=small_weights, flip=False, layout="coco", image_size=IMAGE_SIZE, fps=FPS)
    columns = lift(batch)
    assert list(columns["id"]) == [0, 1, 2, 3, 4] and "keypoints" not in columns
    assert columns["error"][:3] == ["", "", ""]
    assert "keypoints are NaN everywhere" in columns["error"][3] and columns["joints_3d"][3].shape == (0, 17, 3)
    assert np.isnan(columns["fps"][3])
    assert columns["error"][4].startswith("keypoints: not a (frames, joints, 2 or 3) array (")
    lifted = [(coco, "coco", FPS), (halpe, "halpe26", 25.0), (coco, "coco", FPS)]
    for index, (keypoints, layout, fps) in enumerate(lifted):
        reference = small_lifter.lift(keypoints, layout=layout, image_size=IMAGE_SIZE, fps=fps, flip=False)
        np.testing.assert_allclose(columns["joints_3d"][index], reference.joints_3d, atol=1e-5)
        assert columns["fps"][index] == fps and json.loads(columns["metadata"][index])["layout"] == layout
    assert columns["lift_seconds"][3] == 0.0 < columns["lift_seconds"][0]

    passed = lift({**batch, "error": np.array(["earlier problem", "", "", "", ""], dtype=object)})
    assert passed["error"][0] == "earlier problem" and passed["joints_3d"][0].shape == (0, 17, 3)


def test_actors_take_the_cpus_and_gpus_ray_gives_them(small_weights: Path, ray_address: str) -> None:
    @ray.remote
    class Probe:
        def __init__(self, weights: str) -> None:
            self.lift = LiftBatch(weights=weights, device="cpu", layout="coco", image_size=(1920, 1080), fps=30)

        def threads_when_lifting(self, keypoints: np.ndarray) -> tuple[int, int]:
            import numba
            import torch

            assert self.lift({"keypoints": keypoints[None]})["error"] == [""]
            return torch.get_num_threads(), numba.get_num_threads()  # numba's: set by its last kernel launch

        def auto_device(self) -> str:
            from mtf_pose.integrations.ray import _actor_device

            return _actor_device("auto")

    for cpus in (1, 2):  # one after the other: the instance has 2 CPUs
        probe = Probe.options(num_cpus=cpus).remote(str(small_weights))
        assert ray.get(probe.threads_when_lifting.remote(person(30))) == (cpus, cpus)
        assert ray.get(probe.auto_device.remote()) == "cpu"
        ray.kill(probe)
    with_gpu = Probe.options(num_cpus=0, num_gpus=1).remote(str(small_weights))
    assert ray.get(with_gpu.auto_device.remote()) == "cuda"  # the GPU Ray gave it (in name only here)
    ray.kill(with_gpu)


def test_run_batch_in_a_process_that_started_ray(tmp_path: Path, small_weights: Path, ray_address: str) -> None:
    _samples.write_npy(tmp_path / "in" / "walk.npy", person(40))
    _samples.write_alphapose(tmp_path / "in" / "ap.json", {3: person(30, seed=1), 8: person(2, seed=2)})
    _samples.write_npy(tmp_path / "in" / "short.npy", person(3))
    messages: list[str] = []
    options = BatchOptions(output_dir=tmp_path / "out", fps=FPS, image_size=IMAGE_SIZE, layout="coco",
                           weights=str(small_weights), flip=False, progress=False, min_frames=5, output_format="csv")
    summary = run_batch([tmp_path / "in", tmp_path / "absent"], options, RayOptions(actors=1), log=messages.append)
    assert (summary.inputs, summary.lifted, summary.skipped, summary.failed, summary.frames) == (4, 2, 1, 1, 70)
    assert visible_files(tmp_path / "out") == {"walk.npy.csv", "ap.json.person3.csv"}
    assert messages == [f"failed: {tmp_path / 'absent'}: no such file or folder"]
    assert summary.not_lifted_short == [  # in the order of the inputs, whichever worker finished first
        f"{tmp_path / 'in' / 'ap.json'} (person 8): seen in 2 frames",
        f"{tmp_path / 'in' / 'short.npy'}: seen in 3 frames",
    ]
    assert ray.is_initialized()  # the caller's Ray is left running
