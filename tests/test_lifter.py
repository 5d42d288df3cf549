"""The Lifter end to end on a small network: batching, symmetry, frame rates, lengths, options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mtf_pose import KeypointInputError, Lifter
from mtf_pose.layouts import get_layout
from mtf_pose.model import ModelConfig, build_model
from mtf_pose.weights import Preprocessing, WeightsConfig

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "data" / "walk_coco.npy"
SMALL = ModelConfig(name="small", depth=2, channels=16, frames=27)


@pytest.fixture(scope="module")
def lifter() -> Lifter:
    torch.manual_seed(0)
    model = build_model(SMALL)
    with torch.no_grad():  # a fresh network barely depends on its input; make it respond
        for name, tensor in model.named_parameters():
            if "pos_embed" in name or "fusion" in name:
                tensor.normal_(0, 0.5)
    return Lifter(model, WeightsConfig(model=SMALL, preprocessing=Preprocessing(frames=27)), device="cpu")


@pytest.fixture(scope="module")
def walk() -> np.ndarray:
    return np.load(EXAMPLE)[:100]


def lift(lifter: Lifter, keypoints: np.ndarray, **kwargs) -> object:
    return lifter.lift(keypoints, **{"layout": "coco", "image_size": (1920, 1080), "fps": 50, **kwargs})


def test_result_shapes_and_conventions(lifter: Lifter, walk: np.ndarray) -> None:
    result = lift(lifter, walk)
    assert result.joints_3d.shape == (100, 17, 3) and result.joints_3d.dtype == np.float32
    assert result.bone_lengths.shape == (100, 16) and result.bone_directions.shape == (100, 16, 3)
    assert (result.joints_3d[:, 0] == 0).all()  # root-relative
    np.testing.assert_allclose(np.linalg.norm(result.bone_directions, axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(result.joints_3d, result.joints_3d_normalized * result.metres_per_unit[:, None, None],
                               rtol=1e-6)
    assert result.metadata["layout"] == "coco" and result.metadata["flip"] is True
    np.testing.assert_allclose(result.confidence[:, 3], walk[:, 16, 2], rtol=1e-6)  # coco right ankle -> h36m 3


def test_batch_equals_one_by_one(lifter: Lifter, walk: np.ndarray) -> None:
    sequences = [walk[:10], walk[:60], walk, walk[5:40]]
    batched = lifter.lift_batch(sequences, layout="coco", image_size=(1920, 1080), fps=50, batch_size=3)
    for sequence, result in zip(sequences, batched):
        single = lift(lifter, sequence, batch_size=8)
        np.testing.assert_allclose(result.joints_3d, single.joints_3d, rtol=1e-4, atol=1e-6)


def mirror_coco(keypoints: np.ndarray, width: float) -> np.ndarray:
    """Mirror an image's keypoints horizontally: x -> width - x, left and right joints swap."""
    names = get_layout("coco").joint_names
    swap = [names.index(n.replace("left", "RIGHT").replace("right", "left").replace("RIGHT", "right")) for n in names]
    mirrored = keypoints[:, swap].copy()
    mirrored[..., 0] = width - mirrored[..., 0]
    return mirrored


def test_flip_averaged_lift_is_mirror_symmetric(lifter: Lifter, walk: np.ndarray) -> None:
    # Flip averaging makes the whole pipeline (windows, blending, resampling) equivariant to mirroring the
    # image: the mirrored input gives the mirrored output (x negated, sides swapped).
    result = lift(lifter, walk, fps=30)
    mirrored = lift(lifter, mirror_coco(walk, 1920), fps=30)
    swap = [0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13]
    expected = result.joints_3d_normalized[:, swap] * np.array([-1, 1, 1], np.float32)
    np.testing.assert_allclose(mirrored.joints_3d_normalized, expected, atol=2e-5)
    unflipped = lift(lifter, walk, fps=30, flip=False)
    assert not np.allclose(unflipped.joints_3d, result.joints_3d, atol=1e-4)


def test_frame_rates_keep_the_callers_frames(lifter: Lifter, walk: np.ndarray) -> None:
    for fps in (24.0, 30.0, 60.0, 120.0):
        result = lift(lifter, walk, fps=fps)
        assert result.frames == 100 and result.fps == fps
        assert np.isfinite(result.joints_3d).all()


def test_a_sequence_at_half_the_rate_is_upsampled_to_the_model_rate(lifter: Lifter, walk: np.ndarray) -> None:
    # Given at 25 fps, a sequence is linearly upsampled to the model's 50 fps and the result read back on
    # its own frames: the same as lifting, at 50 fps, the linear upsampling made by hand.
    sparse = walk[:50]
    dense = np.empty((99, 17, 3), dtype=sparse.dtype)
    dense[::2] = sparse
    dense[1::2] = (sparse[:-1] + sparse[1:]) / 2
    from_sparse = lift(lifter, sparse, fps=25)
    from_dense = lift(lifter, dense, fps=50)
    assert from_sparse.frames == 50
    np.testing.assert_allclose(from_sparse.joints_3d_normalized, from_dense.joints_3d_normalized[::2], atol=1e-3)


def test_single_frame_and_short_strategies(lifter: Lifter, walk: np.ndarray) -> None:
    one = lift(lifter, walk[:1])
    assert one.joints_3d.shape == (1, 17, 3) and np.isfinite(one.joints_3d).all()
    padded = lift(lifter, walk[:12], short="pad")
    stretched = lift(lifter, walk[:12], short="resample")
    assert padded.frames == stretched.frames == 12
    assert not np.allclose(padded.joints_3d, stretched.joints_3d)


def test_options_are_validated(lifter: Lifter, walk: np.ndarray) -> None:
    with pytest.raises(KeypointInputError, match="subject_height is in metres"):
        lift(lifter, walk, subject_height=170)
    with pytest.raises(KeypointInputError, match="batch_size must be at least 1"):
        lift(lifter, walk, batch_size=0)
    with pytest.raises(KeypointInputError, match=r"sequence 1: .*image_size: required"):
        lifter.lift_batch([{"keypoints": walk, "layout": "coco", "image_size": (1920, 1080)},
                           {"keypoints": walk, "layout": "coco"}])
    with pytest.raises(ValueError, match="CUDA is not available"):
        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
        Lifter(build_model(SMALL), WeightsConfig(model=SMALL), device="cuda")


def test_subject_height_scales_metres_only(lifter: Lifter, walk: np.ndarray) -> None:
    short, tall = lift(lifter, walk, subject_height=1.5), lift(lifter, walk, subject_height=1.9)
    np.testing.assert_allclose(tall.joints_3d, short.joints_3d * 1.9 / 1.5, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(tall.joints_3d_normalized, short.joints_3d_normalized)


def test_progress_bar_on_request(lifter: Lifter, walk: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    lift(lifter, walk, progress=True)
    assert "lifting" in capsys.readouterr().err
    lift(lifter, walk, progress=False)
    assert capsys.readouterr().err == ""


def test_embedded_default_lifts_the_example() -> None:
    lifter = Lifter.from_pretrained()
    result = lifter.lift(np.load(EXAMPLE), layout="coco", image_size=(1920, 1080), fps=30, flip=False)
    assert result.frames == 300 and np.isfinite(result.joints_3d).all()
    assert lifter.backend in ("numba", "torch")
