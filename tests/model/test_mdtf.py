"""The MDTF network: structure, parameter counts, symmetries, bone features, gradients."""

from __future__ import annotations

import math

import pytest
import torch

from mtf_pose import skeleton
from mtf_pose.model import (
    ModelConfig,
    bone_features,
    build_model,
    count_parameters,
    flip_pose,
    list_presets,
    polar_angle_classes,
)
from mtf_pose.model.mdtf import skeleton_adjacency


@pytest.mark.parametrize(("preset", "bam", "lifter"), [("tiny", 110_526, 823_269), ("large", 110_526, 4_313_781)])
def test_parameter_counts_match_the_release(preset: str, bam: int, lifter: int) -> None:
    model = build_model(preset)
    assert sum(p.numel() for p in model.bam.parameters()) == bam
    assert sum(p.numel() for p in model.lifter.parameters()) == lifter
    assert count_parameters(model) == bam + lifter


def test_presets_are_the_released_ones() -> None:
    assert list_presets() == ["large", "tiny"]
    tiny, large = build_model("tiny").config, build_model("large").config
    assert (tiny.depth, tiny.channels, large.depth, large.channels) == (8, 64, 12, 128)
    for config in (tiny, large):
        assert (config.d_state, config.expand, config.frames, config.joints, config.bam.depth) == (16, 1, 243, 17, 4)
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        build_model("huge")


def test_state_dict_uses_the_official_names() -> None:
    keys = set(build_model("tiny").state_dict())
    for key in (
        "bam.Spatial_patch_to_embedding.weight",
        "bam.mlp.3.weight",
        "lifter.Spatial_patch_to_embedding1.weight",
        "lifter.Temporal_pos_embed",
        "lifter.STEblocks.0.gcnmamba.gcn_b.batch_norm.running_mean",
        "lifter.STEblocks.7.gcnmamba.norm_gcn_b.weight",
        "lifter.STEblocks.0.gcnmamba.A_b_log",
        "lifter.TTEblocks.0.mamba.conv1d_b.weight",
        "lifter.TTEblocks.0.mamba.x_proj_b.weight",
        "lifter.limbTemporalMamba.mamba.dt_proj_b.bias",
        "lifter.fusion.weight",
        "lifter.head.1.weight",
    ):
        assert key in keys, key
    assert not any("adjacency" in key for key in keys)  # derived from the skeleton, not stored


def test_adjacency_has_the_16_bones_and_the_reversed_copy_matches_the_release() -> None:
    adjacency = skeleton_adjacency()
    assert torch.equal(adjacency, adjacency.T) and adjacency.trace() == 0 and adjacency.sum() == 32
    assert adjacency[8].nonzero().flatten().tolist() == [7, 9, 11, 14]  # thorax: spine, neck, both shoulders
    assert adjacency[0].nonzero().flatten().tolist() == [1, 4, 7]  # pelvis: both hips, spine
    # The released CONNECTIONS_flip table (reversed joint order), as published.
    connections_flip = {6: [7], 7: [6, 8], 8: [7, 9, 2, 5], 2: [1, 8], 1: [0, 2], 5: [8, 4], 4: [5, 3], 9: [8, 16],
                        16: [9, 12, 15], 15: [16, 14], 14: [15, 13], 12: [16, 11], 11: [12, 10], 0: [1], 3: [4],
                        13: [14], 10: [11]}
    released = torch.zeros(17, 17)
    for joint, neighbours in connections_flip.items():
        released[joint, neighbours] = 1
    gcn_b = build_model("tiny").lifter.STEblocks[0].gcnmamba.gcn_b
    degree = released.sum(-1).pow(-0.5)
    torch.testing.assert_close(gcn_b.adjacency, degree[:, None] * released * degree[None, :])


def test_polar_angle_classes_of_known_bones() -> None:
    joints = torch.zeros(17, 3)
    joints[1] = torch.tensor([0.0, 0.0, 1.0])  # right hip straight along +z: 0 degrees -> class 0
    joints[4] = torch.tensor([1.0, 0.0, 0.0])  # left hip along +x: 90 degrees -> class 3
    joints[7] = torch.tensor([0.0, -1.0, -1.0])  # spine 135 degrees -> class 4
    joints[2] = joints[1] + torch.tensor([0.0, 0.0, -1.0])  # right knee pointing at the camera: 180 -> class 5
    classes = polar_angle_classes(joints)
    assert classes[0] == 0 and classes[1] == 0 and classes[4] == 3 and classes[7] == 4 and classes[2] == 5


def test_bone_features_by_hand() -> None:
    keypoints = torch.zeros(1, 1, 17, 3)
    keypoints[0, 0, 1, :2] = torch.tensor([3.0, 4.0])  # bone 0 (pelvis -> right hip): 2D length 5
    logits = torch.zeros(1, 1, 17, 6)
    logits[..., 1, 1] = 1.0  # right hip: class 1 -> polar angle 3/12 pi = 45 degrees
    features = bone_features(keypoints, logits)
    assert features.shape == (1, 1, 17, 3)
    azimuth, polar, length = features[0, 0, 0].tolist()
    assert azimuth == pytest.approx(math.atan2(4, 3) / math.pi)
    assert polar == pytest.approx(0.25)
    assert length == pytest.approx(5 * math.sqrt(2), rel=1e-6)  # dz = 5 / tan(45 degrees)
    assert features[0, 0, 16].abs().sum() == 0  # the released zero last row


def test_forward_shape_details_and_input_errors() -> None:
    model = build_model(ModelConfig(depth=1, channels=16, frames=9)).eval()
    clip = torch.randn(2, 9, 17, 3)
    out = model.forward_details(clip)
    assert out.pose.shape == (2, 9, 17, 3) and out.bam_logits.shape == (2, 9, 17, 6)
    assert out.bone_features.shape == (2, 9, 17, 3)
    with pytest.raises(ValueError, match=r"shape \(batch, 9, 17, 3\).*got \(2, 8, 17, 3\)"):
        model(torch.randn(2, 8, 17, 3))
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        model(clip.numpy())


def test_flip_averaged_prediction_is_mirror_symmetric() -> None:
    # Averaging a pass with its mirrored pass makes the result equivariant to mirroring, whatever the weights.
    model = build_model(ModelConfig(depth=2, channels=16, frames=27)).eval()
    clip = torch.randn(2, 27, 17, 3)
    prediction = model.predict(clip, flip=True)
    torch.testing.assert_close(model.predict(flip_pose(clip), flip=True), flip_pose(prediction), rtol=1e-5, atol=1e-5)
    assert prediction[..., skeleton.ROOT, :].abs().sum() == 0


def test_flip_pose_is_an_involution_that_swaps_sides() -> None:
    x = torch.randn(5, 17, 3)
    torch.testing.assert_close(flip_pose(flip_pose(x)), x)
    flipped = flip_pose(x)
    assert torch.equal(flipped[:, 4, 1:], x[:, 1, 1:]) and torch.equal(flipped[:, 4, 0], -x[:, 1, 0])


def test_backends_agree_on_the_whole_network() -> None:
    model = build_model(ModelConfig(depth=2, channels=32, frames=27)).eval()
    clip = torch.randn(2, 27, 17, 3)
    with torch.no_grad():
        outputs = {backend: model.set_backend(backend)(clip) for backend in ("torch", "auto")}
    torch.testing.assert_close(outputs["torch"], outputs["auto"], rtol=1e-4, atol=1e-5)


def test_lifter_under_bfloat16_autocast_keeps_the_head_in_float32() -> None:
    """The products run in bfloat16, but the pose is not rounded to bfloat16 frame by frame."""
    model = build_model(ModelConfig(depth=1, channels=16, frames=27)).eval()
    features = torch.randn(2, 27, 17, 6)
    with torch.no_grad():
        full = model.lifter(features)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = model.lifter(features)
    assert mixed.dtype == torch.float32
    # bfloat16 values sit on a grid of 2**-8 relative spacing: a float32 head leaves most values off it.
    mantissa_bits_below_bfloat16 = mixed.view(torch.int32) & 0xFFFF
    assert (mantissa_bits_below_bfloat16 != 0).float().mean() > 0.9
    torch.testing.assert_close(mixed, full, rtol=0.05, atol=0.02)  # same network, coarser products


def test_one_optimiser_step_changes_every_parameter() -> None:
    # The released tiny network; no stochastic depth so that no branch is skipped in this single step.
    model = build_model(build_model("tiny").config.model_copy(update={"drop_path_rate": 0.0})).train()
    clip = torch.randn(1, 243, 17, 3)
    target = torch.randn(1, 243, 17, 3)
    out = model.forward_details(clip)
    # The lifter learns from the pose error; the BAM (behind an argmax) from its own classification loss.
    loss = (out.pose - target).norm(dim=-1).mean() + torch.nn.functional.cross_entropy(
        out.bam_logits.reshape(-1, 6), polar_angle_classes(target).reshape(-1)
    )
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss.backward()
    no_gradient = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not no_gradient
    optimizer.step()
    unchanged = [n for n, p in model.named_parameters() if torch.equal(p.detach(), before[n])]
    assert not unchanged
    assert any("gcn_b" in n for n in before) and any("A_b_log" in n for n in before)
