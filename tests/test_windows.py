"""Clip planning: every frame covered, blending that reproduces what the clips agree on."""

from __future__ import annotations

import numpy as np
import pytest

from mtf_pose._windows import plan_clips


@pytest.mark.parametrize("frames", [1, 2, 26, 27, 28, 50, 81, 100, 1000])
@pytest.mark.parametrize("short", ["pad", "resample"])
def test_gather_then_scatter_is_the_identity(frames: int, short: str) -> None:
    # If every clip predicted exactly its input, blending must give the input back: weights are normalised
    # and every frame is covered. Resampling short sequences is exact only for motion linear in time.
    rng = np.random.default_rng(frames)
    if short == "resample" and frames < 27:
        values = rng.normal(size=(1, 17, 3)) + np.arange(frames)[:, None, None] * rng.normal(size=(1, 17, 3))
    else:
        values = rng.normal(size=(frames, 17, 3))
    plan = plan_clips(frames, length=27, overlap=9, short=short)
    clips = plan.gather(values)
    assert clips.shape == (plan.clips, 27, 17, 3)
    np.testing.assert_allclose(plan.scatter(clips), values, rtol=1e-5, atol=1e-5)


def test_long_sequences_use_overlapping_clips_with_ramps() -> None:
    plan = plan_clips(100, length=27, overlap=9)
    starts = plan.sources[:, 0].astype(int).tolist()
    assert starts == [0, 18, 36, 54, 72, 73]  # stride 18, the last clip aligned to the end
    first, middle = plan.weights[0], plan.weights[1]
    assert first[0] == 1.0 and first[-1] < 0.1  # nothing to blend with before the first clip
    assert middle[0] < 0.1 and middle[13] == 1.0 and middle[-1] < 0.1
    assert plan.weights[-1][-1] == 1.0


def test_short_sequences() -> None:
    pad = plan_clips(10, length=27, overlap=9, short="pad")
    assert pad.clips == 1 and pad.weights.sum() == 10  # only the real frames count
    np.testing.assert_array_equal(pad.sources[0, :8], 0)  # the first frame repeated before the sequence
    resample = plan_clips(10, length=27, overlap=9, short="resample")
    assert resample.sources[0, 0] == 0 and resample.sources[0, -1] == 9
    with pytest.raises(ValueError, match="short must be"):
        plan_clips(10, 27, 9, short="loop")  # type: ignore[arg-type]
