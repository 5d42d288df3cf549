"""Bad and unusual input: what each kind gets, fuzzed schemas, and the table in docs/input-validation.md.

Regenerate the docs table after changing a case or a message:

    python tests/test_input_validation.py > docs/input-validation.md
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mtf_pose.schemas import KeypointInputError, KeypointSequence, prepare, validate_sequence

DOCS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "input-validation.md"
RNG = np.random.default_rng(0)


def coco(frames: int = 20, channels: int = 3) -> np.ndarray:
    """A plausible COCO sequence in a 640x480 image: joints spread over the image, confidence 0.9."""
    points = RNG.uniform([200, 100], [440, 400], size=(frames, 17, 2))
    if channels == 2:
        return points
    return np.concatenate([points, np.full((frames, 17, 1), 0.9)], axis=-1)


def with_values(array: np.ndarray, index: tuple, value: float) -> np.ndarray:
    array = array.copy()
    array[index] = value
    return array


@dataclass
class Case:
    name: str
    call: Callable[[], Any]
    expect: str  # a fragment of the error message, or "ok: ..." for a documented accepted behaviour


def lift_fields(keypoints: Any, **fields: Any) -> Callable[[], Any]:
    def run() -> Any:
        sequence = validate_sequence(keypoints, **fields)
        return prepare(sequence, model_fps=50.0)

    return run


COCO_OK = {"layout": "coco", "image_size": (640, 480)}
CASES = [
    Case("text instead of numbers", lift_fields([["a", "b"]], **COCO_OK), "keypoints must be numbers"),
    Case("ragged nested lists", lift_fields([[[1, 2]], [[1, 2], [3, 4]]], **COCO_OK), "keypoints must be numbers"),
    Case("1-D array", lift_fields(np.zeros(34), **COCO_OK), "must have shape (frames, joints, 2)"),
    Case("single frame without a frame axis", lift_fields(coco(1)[0], **COCO_OK),
         "add a leading axis: keypoints[None]"),
    Case("4-D array", lift_fields(np.zeros((2, 5, 17, 2)), **COCO_OK), "must have shape (frames, joints, 2)"),
    Case("4 values per joint", lift_fields(np.zeros((5, 17, 4)), **COCO_OK), "must have shape (frames, joints, 2)"),
    Case("no frames", lift_fields(np.zeros((0, 17, 2)), **COCO_OK), "keypoints is empty (0 frames)"),
    Case("no joints", lift_fields(np.zeros((5, 0, 2)), **COCO_OK), "0 joints per frame"),
    Case("+inf coordinate", lift_fields(with_values(coco(), (3, 4, 0), np.inf), **COCO_OK), "contain infinity"),
    Case("-inf confidence", lift_fields(with_values(coco(), (3, 4, 2), -np.inf), **COCO_OK), "contain infinity"),
    Case("all NaN", lift_fields(np.full((5, 17, 2), np.nan), **COCO_OK), "NaN everywhere"),
    Case("every confidence 0", lift_fields(with_values(coco(), (..., 2), 0.0), **COCO_OK), "no joint is detected"),
    Case("layout with another joint count", lift_fields(coco(), layout="openpose_body25", image_size=(640, 480)),
         "has 25 joints but keypoints have 17"),
    Case("unknown layout", lift_fields(coco(), layout="coco18", image_size=(640, 480)),
         "unknown joint layout 'coco18'"),
    Case("17 joints, no layout", lift_fields(coco(), image_size=(640, 480)), "cannot tell the joint layout from 17"),
    Case("unsupported joint count", lift_fields(np.zeros((5, 20, 2)), image_size=(640, 480)), "from 20 joints"),
    Case("pixels without image size", lift_fields(coco(), layout="coco"), "image_size: required"),
    Case("image size 0", lift_fields(coco(), layout="coco", image_size=(0, 480)), "must be a positive number"),
    Case("negative image size", lift_fields(coco(), layout="coco", image_size=(640, -1)), "must be a positive number"),
    Case("NaN image size", lift_fields(coco(), layout="coco", image_size=(float("nan"), 480)), "must be a positive"),
    Case("absurdly large image", lift_fields(coco(), layout="coco", image_size=(10**6, 480)), "larger than 100000"),
    Case("image size 1x1 (unit coordinates?)", lift_fields(coco(), layout="coco", image_size=(1, 1)),
         "implausibly small"),
    Case("image size (width, height) of the wrong image", lift_fields(coco() * [10, 10, 1], **COCO_OK),
         "lie far outside the 640x480 image"),
    Case("[0, 1] coordinates passed as pixels", lift_fields(coco() / [640, 480, 1], **COCO_OK),
         "coordinates in [0, 1]? pass coordinates='unit'"),
    Case("unknown coordinate system", lift_fields(coco(), coordinates="metres", **COCO_OK), "coordinates"),
    Case("negative confidence", lift_fields(with_values(coco(), (2, 2, 2), -0.5), **COCO_OK), "must lie in [0, 1]"),
    Case("confidence given twice", lift_fields(coco(), confidence=np.ones((20, 17)), **COCO_OK), "given twice"),
    Case("confidence of the wrong shape", lift_fields(coco(channels=2), confidence=np.ones((20, 16)), **COCO_OK),
         "confidence must have shape (frames, joints) = (20, 17)"),
    Case("a joint missing in every frame", lift_fields(with_values(coco(), (slice(None), 15, 2), 0.0), **COCO_OK),
         "'left_ankle' (made from coco left_ankle) is missing in every frame"),
    Case("fps 0", lift_fields(coco(), fps=0, **COCO_OK), "fps"),
    Case("fps absurdly high", lift_fields(coco(), fps=1e6, **COCO_OK), "fps"),
    Case("misspelt field", lift_fields(coco(), fsp=30, **COCO_OK), "fsp"),
    Case("confidence above 1", lift_fields(with_values(coco(), (..., 2), 1.3), **COCO_OK), "ok: clipped to 1"),
    Case("a single frame", lift_fields(coco(1), **COCO_OK), "ok: lifted as a held pose"),
    Case("NaN joints in some frames", lift_fields(with_values(coco(), (slice(3, 9), 5, 0), np.nan), **COCO_OK),
         "ok: interpolated over time, confidence 0"),
    Case("integer pixel coordinates", lift_fields(np.round(coco(channels=2)).astype(int), **COCO_OK),
         "ok: converted to float"),
]


def outcome(case: Case) -> str:
    try:
        case.call()
    except KeypointInputError as error:
        return str(error)
    return "accepted"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_kind_of_bad_input_gets_its_message(case: Case) -> None:
    result = outcome(case)
    if case.expect.startswith("ok:"):
        assert result == "accepted"
    else:
        assert case.expect in result, result
        assert "Traceback" not in result and "input_value" not in result  # no pydantic dump of the array


def test_there_are_at_least_25_kinds() -> None:
    assert len([c for c in CASES if not c.expect.startswith("ok:")]) >= 25


def test_accepted_edge_cases_behave_as_documented() -> None:
    clipped = prepare(validate_sequence(with_values(coco(), (..., 2), 1.3), **COCO_OK), 50.0)
    assert clipped.keypoints[..., 2].max() == pytest.approx(1.0)
    single = prepare(validate_sequence(coco(1), **COCO_OK), 50.0)
    assert single.keypoints.shape == (1, 17, 3)
    holes = with_values(coco(), (slice(3, 9), 5, 0), np.nan)
    filled = prepare(validate_sequence(holes, **COCO_OK), 50.0)
    left_shoulder = 11  # coco 5 (left_shoulder) -> h36m 11; the thorax and spine use it too
    assert filled.filled[3:9, left_shoulder].all() and not filled.filled[:3, left_shoulder].any()
    assert (filled.confidence[3:9, left_shoulder] == 0).all()
    assert np.isfinite(filled.keypoints).all()
    # Linear in time between the neighbours of the gap.
    before, after = filled.keypoints[2, left_shoulder, :2], filled.keypoints[9, left_shoulder, :2]
    np.testing.assert_allclose(filled.keypoints[5, left_shoulder, :2], before + (after - before) * 3 / 7, rtol=1e-5)


def render_table() -> str:
    rows = [
        "# Input validation",
        "",
        "What the Lifter does with each kind of bad or unusual input (`Lifter.lift`, `lift_batch`, and",
        "`mtf-pose lift` for each file). Errors are `mtf_pose.KeypointInputError` (a `ValueError`); the",
        "message names the field and says how to fix it. This table is generated from",
        "`tests/test_input_validation.py`, which checks every row.",
        "",
        "| input | result |",
        "|---|---|",
    ]
    for case in CASES:
        result = outcome(case)
        shown = case.expect.removeprefix("ok: ") if result == "accepted" else f"error: {result}"
        rows.append(f"| {case.name} | {shown.replace('|', '/')} |")
    return "\n".join(rows) + "\n"


def test_docs_table_is_current() -> None:
    assert DOCS_PAGE.read_text(encoding="utf-8") == render_table(), (
        "docs/input-validation.md is stale: python tests/test_input_validation.py > docs/input-validation.md"
    )


# -- property-based fuzzing of the schema ------------------------------------------------------------------

shapes = hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=40)
arrays = st.one_of(
    hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64]),
        shape=shapes,
        elements=st.one_of(st.floats(-5000, 5000, width=32), st.just(float("nan")), st.just(float("inf"))),
    ),
    hnp.arrays(dtype=np.int32, shape=shapes, elements=st.integers(-5000, 5000)),
)
fields = st.fixed_dictionaries(
    {},
    optional={
        "layout": st.sampled_from(["h36m", "coco", "halpe26", "mediapipe33", "openpose_body25", "bogus"]),
        "image_size": st.tuples(
            st.one_of(st.floats(-10, 1e6), st.just(float("nan"))), st.one_of(st.floats(-10, 1e6), st.just(float("nan")))
        ),
        "coordinates": st.sampled_from(["pixels", "unit", "normalized", "furlongs"]),
        "fps": st.one_of(st.floats(-1, 1e5), st.just(float("nan"))),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(keypoints=arrays, extra=fields)
def test_fuzzed_input_is_either_prepared_or_refused_cleanly(keypoints: np.ndarray, extra: dict) -> None:
    try:
        sequence = validate_sequence(keypoints, **extra)
        prepared = prepare(sequence, model_fps=50.0)
    except KeypointInputError as error:
        assert str(error)  # a message, never another exception type
        return
    assert isinstance(sequence, KeypointSequence)
    assert prepared.keypoints.ndim == 3 and prepared.keypoints.shape[1:] == (17, 3)
    assert np.isfinite(prepared.keypoints).all()
    assert prepared.confidence.shape == (keypoints.shape[0], 17)


@settings(max_examples=100, deadline=None)
@given(
    frames=st.integers(1, 60),
    fps=st.sampled_from([None, 24.0, 25.0, 30.0, 50.0, 60.0, 120.0]),
    missing=st.floats(0, 0.5),
    seed=st.integers(0, 2**16),
)
def test_fuzzed_valid_sequences_prepare_to_the_model_rate(
    frames: int, fps: float | None, missing: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    keypoints = coco(frames)
    keypoints[rng.random((frames, 17)) < missing, :2] = np.nan
    keypoints[0] = coco(1)[0]  # one complete frame, so every joint can be filled in
    prepared = prepare(validate_sequence(keypoints, fps=fps, **COCO_OK), model_fps=50.0)
    expected_frames = frames if fps in (None, 50.0) or frames == 1 else int(np.floor((frames - 1) * 50.0 / fps)) + 1
    assert prepared.keypoints.shape == (expected_frames, 17, 3)
    assert np.isfinite(prepared.keypoints).all()
    assert prepared.to_caller_frames(prepared.keypoints).shape == (frames, 17, 3)


if __name__ == "__main__":
    print(render_table(), end="")
