"""BVH export, checked through an independent reader (bvhio): hierarchy, channels, frames, forward kinematics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import (
    CAMERA_TO_FILE,
    H36M_INDEX,
    HIERARCHY,
    HUMANOID_NAMES,
    expected_file_positions,
    read_bvh,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtf_pose import LiftResult, skeleton
from mtf_pose.export import NAME_PRESETS, BvhOptions, project_to_constant_bones, write_bvh

MM = 1e-3
ZXY = ["Zrotation", "Xrotation", "Yrotation"]
# Bone lengths (metres, skeleton.BONES order) of an adult, for poses built by hand.
LENGTHS = np.array([0.13, 0.45, 0.43, 0.13, 0.45, 0.43, 0.23, 0.25, 0.11, 0.12, 0.15, 0.28, 0.25, 0.15, 0.28, 0.25])
# Body frame of a file (Y-up): X the character's left, Y up, Z forward. T-pose bone directions by child joint.
X, Y, Z = np.eye(3)
REST = {1: -X, 2: -Y, 3: -Y, 4: X, 5: -Y, 6: -Y, 7: Y, 8: Y, 9: Y, 10: Y, 11: X, 12: X, 13: X, 14: -X, 15: -X, 16: -X}
BONE_BY_CHILD = {child: bone for bone, (_, child) in enumerate(skeleton.BONES)}


def rx(degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def ry(degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rz(degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def zxy(z: float, x: float, y: float) -> np.ndarray:
    return rz(z) @ rx(x) @ ry(y)


def about(axis: np.ndarray, degrees: float) -> np.ndarray:
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    angle = np.radians(degrees)
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def forward_kinematics(local: dict[str, np.ndarray], lengths: np.ndarray = LENGTHS) -> np.ndarray:
    """H36M joints (17, 3), body frame, pelvis at the origin, from local rotations on the documented T-pose."""
    world: dict[str, np.ndarray] = {}
    position: dict[str, np.ndarray] = {}
    for name, parent, at in HIERARCHY:
        if parent is None:
            world[name], position[name] = local.get(name, np.eye(3)), np.zeros(3)
            continue
        parent_at = H36M_INDEX[parent]
        offset = np.zeros(3) if at == parent_at else lengths[BONE_BY_CHILD[at]] * REST[at]
        position[name] = position[parent] + world[parent] @ offset
        world[name] = world[parent] @ local.get(name, np.eye(3))
    joints = np.zeros((17, 3))
    for name, _, at in HIERARCHY:
        joints[at] = position[name]
    return joints


def body_to_camera(joints: np.ndarray) -> np.ndarray:
    return joints @ CAMERA_TO_FILE["y"]  # the Y-up map is its own inverse


def t_pose() -> np.ndarray:
    return body_to_camera(forward_kinematics({}))


# -- the reader itself ----------------------------------------------------------------------------------
def test_reader_does_forward_kinematics(tmp_path: Path) -> None:
    """bvhio's world positions for a file whose answer is worked out by hand."""
    path = tmp_path / "tiny.bvh"
    path.write_text(
        "HIERARCHY\nROOT A\n{\n OFFSET 0 0 0\n CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
        " JOINT B\n {\n  OFFSET 1 0 0\n  CHANNELS 3 Zrotation Xrotation Yrotation\n"
        "  JOINT C\n  {\n   OFFSET 0 0 2\n   CHANNELS 3 Zrotation Xrotation Yrotation\n"
        "   End Site\n   {\n    OFFSET 0 1 0\n   }\n  }\n }\n}\n"
        "MOTION\nFrames: 1\nFrame Time: 0.5\n1 2 3 90 0 0 0 90 0 0 0 0\n"
    )
    parsed = read_bvh(path)
    # A at (1,2,3) turned 90 deg about z: B's offset x -> y. B turned 90 deg about x: C's offset z -> -y -> (z turn) x.
    np.testing.assert_allclose(parsed.positions[0], [[1, 2, 3], [1, 3, 3], [3, 3, 3]], atol=1e-6)
    assert parsed.frame_time == 0.5 and parsed.channels[1] == ZXY


# -- round trip on a real lift --------------------------------------------------------------------------
@pytest.mark.parametrize(("up", "units"), [("y", "m"), ("z", "cm")])
def test_lifted_walk_round_trip(lifted_walk: LiftResult, tmp_path: Path, up: str, units: str) -> None:
    path = tmp_path / "walk.bvh"
    export = write_bvh(lifted_walk, path, up=up, units=units)
    parsed = read_bvh(path)

    assert parsed.names == HUMANOID_NAMES
    assert parsed.parents == [parent for _, parent, _ in HIERARCHY]
    assert parsed.channels[0] == ["Xposition", "Yposition", "Zposition", *ZXY]
    assert all(channels == ZXY for channels in parsed.channels[1:])
    assert parsed.frame_count == lifted_walk.frames == 300
    assert parsed.frame_time == pytest.approx(1 / 30, abs=1e-9)

    # Every joint of every frame, as bvhio's forward kinematics places it, against the constant-length joints.
    constant = project_to_constant_bones(lifted_walk)
    expected = expected_file_positions(constant.joints, up=up, units=units)
    relative = parsed.positions - parsed.positions[:, :1]
    error = np.abs(relative - expected).max() / (100 if units == "cm" else 1)
    assert error < 1 * MM
    np.testing.assert_allclose(export.skeleton.joints, constant.joints)

    # Default grounding: in every frame the lower ankle is on the floor; no horizontal root motion.
    vertical = 1 if up == "y" else 2
    ankles = parsed.positions[:, [HUMANOID_NAMES.index("LeftFoot"), HUMANOID_NAMES.index("RightFoot")], vertical]
    np.testing.assert_allclose(ankles.min(axis=1), 0.0, atol=1e-5 * (100 if units == "cm" else 1))
    horizontal = [axis for axis in range(3) if axis != vertical]
    np.testing.assert_allclose(parsed.root_positions[:, horizontal], 0.0, atol=1e-9)


def test_offsets_are_the_symmetric_median_skeleton_in_a_t_pose(lifted_walk: LiftResult, tmp_path: Path) -> None:
    write_bvh(lifted_walk, tmp_path / "walk.bvh")
    parsed = read_bvh(tmp_path / "walk.bvh")
    joints = lifted_walk.joints_3d.astype(np.float64)
    medians = np.array([np.median(np.linalg.norm(joints[:, c] - joints[:, p], axis=-1)) for p, c in skeleton.BONES])
    for name, parent, at in HIERARCHY[1:]:
        offset = parsed.offsets[parsed.names.index(name)]
        if at == H36M_INDEX[parent]:
            np.testing.assert_allclose(offset, 0.0, atol=1e-9)  # a branch joint where its parent is
            continue
        bone = BONE_BY_CHILD[at]
        mirror = skeleton.BONES.index(tuple(skeleton.flip_permutation()[j] for j in skeleton.BONES[bone]))
        np.testing.assert_allclose(offset, (medians[bone] + medians[mirror]) / 2 * REST[at], atol=2e-6)


def test_y_up_and_z_up_files_describe_the_same_motion(lifted_walk: LiftResult, tmp_path: Path) -> None:
    write_bvh(lifted_walk, tmp_path / "y.bvh", up="y", units="m")
    write_bvh(lifted_walk, tmp_path / "z.bvh", up="z", units="cm")
    y_up, z_up = read_bvh(tmp_path / "y.bvh"), read_bvh(tmp_path / "z.bvh")
    # Z-up = Y-up turned a quarter about x (y -> z, z -> -y), and 100 times larger.
    quarter_turn = CAMERA_TO_FILE["z"] @ CAMERA_TO_FILE["y"].T
    np.testing.assert_allclose(z_up.positions, 100 * y_up.positions @ quarter_turn.T, atol=1e-3)


# -- known rotations ------------------------------------------------------------------------------------
def _known_pose(scale: float) -> dict[str, np.ndarray]:
    """Local rotations the writer can recover exactly: full rotations for Hips, Spine and upper limbs,
    swings (no twist) for the branch joints, neck and head, single-axis bends for elbows and knees; the
    hip and clavicle swings mirror each other so the hip and shoulder lines stay level in their frames."""
    return {
        "Hips": zxy(10 * scale, -20 * scale, 35 * scale),
        "LeftHip": rz(8 * scale),
        "RightHip": rz(-8 * scale),
        "LeftUpLeg": zxy(5 * scale, -30 * scale, 10 * scale),
        "LeftLeg": rx(40 + 20 * scale),
        "RightUpLeg": zxy(-5 * scale, -10 * scale, -15 * scale),
        "RightLeg": rx(95 + 30 * scale),
        "Spine": zxy(4 * scale, 15 * scale, -20 * scale),
        "Neck": about([1, 0, 0.5], 20 * scale),
        "Head": about([0.3, 0, -1], 15 * scale),
        "LeftShoulder": rz(10 * scale),
        "RightShoulder": rz(-10 * scale),
        "LeftArm": zxy(-60 * scale, 20 * scale, 30 * scale),
        "LeftForeArm": about(-Y, 50 + 30 * scale),
        "RightArm": zxy(50 * scale, -10 * scale, -25 * scale),
        "RightForeArm": about(Y, 60 + 40 * scale),
    }


def test_known_rotations_round_trip(tmp_path: Path) -> None:
    scales = [1.0, 0.5, -0.3]
    poses = [_known_pose(scale) for scale in scales]
    joints = np.stack([body_to_camera(forward_kinematics(pose)) for pose in poses])
    write_bvh(joints, tmp_path / "known.bvh", fps=25, bone_lengths=LENGTHS, ground="none")
    parsed = read_bvh(tmp_path / "known.bvh")

    for frame, pose in enumerate(poses):
        for name in HUMANOID_NAMES:
            chosen = pose.get(name, np.eye(3))
            read = parsed.local_rotations[frame, parsed.names.index(name)]
            np.testing.assert_allclose(read, chosen, atol=1e-5, err_msg=f"{name}, frame {frame}")
    # Where the pose was chosen as ZXY Euler angles, the very numbers come back.
    for name, angles in (
        ("Hips", (10, -20, 35)),
        ("LeftUpLeg", (5, -30, 10)),
        ("Spine", (4, 15, -20)),
        ("LeftArm", (-60, 20, 30)),
        ("RightArm", (50, -10, -25)),
    ):
        np.testing.assert_allclose(parsed.euler(name), np.outer(scales, angles), atol=1e-5, err_msg=name)
    # Knees and elbows bend about one axis: the other two angles are zero.
    np.testing.assert_allclose(parsed.euler("LeftLeg"), [[0, 40 + 20 * s, 0] for s in scales], atol=1e-5)
    np.testing.assert_allclose(parsed.euler("RightForeArm")[:, :2], 0.0, atol=1e-5)
    np.testing.assert_allclose(parsed.euler("RightForeArm")[:, 2], [60 + 40 * s for s in scales], atol=1e-5)
    np.testing.assert_allclose(parsed.positions - parsed.positions[:, :1], expected_file_positions(joints), atol=1e-6)


def test_a_t_pose_facing_the_camera_writes_zero_rotations(tmp_path: Path) -> None:
    write_bvh(t_pose()[None], tmp_path / "t.bvh", fps=30, bone_lengths=LENGTHS)
    parsed = read_bvh(tmp_path / "t.bvh")
    np.testing.assert_allclose(parsed.column_values()[0, 3:], 0.0, atol=1e-6)
    # Grounded: the ankles (straight legs below the hips) are on the floor, so the pelvis is a leg above it.
    np.testing.assert_allclose(parsed.root_positions[0], [0, LENGTHS[1] + LENGTHS[2], 0], atol=1e-6)


def test_knee_bent_past_ninety_degrees_reads_as_one_angle(tmp_path: Path) -> None:
    bends = np.linspace(130, 60, 8)  # frame 0 past 90 too
    joints = np.stack([body_to_camera(forward_kinematics({"LeftLeg": rx(bend)})) for bend in bends])
    write_bvh(joints, tmp_path / "squat.bvh", fps=30, bone_lengths=LENGTHS)
    np.testing.assert_allclose(read_bvh(tmp_path / "squat.bvh").euler("LeftLeg"), [[0, b, 0] for b in bends], atol=1e-5)


def test_turning_around_keeps_angles_continuous(tmp_path: Path) -> None:
    """A full turn and a bit about the vertical: the yaw channel counts on past 180 and 360, no jumps."""
    turn = np.linspace(0, 400, 41)
    joints = np.stack([body_to_camera(forward_kinematics({"Hips": ry(angle)})) for angle in turn])
    write_bvh(joints, tmp_path / "turn.bvh", fps=30, bone_lengths=LENGTHS)
    np.testing.assert_allclose(read_bvh(tmp_path / "turn.bvh").euler("Hips"), [[0, 0, a] for a in turn], atol=1e-5)


# -- options --------------------------------------------------------------------------------------------
def test_name_presets_and_custom_names(lifted_walk: LiftResult, tmp_path: Path) -> None:
    write_bvh(lifted_walk, tmp_path / "h36m.bvh", names="h36m")
    h36m = read_bvh(tmp_path / "h36m.bvh").names
    assert h36m == list(NAME_PRESETS["h36m"])
    # Every BVH joint on an H36M joint carries that joint's name; the four branch joints are named for their bone.
    for humanoid, name in zip(HUMANOID_NAMES, h36m, strict=True):
        if humanoid in ("LeftHip", "RightHip", "LeftShoulder", "RightShoulder"):
            assert name in ("left_pelvis", "right_pelvis", "left_clavicle", "right_clavicle")
        else:
            assert name == skeleton.JOINT_NAMES[H36M_INDEX[humanoid]]
    assert sorted(set(h36m) - {"left_pelvis", "right_pelvis", "left_clavicle", "right_clavicle"}) == sorted(
        skeleton.JOINT_NAMES
    )

    write_bvh(lifted_walk, tmp_path / "mixamo.bvh", names={"Hips": "mixamorig:Hips", "Spine": "mixamorig:Spine"})
    custom = read_bvh(tmp_path / "mixamo.bvh").names
    assert custom[0] == "mixamorig:Hips" and custom[HUMANOID_NAMES.index("Spine")] == "mixamorig:Spine"
    assert custom[1:9] == HUMANOID_NAMES[1:9]


@pytest.mark.parametrize(
    ("names", "message"),
    [({"Pelvis": "x"}, "unknown joints"), ({"Hips": "my hips"}, "without spaces"), ({"Hips": "Spine"}, "unique")],
)
def test_bad_custom_names_are_refused(names: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BvhOptions(names=names)


def test_grounding_over_the_sequence_and_none(lifted_walk: LiftResult, tmp_path: Path) -> None:
    write_bvh(lifted_walk, tmp_path / "sequence.bvh", ground="sequence")
    write_bvh(lifted_walk, tmp_path / "none.bvh", ground="none")
    sequence, none = read_bvh(tmp_path / "sequence.bvh"), read_bvh(tmp_path / "none.bvh")
    feet = [HUMANOID_NAMES.index("LeftFoot"), HUMANOID_NAMES.index("RightFoot")]
    assert np.ptp(sequence.root_positions[:, 1]) == 0.0  # one height for the whole sequence
    assert sequence.positions[:, feet, 1].min() == pytest.approx(0.0, abs=1e-6)
    assert (sequence.positions[:, feet, 1].min(axis=1) > -1e-6).all()  # never below the floor
    np.testing.assert_allclose(none.root_positions, 0.0, atol=1e-9)


def test_root_translation_writes_the_input_trajectory(tmp_path: Path) -> None:
    frames = 5
    trajectory = np.stack([np.linspace(0, 1, frames), np.zeros(frames), np.linspace(3, 4, frames)], axis=1)
    joints = t_pose()[None] + trajectory[:, None]
    write_bvh(
        joints, tmp_path / "moving.bvh", fps=30, bone_lengths=LENGTHS, root_translation=True, ground="none", units="cm"
    )
    parsed = read_bvh(tmp_path / "moving.bvh")
    np.testing.assert_allclose(parsed.root_positions, 100 * trajectory @ CAMERA_TO_FILE["y"].T, atol=1e-4)

    with pytest.raises(ValueError, match="root-relative"):
        write_bvh(t_pose()[None], tmp_path / "still.bvh", fps=30, root_translation=True)


def test_without_constant_bones_every_bone_keeps_its_input_direction(lifted_walk: LiftResult, tmp_path: Path) -> None:
    write_bvh(lifted_walk, tmp_path / "directions.bvh", constant_bones=False)
    parsed = read_bvh(tmp_path / "directions.bvh")
    joints = lifted_walk.joints_3d.astype(np.float64) @ CAMERA_TO_FILE["y"].T
    for name, parent, at in HIERARCHY[1:]:
        if at == H36M_INDEX[parent]:
            continue
        read = parsed.positions[:, parsed.names.index(name)] - parsed.positions[:, parsed.names.index(parent)]
        given = joints[:, at] - joints[:, H36M_INDEX[parent]]
        cosine = np.sum(read * given, axis=1) / np.linalg.norm(read, axis=1) / np.linalg.norm(given, axis=1)
        assert cosine.min() > 1 - 1e-9, name


def test_frame_time_comes_from_fps(tmp_path: Path) -> None:
    write_bvh(t_pose()[None].repeat(3, axis=0), tmp_path / "fps.bvh", fps=50)
    assert read_bvh(tmp_path / "fps.bvh").frame_time == pytest.approx(0.02, abs=1e-12)
    with pytest.raises(ValueError, match="fps is required"):
        write_bvh(t_pose()[None], tmp_path / "no_fps.bvh")
    with pytest.raises(ValueError, match="fps must be a positive number"):
        write_bvh(t_pose()[None], tmp_path / "bad_fps.bvh", fps=0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), frames=st.integers(1, 4), spread=st.floats(0.01, 1.0))
def test_any_point_cloud_round_trips(tmp_path: Path, seed: int, frames: int, spread: float) -> None:
    """17 random points per frame (any angles, near-collinear limbs, hyperextension, crossings): the file is
    finite and its forward kinematics reproduces the projected joints."""
    joints = np.random.default_rng(seed).normal(0.0, spread, size=(frames, 17, 3))
    export = write_bvh(joints, tmp_path / "cloud.bvh", fps=30, up="z", units="cm")
    parsed = read_bvh(tmp_path / "cloud.bvh")
    assert np.isfinite(parsed.column_values()).all()
    expected = expected_file_positions(export.skeleton.joints, up="z", units="cm")
    assert np.abs(parsed.positions - parsed.positions[:, :1] - expected).max() < 1e-3  # 10 micrometres, in cm


# -- edge cases -----------------------------------------------------------------------------------------
def test_single_frame(tmp_path: Path) -> None:
    joints = body_to_camera(forward_kinematics(_known_pose(1.0)))[None]
    export = write_bvh(joints, tmp_path / "one.bvh", fps=30)
    parsed = read_bvh(tmp_path / "one.bvh")
    assert parsed.frame_count == export.frames == 1
    np.testing.assert_allclose(parsed.positions - parsed.positions[:, :1], expected_file_positions(joints), atol=1e-6)


def test_frame_with_a_zero_length_bone(tmp_path: Path) -> None:
    """A wrist on its elbow and a knee on its hip in one frame: the file keeps the constant skeleton, stays
    finite and reproduces the projected joints."""
    joints = np.stack([body_to_camera(forward_kinematics(_known_pose(s))) for s in (1.0, 0.8, 0.6)])
    joints[1, 13] = joints[1, 12]  # left wrist on the left elbow
    joints[1, 5] = joints[1, 4]  # left knee on the left hip
    export = write_bvh(joints, tmp_path / "zero.bvh", fps=30, bone_lengths=LENGTHS)
    parsed = read_bvh(tmp_path / "zero.bvh")
    assert np.isfinite(parsed.column_values()).all()
    relative = parsed.positions - parsed.positions[:, :1]
    assert np.abs(relative - expected_file_positions(export.skeleton.joints)).max() < 1e-6
    forearm = np.linalg.norm(
        relative[1, HUMANOID_NAMES.index("LeftHand")] - relative[1, HUMANOID_NAMES.index("LeftForeArm")]
    )
    assert forearm == pytest.approx(LENGTHS[12], abs=1e-6)


def test_fully_stretched_limbs(tmp_path: Path) -> None:
    """An elbow straightening from 90 degrees to fully straight (collinear upper arm and forearm), bending
    in a plane turned 60 degrees about the arm: while bent the upper arm carries that 60-degree twist; once
    straight the bend plane says nothing and the twist falls back to none (the smallest swing from the
    clavicle), without jumps on the way."""
    bends = np.linspace(90, 0, 46)
    poses = [{"LeftArm": about(X, 60), "LeftForeArm": about(-Y, bend)} for bend in bends]
    joints = np.stack([body_to_camera(forward_kinematics(pose)) for pose in poses])
    write_bvh(joints, tmp_path / "stretch.bvh", fps=30, bone_lengths=LENGTHS)
    parsed = read_bvh(tmp_path / "stretch.bvh")
    assert np.abs(parsed.positions - parsed.positions[:, :1] - expected_file_positions(joints)).max() < 1e-6

    arm = parsed.local_rotations[:, parsed.names.index("LeftArm")]
    twist = np.degrees(np.arctan2(arm[:, 2, 1], arm[:, 1, 1]))  # rotation about the arm's own axis (x)
    np.testing.assert_allclose(twist[bends >= 20], 60.0, atol=1e-4)
    np.testing.assert_allclose(twist[bends <= 5], 0.0, atol=1e-4)
    assert (np.diff(twist) <= 1e-9).all()  # falls steadily, no jump back and forth


def test_collinear_torso_lines_fall_back(tmp_path: Path) -> None:
    """Frame 0: hips on the spine's line, so the hip line cannot set the pelvis twist: the shoulder line
    does. Frame 1: shoulders on the spine's line: the chest keeps the pelvis twist. Both stay exact."""
    joints = t_pose()[None].repeat(2, axis=0)
    up = np.array([0.0, -1.0, 0.0])  # camera frame
    joints[0, 4], joints[0, 1] = LENGTHS[3] * up, -LENGTHS[0] * up  # left hip straight up, right hip down
    joints[0, [5, 6]] = joints[0, 4] - np.outer([LENGTHS[4], LENGTHS[4] + LENGTHS[5]], up)
    joints[0, [2, 3]] = joints[0, 1] - np.outer([LENGTHS[1], LENGTHS[1] + LENGTHS[2]], up)
    arms = joints[1, [12, 13, 15, 16]] - joints[1, [11, 11, 14, 14]]
    joints[1, 11], joints[1, 14] = joints[1, 8] + LENGTHS[10] * up, joints[1, 8] - LENGTHS[13] * up
    joints[1, [12, 13, 15, 16]] = joints[1, [11, 11, 14, 14]] + arms
    export = write_bvh(joints, tmp_path / "degenerate.bvh", fps=30, bone_lengths=LENGTHS)
    parsed = read_bvh(tmp_path / "degenerate.bvh")
    assert np.isfinite(parsed.column_values()).all()
    assert (
        np.abs(parsed.positions - parsed.positions[:, :1] - expected_file_positions(export.skeleton.joints)).max()
        < 1e-6
    )
    np.testing.assert_allclose(parsed.euler("Hips"), 0.0, atol=1e-6)  # spine straight up, level shoulders/hips
    np.testing.assert_allclose(parsed.euler("Spine"), 0.0, atol=1e-6)


def test_nan_input_is_refused_naming_the_frames(tmp_path: Path) -> None:
    joints = t_pose()[None].repeat(4, axis=0)
    joints[2, 13] = np.nan
    joints[3, 0, 1] = np.inf
    with pytest.raises(ValueError, match=r"frames 2, 3 \(joints: left_wrist, pelvis\)"):
        write_bvh(joints, tmp_path / "nan.bvh", fps=30)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a partial file


@pytest.mark.parametrize("shape", [(17, 3), (4, 16, 3), (4, 17, 2), (0, 17, 3)])
def test_wrong_shapes_are_refused(tmp_path: Path, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"shape \(T, 17, 3\)"):
        write_bvh(np.zeros(shape), tmp_path / "bad.bvh", fps=30)
