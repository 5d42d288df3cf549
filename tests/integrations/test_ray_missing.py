"""``mtf-pose lift --engine ray`` without Ray installed says what to install (runs with or without Ray)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from batch_helpers import person

import mtf_pose.integrations
from mtf_pose import cli
from mtf_pose.io import _samples


def test_without_ray_the_error_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    monkeypatch.delitem(sys.modules, "mtf_pose.integrations.ray", raising=False)
    monkeypatch.delattr(mtf_pose.integrations, "ray", raising=False)
    _samples.write_npy(tmp_path / "walk.npy", person(20))
    assert cli.main(["lift", str(tmp_path / "walk.npy"), "-o", str(tmp_path / "out"), "--engine", "ray"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("mtf-pose lift: error: mtf_pose.integrations.ray needs Ray Data (")
    assert error.endswith("): pip install 'mtf_pose[ray]'\n") and error.count("\n") == 1
    assert not (tmp_path / "out").exists()
