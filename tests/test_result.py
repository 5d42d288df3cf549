"""LiftResult: bone quantities against hand-made skeletons, and lossless save/load."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from mtf_pose import LiftResult
from mtf_pose.result import STATURE_CHAIN_RATIO, chain_length, metres_per_unit


def make_result(joints: np.ndarray) -> LiftResult:
    frames = joints.shape[0]
    return LiftResult(
        joints_3d=joints.astype(np.float32), joints_3d_normalized=(joints / 2).astype(np.float32),
        confidence=np.full((frames, 17), 0.8, np.float32), filled=np.zeros((frames, 17), bool), fps=30.0,
        subject_height=1.7, metres_per_unit=np.full(frames, 2.0, np.float32), metadata={"note": "test"},
    )


def test_bone_quantities_of_a_known_pose() -> None:
    joints = np.zeros((1, 17, 3))
    joints[0, 1] = [0.0, 0.0, 0.3]  # bone 0 (pelvis -> right hip): along +z (away from the camera)
    joints[0, 2] = joints[0, 1] + [0.4, 0.0, 0.0]  # bone 1 (right hip -> knee): along +x
    joints[0, 3] = joints[0, 2] + [0.0, 0.5, 0.0]  # bone 2 (knee -> ankle): along +y (down in the image)
    result = make_result(joints)
    np.testing.assert_allclose(result.bone_lengths[0, :3], [0.3, 0.4, 0.5], rtol=1e-6)
    np.testing.assert_allclose(result.bone_directions[0, :3], [[0, 0, 1], [1, 0, 0], [0, 1, 0]], atol=1e-7)
    azimuth, polar = result.bone_angles[0, :3, 0], result.bone_angles[0, :3, 1]
    np.testing.assert_allclose(polar, [0, math.pi / 2, math.pi / 2], atol=1e-6)
    np.testing.assert_allclose(azimuth[1:], [0, math.pi / 2], atol=1e-6)
    assert (result.bone_directions[0, 3:] == 0).all()  # zero-length bones: zero direction, not NaN


def test_npz_and_json_round_trip(tmp_path: Path) -> None:
    result = make_result(np.random.default_rng(0).normal(size=(12, 17, 3)))
    for name in ("r.npz", "r.json"):
        loaded = LiftResult.load(result.save(tmp_path / name))
        for field in ("joints_3d", "joints_3d_normalized", "confidence", "filled", "metres_per_unit"):
            np.testing.assert_array_equal(getattr(loaded, field), getattr(result, field))
        assert loaded.fps == 30.0 and loaded.subject_height == 1.7 and loaded.metadata == {"note": "test"}
    content = json.loads((tmp_path / "r.json").read_text())
    assert content["joint_names"][0] == "pelvis" and len(content["bone_lengths"]) == 12
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary files left


def test_load_refuses_other_files(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match="cannot read a lift result"):
        LiftResult.load(tmp_path / "x.json")
    with pytest.raises(ValueError, match="unsupported result format"):
        make_result(np.zeros((1, 17, 3))).save(tmp_path / "x.txt")
    with pytest.raises(FileNotFoundError):
        LiftResult.load(tmp_path / "missing.npz")


def test_scale_model_sets_the_chain_to_the_stature_fraction() -> None:
    rng = np.random.default_rng(1)
    joints = rng.normal(size=(200, 17, 3)) * 0.1
    scale = metres_per_unit(joints, subject_height=1.8, fps=50.0)
    metric_chain = chain_length(joints * scale[:, None, None])
    # The running median makes the scaled chain equal the target on typical frames.
    assert np.median(metric_chain) == pytest.approx(STATURE_CHAIN_RATIO * 1.8, rel=0.02)
    # A person twice as large in the image gets half the scale: size in metres does not depend on it.
    np.testing.assert_allclose(metres_per_unit(2 * joints, 1.8, 50.0), scale / 2, rtol=1e-5)
