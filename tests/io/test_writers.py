"""The output format registry (a new format plugged into the batch: tests/batch/test_batch_run.py)."""

from __future__ import annotations

import pytest

from mtf_pose import LiftResult
from mtf_pose.io import OutputFormat, get_output_format, list_output_formats, register_output_format


def test_built_in_formats() -> None:
    assert list_output_formats()[:3] == ["npz", "json", "csv"]
    assert get_output_format("json").suffix == ".json"
    with pytest.raises(ValueError, match="unknown output format 'fbx'"):
        get_output_format("fbx")
    with pytest.raises(ValueError, match="already registered"):
        register_output_format(OutputFormat("npz", ".npz", LiftResult.save, "again"))
