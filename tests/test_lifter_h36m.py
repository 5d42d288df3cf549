"""The embedded weights on real validation data, the way a user runs them (skipped without Human3.6M).

Pixels in, metres out: the Lifter's metric output, scaled only by the subject's height, must be as
accurate as the standard protocol, which scales every frame with the ground truth.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mtf_pose import Lifter
from mtf_pose.evaluation.h36m import evaluate_views, evaluate_views_with_lifter
from mtf_pose.training.h36m import load_views

pytestmark = pytest.mark.h36m


def test_metric_output_is_within_10_percent_of_the_protocol(h36m_root: Path) -> None:
    views = [v for v in load_views(h36m_root, ["S8"]) if v.camera == "54138969"][::5]  # 6 actions, one camera
    lifter = Lifter.from_pretrained()
    protocol = evaluate_views(lifter.model, views, inputs="gt").overall["mpjpe"]
    metric = evaluate_views_with_lifter(lifter, views, inputs="gt").overall["mpjpe"]
    assert abs(metric / protocol - 1) <= 0.10, (metric, protocol)
