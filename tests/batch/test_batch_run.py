"""The batch engine in-process: which inputs it finds and how it names their outputs, where per-file facts
come from, how failures are isolated, and how a rerun resumes."""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from batch_helpers import FPS, IMAGE_SIZE, person, visible_files

from mtf_pose import Lifter, LiftResult
from mtf_pose._atomic import write_text_atomic
from mtf_pose.batch import BatchLockedError, BatchOptions, run_batch
from mtf_pose.io import OutputFormat, _samples, writers
from mtf_pose.io.discovery import discover_inputs


def options(out: Path, **overrides: object) -> BatchOptions:
    settings: dict[str, object] = {
        "output_dir": out, "fps": FPS, "image_size": IMAGE_SIZE, "flip": False, "progress": False
    }
    return BatchOptions(**{**settings, **overrides})


def run(inputs: list, out: Path, lifter: Lifter, **overrides: object):  # type: ignore[no-untyped-def]
    messages: list[str] = []
    summary = run_batch(inputs, options(out, **overrides), lifter=lifter, log=messages.append)
    return summary, messages


# -- discovery --------------------------------------------------------------------------------------------------
def test_discovery_names_mirror_folders_and_keep_extensions(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for name in ("a.npy", "a.json", "sub/deeper/b.npz", "sub/.hidden.npy", ".git/c.npy", "video.mp4", "out/x.npy"):
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_bytes(b"")
    _samples.write_openpose(data / "op", {0: np.full((3, 25, 3), 5.0)}, prefix="clip")
    found = discover_inputs([data, data / "a.npy"], data / "out")
    names = [item.name for item in found.inputs]
    assert names == ["a.json", "a.npy", "sub/deeper/b.npz", "op/clip_keypoints"]  # a.npy given twice: once
    assert found.ignored == 1 and found.failures == []
    openpose = found.inputs[-1].source
    assert openpose.path == data / "op" and len(openpose.members) == 3


def test_discovery_of_globs_missing_paths_and_colliding_names(tmp_path: Path) -> None:
    for name in ("x/one/walk.npy", "x/two/walk.npy", "y/walk.npy"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = discover_inputs([f"{tmp_path}/x/*/walk.npy", tmp_path / "y/walk.npy", tmp_path / "x/one/walk.npy",
                             tmp_path / "nothing.npy", f"{tmp_path}/*.json"], tmp_path / "out")
    assert [item.name for item in found.inputs] == ["one/walk.npy", "two/walk.npy", "walk.npy"]
    reasons = {failure.input: failure.reason for failure in found.failures}
    assert reasons == {
        str(tmp_path / "nothing.npy"): "no such file or folder",
        f"{tmp_path}/*.json": "no files match this pattern",
    }
    colliding = discover_inputs([tmp_path / "y/walk.npy", tmp_path / "x/one/walk.npy"], tmp_path / "out")
    assert [item.name for item in colliding.inputs] == ["walk.npy"]
    assert "same names as" in colliding.failures[0].reason


# -- per-file facts and options ---------------------------------------------------------------------------------
def test_facts_recorded_in_a_file_win_over_options(tmp_path: Path, small_lifter: Lifter) -> None:
    clip = person(30, image_size=(1000, 1002))
    _samples.write_videopose3d(tmp_path / "in" / "data_2d_custom_x.npz", {"clip": (clip[..., :2], (1000, 1002))})
    _samples.write_npz(tmp_path / "in" / "k.npz", person(30), fps=25.0, layout="coco")
    summary, _ = run([tmp_path / "in"], tmp_path / "out", small_lifter, image_size=(640, 480), fps=60.0)
    assert summary.failures == [] and summary.outputs_written == 2
    vp3d = LiftResult.load(tmp_path / "out" / "data_2d_custom_x.npz.clip.npz")
    npz = LiftResult.load(tmp_path / "out" / "k.npz.npz")
    assert (vp3d.metadata["image_size"], vp3d.metadata["input_fps"]) == ([1000, 1002], 60.0)
    assert (npz.metadata["image_size"], npz.metadata["input_fps"]) == ([640, 480], 25.0)
    assert vp3d.metadata["source"] == {
        "input": str(tmp_path / "in" / "data_2d_custom_x.npz"), "format": "videopose3d", "person": "clip",
        "first_frame": 0, "missing_frames": 0}


def test_missing_facts_name_the_option_to_pass(tmp_path: Path, small_lifter: Lifter) -> None:
    _samples.write_npy(tmp_path / "in" / "walk.npy", person(20))
    summary, messages = run([tmp_path / "in"], tmp_path / "out", small_lifter, fps=None)
    (failure,) = summary.failures
    assert failure.reason == (
        "the file does not say its joint layout and 17 joints fit ['coco', 'h36m']; the joint positions look like "
        "coco: pass --layout coco"
    )
    assert messages == [f"failed: {tmp_path / 'in' / 'walk.npy'}: {failure.reason}"]
    summary, _ = run([tmp_path / "in"], tmp_path / "out", small_lifter, fps=None, layout="coco")
    assert [f.reason for f in summary.failures] == ["the file does not record its frame rate: pass --fps"]
    summary, _ = run([tmp_path / "in"], tmp_path / "out", small_lifter, image_size=None, layout="coco")
    assert [f.reason for f in summary.failures] == [
        "the file does not record the image size: pass --image-size WIDTHxHEIGHT"
    ]
    assert visible_files(tmp_path / "out") == set()


# -- people -----------------------------------------------------------------------------------------------------
def test_one_bad_person_fails_alone_and_the_batch_goes_on(tmp_path: Path, small_lifter: Lifter) -> None:
    good, bad = person(30, seed=1), person(30, shift=2.0, seed=2)
    bad[:, 11:13, 2] = 0.0  # hips never detected: the pelvis cannot be filled in
    _samples.write_alphapose(tmp_path / "in" / "two.json", {1: good, 2: bad})
    _samples.write_npy(tmp_path / "in" / "walk.npy", person(30))
    summary, _ = run([tmp_path / "in"], tmp_path / "out", small_lifter, layout="coco")
    assert [(f.input, f.person) for f in summary.failures] == [(str(tmp_path / "in" / "two.json"), "person 2")]
    assert "'pelvis'" in summary.failures[0].reason and "missing in every frame" in summary.failures[0].reason
    assert visible_files(tmp_path / "out") == {"two.json.person1.npz", "walk.npy.npz"}
    assert (summary.lifted, summary.failed, summary.outputs_written) == (1, 1, 2)


def test_person_selection_and_short_tracks(tmp_path: Path, small_lifter: Lifter) -> None:
    long, short = person(30, seed=1), np.full((30, 17, 3), np.nan)
    short[3:5] = person(2, shift=2.0, seed=2)
    _samples.write_alphapose(tmp_path / "in" / "ap.json", {4: long, 7: short})
    summary, _ = run([tmp_path / "in"], tmp_path / "out", small_lifter, min_frames=5)
    assert visible_files(tmp_path / "out") == {"ap.json.person4.npz"}
    assert summary.not_lifted_short == [f"{tmp_path / 'in' / 'ap.json'} (person 7): seen in 2 frames"]
    summary, _ = run([tmp_path / "in"], tmp_path / "out2", small_lifter, person="7")
    assert visible_files(tmp_path / "out2") == {"ap.json.person7.npz"}
    result = LiftResult.load(tmp_path / "out2" / "ap.json.person7.npz")
    assert result.frames == 2 and result.metadata["source"]["first_frame"] == 3
    summary, _ = run([tmp_path / "in"], tmp_path / "out3", small_lifter, person="5")
    assert summary.failures[0].reason == "no person '5' (this file has: person4, person7)"


# -- resuming ---------------------------------------------------------------------------------------------------
def test_rerun_skips_recorded_inputs_without_reading_them(tmp_path: Path, small_lifter: Lifter) -> None:
    _samples.write_alphapose(tmp_path / "in" / "ap.json", {1: person(20)})
    _samples.write_npy(tmp_path / "in" / "walk.npy", person(20))
    first, _ = run([tmp_path / "in"], tmp_path / "out", small_lifter, layout="coco")
    assert (first.lifted, first.outputs_written) == (2, 2)
    (tmp_path / "in" / "ap.json").write_text("not json any more")  # would fail if it were read again
    second, _ = run([tmp_path / "in"], tmp_path / "out", small_lifter, layout="coco", skip_existing=True)
    assert (second.lifted, second.skipped, second.outputs_written, second.outputs_skipped) == (0, 2, 0, 2)
    assert second.failures == [] and second.frames == 0
    third, _ = run([tmp_path / "in"], tmp_path / "out", small_lifter, layout="coco")
    assert "not valid JSON" in third.failures[0].reason


def test_an_output_without_a_record_is_kept_and_the_rest_of_its_input_is_lifted(
    tmp_path: Path, small_lifter: Lifter
) -> None:
    _samples.write_alphapose(tmp_path / "in" / "ap.json", {1: person(20, seed=1), 2: person(20, shift=2.0, seed=2)})
    run([tmp_path / "in"], tmp_path / "out", small_lifter)
    kept = tmp_path / "out" / "ap.json.person1.npz"
    before = kept.stat().st_mtime_ns
    (tmp_path / "out" / "ap.json.person2.npz").unlink()
    (tmp_path / "out" / ".mtf-pose" / "done" / "ap.json.npz.json").unlink()  # as if killed before the record
    summary, _ = run([tmp_path / "in"], tmp_path / "out", small_lifter, skip_existing=True)
    assert (summary.outputs_written, summary.outputs_skipped, summary.lifted) == (1, 1, 1)
    assert kept.stat().st_mtime_ns == before
    record = json.loads((tmp_path / "out" / ".mtf-pose" / "done" / "ap.json.npz.json").read_text())
    assert record["outputs"] == ["ap.json.person1.npz", "ap.json.person2.npz"]


def test_partial_files_of_an_interrupted_run_are_removed(tmp_path: Path, small_lifter: Lifter) -> None:
    _samples.write_npy(tmp_path / "in" / "walk.npy", person(20))
    stale = tmp_path / "out" / "sub" / ".walk.npy.npz.0123456789ab.partial"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a file")
    summary, _ = run([tmp_path / "in"], tmp_path / "out", small_lifter, layout="coco")
    assert summary.partial_files_removed == 1 and not stale.exists()


def test_a_second_run_into_the_same_folder_is_refused(tmp_path: Path, small_lifter: Lifter) -> None:
    _samples.write_npy(tmp_path / "in" / "walk.npy", person(20))
    (tmp_path / "out" / ".mtf-pose").mkdir(parents=True)
    with open(tmp_path / "out" / ".mtf-pose" / "lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(BatchLockedError, match="another mtf-pose lift is writing to this folder"):
            run([tmp_path / "in"], tmp_path / "out", small_lifter, layout="coco")


@pytest.mark.parametrize("jobs", [0, 3])
def test_outputs_do_not_depend_on_the_number_of_workers(tmp_path: Path, small_lifter: Lifter, jobs: int) -> None:
    for index in range(3):
        _samples.write_npy(tmp_path / "in" / f"w{index}.npy", person(20 + 15 * index, seed=index))
    summary, _ = run([tmp_path / "in"], tmp_path / "out", small_lifter, layout="coco", jobs=jobs, batch_size=1)
    assert summary.outputs_written == 3
    for index in range(3):
        keypoints = np.load(tmp_path / "in" / f"w{index}.npy")
        expected = small_lifter.lift(keypoints, layout="coco", image_size=IMAGE_SIZE, fps=FPS, flip=False)
        np.testing.assert_allclose(
            LiftResult.load(tmp_path / "out" / f"w{index}.npy.npz").joints_3d, expected.joints_3d, atol=1e-5
        )


def test_an_output_format_is_one_registration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_lifter: Lifter
) -> None:
    def write_frames(result: LiftResult, path: Path) -> None:
        write_text_atomic(path, f"{result.frames} frames\n")

    monkeypatch.setitem(writers._OUTPUT_FORMATS, "frames", OutputFormat("frames", ".txt", write_frames, "frame count"))
    _samples.write_npy(tmp_path / "walk.npy", person(25))
    summary, _ = run([tmp_path / "walk.npy"], tmp_path / "out", small_lifter, layout="coco", output_format="frames")
    assert summary.failures == []
    assert (tmp_path / "out" / "walk.npy.txt").read_text() == "25 frames\n"


def test_bvh_output_is_the_export_of_the_lifted_result(tmp_path: Path, small_lifter: Lifter) -> None:
    from mtf_pose.export import write_bvh

    _samples.write_npy(tmp_path / "walk.npy", person(30))
    for output_format in ("npz", "bvh"):
        summary, _ = run([tmp_path / "walk.npy"], tmp_path / output_format, small_lifter, layout="coco",
                         output_format=output_format)
        assert summary.failures == []
    expected = tmp_path / "expected.bvh"
    write_bvh(LiftResult.load(tmp_path / "npz" / "walk.npy.npz"), expected)
    assert (tmp_path / "bvh" / "walk.npy.bvh").read_bytes() == expected.read_bytes()


class _FailsOnLongSequences:
    """A lifter whose network runs out of memory on any sequence longer than 30 frames."""

    def __init__(self, lifter: Lifter) -> None:
        self.lifter, self.fps, self.frames = lifter, lifter.fps, lifter.frames

    def lift_batch(self, sequences: list, **arguments: object) -> list[LiftResult]:
        if any(sequence.keypoints.shape[0] > 30 for sequence in sequences):
            raise RuntimeError("out of memory")
        return self.lifter.lift_batch(sequences, **arguments)  # type: ignore[arg-type]


def test_a_sequence_that_breaks_the_network_fails_alone(tmp_path: Path, small_lifter: Lifter) -> None:
    for index, frames in enumerate((20, 45, 25)):
        _samples.write_npy(tmp_path / "in" / f"w{index}.npy", person(frames, seed=index))
    summary, _ = run([tmp_path / "in"], tmp_path / "out", _FailsOnLongSequences(small_lifter), layout="coco")  # type: ignore[arg-type]
    assert [(f.input, f.reason) for f in summary.failures] == [
        (str(tmp_path / "in" / "w1.npy"), "lifting failed (RuntimeError: out of memory)")]
    assert visible_files(tmp_path / "out") == {"w0.npy.npz", "w2.npy.npz"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_an_unusable_device_stops_the_run_before_any_file(tmp_path: Path) -> None:
    _samples.write_npy(tmp_path / "in" / "walk.npy", person(20))
    with pytest.raises(ValueError, match="CUDA is not available"):
        run_batch([tmp_path / "in"], options(tmp_path / "out", device="cuda", layout="coco"))
    assert not (tmp_path / "out").exists()
