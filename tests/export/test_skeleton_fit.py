"""Constant bone lengths: estimating one skeleton for a sequence and projecting every frame onto it."""

from __future__ import annotations

import numpy as np
import pytest

from mtf_pose import LiftResult, skeleton
from mtf_pose.export import ConstantBoneProjection, estimate_bone_lengths, project_to_constant_bones

PARENTS = np.array([p for p, _ in skeleton.BONES])
CHILDREN = np.array([c for _, c in skeleton.BONES])


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    return np.linalg.norm(joints[:, CHILDREN] - joints[:, PARENTS], axis=-1)


def random_constant_sequence(frames: int, lengths: np.ndarray, seed: int = 0) -> np.ndarray:
    """Joints with the given bone lengths in every frame, bones in random directions, pelvis at the origin."""
    directions = np.random.default_rng(seed).normal(size=(frames, 16, 3))
    directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
    joints = np.zeros((frames, 17, 3))
    for bone, (parent, child) in enumerate(skeleton.BONES):
        joints[:, child] = joints[:, parent] + lengths[bone] * directions[:, bone]
    return joints


def squared_distance(joints: np.ndarray, target: np.ndarray) -> np.ndarray:
    return np.sum((joints - target) ** 2, axis=(1, 2))


LENGTHS = np.array([0.13, 0.45, 0.43, 0.13, 0.45, 0.43, 0.23, 0.25, 0.11, 0.12, 0.15, 0.28, 0.25, 0.15, 0.28, 0.25])


def test_an_already_constant_sequence_does_not_move() -> None:
    joints = random_constant_sequence(20, LENGTHS)
    for method in ("least_squares", "directions"):
        projection = project_to_constant_bones(joints, LENGTHS, method=method)
        np.testing.assert_allclose(projection.joints, joints, atol=1e-12)
        assert projection.max_displacement.max() < 1e-12


def test_lifted_sequence_gets_constant_lengths_and_a_report(lifted_walk: LiftResult) -> None:
    projection = project_to_constant_bones(lifted_walk)
    assert isinstance(projection, ConstantBoneProjection) and projection.frames == 300
    lengths = bone_lengths(projection.joints)
    np.testing.assert_allclose(lengths, np.broadcast_to(projection.bone_lengths, lengths.shape), atol=1e-6)
    assert np.ptp(lengths, axis=0).max() < 1e-6  # constant over the sequence
    assert np.ptp(bone_lengths(lifted_walk.joints_3d), axis=0).max() > 1e-3  # and the lift's were not
    np.testing.assert_allclose(projection.joints[:, 0], 0.0)

    # The report is the distance of every joint from the input, per frame.
    moved = np.linalg.norm(projection.joints - lifted_walk.joints_3d.astype(np.float64), axis=-1)
    np.testing.assert_allclose(projection.displacement, moved, atol=1e-9)
    np.testing.assert_allclose(projection.max_displacement, moved.max(axis=1), atol=1e-9)
    np.testing.assert_allclose(projection.mean_displacement, moved.mean(axis=1), atol=1e-9)
    assert (
        "mm on average" in projection.summary() and f"frame {int(np.argmax(moved.max(axis=1)))}" in projection.summary()
    )


def test_least_squares_moves_less_than_keeping_directions(lifted_walk: LiftResult) -> None:
    target = lifted_walk.joints_3d.astype(np.float64)
    least_squares = project_to_constant_bones(lifted_walk)
    directions = project_to_constant_bones(lifted_walk, method="directions")
    assert (squared_distance(least_squares.joints, target) <= squared_distance(directions.joints, target) + 1e-12).all()
    assert least_squares.mean_displacement.mean() < directions.mean_displacement.mean()


def test_least_squares_is_a_local_minimum(lifted_walk: LiftResult) -> None:
    """No small turn of any bone (keeping every length) brings the joints closer to the input."""
    target = lifted_walk.joints_3d[:40].astype(np.float64)
    projection = project_to_constant_bones(target)
    best = squared_distance(projection.joints, target)
    directions = projection.joints[:, CHILDREN] - projection.joints[:, PARENTS]
    rng = np.random.default_rng(1)
    for _ in range(20):
        turned = directions + 1e-3 * rng.normal(size=directions.shape) * projection.bone_lengths[:, None]
        turned *= (projection.bone_lengths / np.linalg.norm(turned, axis=-1))[..., None]
        joints = np.zeros_like(projection.joints)
        for bone, (parent, child) in enumerate(skeleton.BONES):
            joints[:, child] = joints[:, parent] + turned[:, bone]
        assert (squared_distance(joints, target) >= best - 1e-12).all()


def test_directions_method_keeps_every_bone_direction(lifted_walk: LiftResult) -> None:
    projection = project_to_constant_bones(lifted_walk, method="directions")
    given = lifted_walk.joints_3d[:, CHILDREN] - lifted_walk.joints_3d[:, PARENTS]
    kept = projection.joints[:, CHILDREN] - projection.joints[:, PARENTS]
    cosine = np.sum(given * kept, axis=-1) / np.linalg.norm(given, axis=-1) / np.linalg.norm(kept, axis=-1)
    assert cosine.min() > 1 - 1e-6
    assert projection.iterations == 0


def test_estimated_lengths_are_symmetric_medians() -> None:
    rng = np.random.default_rng(2)
    joints = random_constant_sequence(31, LENGTHS * rng.uniform(0.9, 1.1, size=16)) + rng.normal(0, 0.01, (31, 17, 3))
    medians = np.median(bone_lengths(joints - joints[:, :1]), axis=0)
    names = list(skeleton.BONE_NAMES)
    expected = medians.copy()
    for left, right in (
        ("left_hip", "right_hip"),
        ("left_knee", "right_knee"),
        ("left_ankle", "right_ankle"),
        ("left_shoulder", "right_shoulder"),
        ("left_elbow", "right_elbow"),
        ("left_wrist", "right_wrist"),
    ):
        a = next(i for i, n in enumerate(names) if n.endswith("->" + left))
        b = next(i for i, n in enumerate(names) if n.endswith("->" + right))
        expected[a] = expected[b] = (medians[a] + medians[b]) / 2
    np.testing.assert_allclose(estimate_bone_lengths(joints), expected)
    np.testing.assert_allclose(estimate_bone_lengths(joints, symmetric=False), medians)


def test_user_skeleton_as_list_or_mapping() -> None:
    joints = random_constant_sequence(5, LENGTHS * 1.1)
    by_list = project_to_constant_bones(joints, LENGTHS.tolist())
    by_name = project_to_constant_bones(joints, dict(zip(skeleton.BONE_NAMES, LENGTHS, strict=True)))
    np.testing.assert_allclose(by_list.bone_lengths, LENGTHS)
    np.testing.assert_allclose(by_list.joints, by_name.joints)
    np.testing.assert_allclose(bone_lengths(by_list.joints), np.broadcast_to(LENGTHS, (5, 16)), atol=1e-9)


@pytest.mark.parametrize(
    ("lengths", "message"),
    [
        (np.ones(15), "16 lengths"),
        (np.r_[np.ones(15), 0.0], "positive finite metres; got right_elbow->right_wrist=0.0"),
        (np.r_[np.ones(15), np.nan], "positive finite metres"),
        ({"pelvis->right_hip": 0.1}, "missing"),
        ("long", "numbers"),
    ],
)
def test_bad_user_skeleton_is_refused(lengths: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        project_to_constant_bones(random_constant_sequence(2, LENGTHS), lengths)  # type: ignore[arg-type]


def test_zero_length_bones() -> None:
    """A zero-length bone keeps its T-pose angle to its parent bone: a wrist on its elbow continues the
    upper arm, and a frame collapsed onto the pelvis becomes the T-pose facing the camera; lengths stay
    exact either way."""
    joints = random_constant_sequence(3, LENGTHS)
    joints[1, 13] = joints[1, 12]  # left wrist on the left elbow
    joints[2] = 0.0  # everything on the pelvis
    for method in ("directions", "least_squares"):
        projection = project_to_constant_bones(joints, LENGTHS, method=method)
        assert np.isfinite(projection.joints).all()
        np.testing.assert_allclose(bone_lengths(projection.joints), np.broadcast_to(LENGTHS, (3, 16)), atol=1e-9)
    straight = project_to_constant_bones(joints, LENGTHS, method="directions").joints
    upper_arm = straight[1, 12] - straight[1, 11]
    forearm = straight[1, 13] - straight[1, 12]
    np.testing.assert_allclose(forearm / LENGTHS[12], upper_arm / LENGTHS[11], atol=1e-12)
    # Camera frame: the person's left is +x, up is -y.
    collapsed = straight[2]
    np.testing.assert_allclose(collapsed[4], [LENGTHS[3], 0, 0], atol=1e-12)  # left hip to the left
    np.testing.assert_allclose(collapsed[10], [0, -LENGTHS[6:10].sum(), 0], atol=1e-12)  # head straight up
    np.testing.assert_allclose(collapsed[13], [LENGTHS[10:13].sum(), -LENGTHS[6:8].sum(), 0], atol=1e-12)
    np.testing.assert_allclose(collapsed[3], [-LENGTHS[0], LENGTHS[1:3].sum(), 0], atol=1e-12)  # right leg hangs


def test_single_frame_and_non_root_relative_input() -> None:
    joints = random_constant_sequence(1, LENGTHS) + np.array([1.0, 2.0, 3.0])
    projection = project_to_constant_bones(joints)  # lengths from the one frame
    np.testing.assert_allclose(projection.joints, joints - joints[:, :1], atol=1e-6)
    assert projection.frames == 1


def test_bad_input_is_refused() -> None:
    joints = random_constant_sequence(12, LENGTHS)
    joints[[3, 4, 5, 6, 7, 8, 9, 10, 11, 0], 2] = np.nan
    with pytest.raises(ValueError, match=r"frames 0, 3, 4, 5, 6, 7, 8, 9, 10, 11 \(joints: right_knee\)"):
        project_to_constant_bones(joints)
    with pytest.raises(ValueError, match=r"shape \(T, 17, 3\).*got \(2, 3\)"):
        project_to_constant_bones(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="method"):
        project_to_constant_bones(random_constant_sequence(1, LENGTHS), method="fastest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bone length is 0"):
        estimate_bone_lengths(np.zeros((3, 17, 3)))
