"""``mtf-pose export-bvh``, through a parser built the way ``mtf_pose.cli`` builds its own."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import HUMANOID_NAMES, expected_file_positions, read_bvh

from mtf_pose import LiftResult, skeleton
from mtf_pose.cli import EXIT_FAILURE, EXIT_OK, CliError
from mtf_pose.export import BvhOptions, project_to_constant_bones, write_bvh
from mtf_pose.export.cli import add_bvh_options, add_export_bvh_parser, bvh_options_from_args


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Parse and run like ``mtf_pose.cli.main``: user errors become one line on stderr and exit code 1."""
    parser = argparse.ArgumentParser(prog="mtf-pose")
    add_export_bvh_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        code = int(args.run(args))
    except (CliError, FileNotFoundError, ValueError) as error:
        print(f"mtf-pose {args.command}: error: {error}", file=sys.stderr)
        code = EXIT_FAILURE
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def saved_walk(lifted_walk: LiftResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "walk.npz"
    lifted_walk.save(path)
    return path


def test_export_bvh_writes_a_readable_file(
    saved_walk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "walk.bvh"
    code, out, err = run(["export-bvh", str(saved_walk), "-o", str(output), "--up", "z", "--units", "cm"], capsys)
    assert (code, err) == (EXIT_OK, "")
    assert f"wrote {output}: 300 frames at 30 fps, 21 joints, Z-up, cm" in out
    assert "joints moved" in out
    parsed = read_bvh(output)
    assert parsed.names == HUMANOID_NAMES and parsed.frame_count == 300
    constant = project_to_constant_bones(LiftResult.load(saved_walk))
    relative = parsed.positions - parsed.positions[:, :1]
    assert np.abs(relative - expected_file_positions(constant.joints, up="z", units="cm")).max() < 0.1  # 1 mm in cm


def test_defaults_match_write_bvh(saved_walk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command line and ``write_bvh(result, path)`` (what ``lift --output-format bvh`` calls) agree
    byte for byte."""
    code, _, _ = run(["export-bvh", str(saved_walk), "-o", str(tmp_path / "cli.bvh")], capsys)
    write_bvh(LiftResult.load(saved_walk), tmp_path / "api.bvh")
    assert code == EXIT_OK
    assert (tmp_path / "cli.bvh").read_bytes() == (tmp_path / "api.bvh").read_bytes()


def test_output_defaults_next_to_the_input(
    lifted_walk: LiftResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lifted_walk.save(tmp_path / "walk.json")
    code, _, _ = run(["export-bvh", str(tmp_path / "walk.json"), "--names", "h36m", "--ground", "sequence"], capsys)
    assert code == EXIT_OK
    assert read_bvh(tmp_path / "walk.bvh").names[0] == "pelvis"


def test_names_and_skeleton_files(saved_walk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names, lengths = tmp_path / "names.json", tmp_path / "skeleton.json"
    names.write_text(json.dumps({"Hips": "mixamorig:Hips"}))
    chosen = np.linspace(0.1, 0.4, 16)
    lengths.write_text(json.dumps(dict(zip(skeleton.BONE_NAMES, chosen.tolist(), strict=True))))
    output = tmp_path / "custom.bvh"
    code, _, err = run(
        ["export-bvh", str(saved_walk), "-o", str(output), "--names", str(names), "--skeleton", str(lengths)], capsys
    )
    assert (code, err) == (EXIT_OK, "")
    parsed = read_bvh(output)
    assert parsed.names[0] == "mixamorig:Hips"
    forearm = parsed.offsets[HUMANOID_NAMES.index("LeftHand")]
    assert np.linalg.norm(forearm) == pytest.approx(
        chosen[skeleton.BONE_NAMES.index("left_elbow->left_wrist")], abs=1e-6
    )


def test_plain_array_needs_fps(lifted_walk: LiftResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    array = tmp_path / "joints.npy"
    np.save(array, lifted_walk.joints_3d[:10])
    code, _, err = run(["export-bvh", str(array)], capsys)
    assert code == EXIT_FAILURE and "fps is required" in err
    code, out, _ = run(["export-bvh", str(array), "--fps", "60"], capsys)
    assert code == EXIT_OK and "10 frames at 60 fps" in out
    assert read_bvh(tmp_path / "joints.bvh").frame_time == pytest.approx(1 / 60, abs=1e-10)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--root-translation"], "root-relative"),
        (["--names", "mixamo"], "--names must be humanoid or h36m, or a .json file"),
        (["--names", "missing.json"], "no such file"),
        (["--skeleton", "BAD"], "not readable JSON"),
        (["--skeleton", "SHORT"], "bone_lengths: bone_lengths must hold 16 lengths"),
    ],
)
def test_user_errors_are_one_line(
    saved_walk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    (tmp_path / "BAD").write_text("{not json")
    (tmp_path / "SHORT").write_text("[0.1, 0.2]")
    extra = [str(tmp_path / item) if item in ("BAD", "SHORT", "missing.json") else item for item in extra]
    code, out, err = run(["export-bvh", str(saved_walk), "-o", str(tmp_path / "x.bvh"), *extra], capsys)
    assert code == EXIT_FAILURE and out == ""
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "x.bvh").exists()


def test_unwritable_output(saved_walk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["export-bvh", str(saved_walk), "-o", str(tmp_path)], capsys)
    assert code == EXIT_FAILURE and "is a folder" in err
    (tmp_path / "file").write_text("")
    code, _, err = run(["export-bvh", str(saved_walk), "-o", str(tmp_path / "file" / "walk.bvh")], capsys)
    assert code == EXIT_FAILURE and "cannot write" in err and err.count("\n") == 1


def test_missing_or_wrong_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["export-bvh", str(tmp_path / "nowhere.npz")], capsys)
    assert code == EXIT_FAILURE and "no such file" in err
    (tmp_path / "other.npz").write_bytes(b"not a zip")
    code, _, err = run(["export-bvh", str(tmp_path / "other.npz")], capsys)
    assert code == EXIT_FAILURE and "cannot read a lift result" in err


def test_bvh_options_for_other_commands() -> None:
    """``lift --output-format bvh`` can take the same flags and gets the same defaults as write_bvh."""
    parser = argparse.ArgumentParser()
    add_bvh_options(parser)
    assert bvh_options_from_args(parser.parse_args([])) == BvhOptions()
    chosen = bvh_options_from_args(parser.parse_args(["--up", "z", "--units", "cm", "--no-constant-bones"]))
    assert (chosen.up, chosen.units, chosen.constant_bones) == ("z", "cm", False)
