"""``mtf-pose info`` on keypoint files, weights and results; the docs stay in step with the code."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from batch_helpers import REPO_ROOT, cli_env, person, run_cli

from mtf_pose.cli import build_parser
from mtf_pose.hub import default_weights_dir
from mtf_pose.io import _samples


def test_info_on_a_multi_person_file(tmp_path: Path) -> None:
    second = person(40, shift=2.0, seed=2)
    second[:12] = np.nan
    second[20:25] = np.nan
    _samples.write_alphapose(tmp_path / "ap.json", {1: _samples.coco_to(person(40, seed=1), "halpe26"),
                                                    2: _samples.coco_to(second, "halpe26")})
    shown = run_cli("info", tmp_path / "ap.json")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == str(tmp_path / "ap.json")
    facts = dict(re.match(r"\s+([a-z ]+):\s+(.*)", line).groups() for line in lines[1:11])  # type: ignore[union-attr]
    assert facts["format"] == "alphapose (AlphaPose results JSON)"
    assert facts["people"] == "2 (track ids from 'idx')"
    assert (facts["frames"], facts["joints"], facts["layout"]) == ("40", "26", "halpe26 (from the file)")
    assert facts["image size"] == "not recorded (lift with --image-size WIDTHxHEIGHT)"
    assert lines[-2:] == [
        "    person1: frames 0-39 (40 frames)",
        "    person2: frames 12-39 (28 frames, not detected in 5)",
    ]
    as_json = json.loads(run_cli("info", tmp_path / "ap.json", "--json").stdout)
    assert as_json["tracks"][1] == {"key": "person2", "first_frame": 12, "frames": 28, "missing_frames": 5}


def test_info_guesses_the_layout_of_a_17_joint_array(tmp_path: Path) -> None:
    coco = person(10)
    _samples.write_npy(tmp_path / "coco.npy", coco)
    _samples.write_npy(tmp_path / "h36m.npy", _samples.coco_to(coco, "h36m"))
    assert (
        "the joint positions look like coco (lift with --layout coco)"
        in run_cli("info", tmp_path / "coco.npy").stdout
    )
    assert (
        "the joint positions look like h36m (lift with --layout h36m)"
        in run_cli("info", tmp_path / "h36m.npy").stdout
    )


def test_info_on_weights_and_bad_input(tmp_path: Path, small_weights: Path) -> None:
    default = run_cli("info")
    assert default.returncode == 0
    lines = [" ".join(line.split()) for line in default.stdout.splitlines()]  # column widths aside
    assert "parameters: 933,795" in lines  # the released tiny preset
    assert "preset: tiny (depth 8, 64 channels)" in lines
    validation = json.loads((default_weights_dir() / "config.json").read_text())["training"]["validation"]
    for name, figures in validation.items():  # under their own heading, rounded to 0.1 mm
        assert f"{name}: MPJPE {figures['MPJPE']:.1f}, P-MPJPE {figures['P-MPJPE']:.1f}," in default.stdout
    assert "model card (README.md):" in default.stdout and "# MDTF `tiny` weights for mtf_pose" in default.stdout
    small = run_cli("info", small_weights)
    assert "parameters: 28,383" in small.stdout and "no model card" in small.stdout
    (tmp_path / "bad.json").write_text("{")
    bad = run_cli("info", tmp_path / "bad.json")
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.strip() == (
        f"mtf-pose info: error: {tmp_path / 'bad.json'}: not valid JSON: "
        "Expecting property name enclosed in double quotes at line 1, column 2"
    )


def test_format_pages_are_up_to_date() -> None:
    checked = subprocess.run([sys.executable, str(REPO_ROOT / "docs" / "formats" / "build.py"), "--check"],
                             env=cli_env(), capture_output=True, text=True, timeout=120, check=False)
    assert checked.returncode == 0, checked.stderr


def test_every_option_is_documented() -> None:
    text = (REPO_ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for command in ("lift", "info"):
        for action in commands[command]._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert f"`{flag}" in text, f"{command} {flag} is not in docs/cli.md"
