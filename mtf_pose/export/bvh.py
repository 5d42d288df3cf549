"""Write a lift as BVH: joint rotations over one fixed skeleton, the format character tools retarget from.

    >>> from mtf_pose.export import write_bvh
    >>> export = write_bvh(result, "walk.bvh")                    # Y-up, metres, humanoid joint names
    >>> export = write_bvh(result, "walk.bvh", up="z", units="cm")
    >>> export.skeleton.max_displacement                           # (T,) how far the constant bones moved each frame

The file's forward kinematics reproduces every H36M joint of the constant-length skeleton (see
:func:`~mtf_pose.export.project_to_constant_bones`) to the printed precision (micrometres). How each
joint's rotation is built, what cannot be recovered from 17 points, and how to import the file in Blender
are in ``docs/bvh.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, field_validator

from mtf_pose import skeleton
from mtf_pose._atomic import write_text_atomic
from mtf_pose.export import _rotations as rot
from mtf_pose.export._input import frames_per_second, joints_from
from mtf_pose.export._rest_pose import CAMERA_TO_Y_UP, FORWARD, LEFT, REST_DIRECTIONS, UP, Y_UP_TO_Z_UP
from mtf_pose.export.skeleton_fit import ConstantBoneProjection, bone_lengths_from, project_to_constant_bones
from mtf_pose.result import LiftResult

ROTATION_CHANNELS: Final[tuple[str, str, str]] = ("Zrotation", "Xrotation", "Yrotation")
POSITION_CHANNELS: Final[tuple[str, str, str]] = ("Xposition", "Yposition", "Zposition")
_DECIMALS = 6
_UNIT_SCALE = {"m": 1.0, "cm": 100.0}
# A limb bent less than the first angle takes its twist from its parent; more than the second, from the
# plane of the bend; in between the two blend smoothly (see _hinge_axis).
_STRAIGHT_LIMB_SINE, _BENT_LIMB_SINE = np.sin(np.radians(5.0)), np.sin(np.radians(20.0))

_Solve = Literal["torso", "swing", "limb", "limb_end", "fixed"]


@dataclass(frozen=True)
class _Joint:
    """One BVH joint: where it sits, and how its rotation is found from the H36M joints."""

    name: str  # humanoid preset name, also the key for custom names
    h36m_name: str
    parent: str | None
    at: int  # the H36M joint it sits on
    solve: _Solve
    aims_at: int | None = None  # the H36M joint its bone points to (all but "fixed")
    side_lines: tuple[tuple[int, int], ...] = ()  # "torso": lines (from, to) towards the body's left, by preference
    bend_end: int | None = None  # "limb": the joint after the next, whose position shows the bend
    rest_hinge: tuple[float, float, float] | None = None  # "limb": the bend axis in the rest pose (body frame)
    end_site: tuple[tuple[float, float, float], float] | None = None  # "fixed": direction, x its bone's length


_LEFT, _RIGHT, _UP, _DOWN, _FORWARD = tuple(LEFT), tuple(-LEFT), tuple(UP), tuple(-UP), tuple(FORWARD)
_HIPS, _SHOULDERS = (1, 4), (14, 11)  # right -> left

# Parents before children, siblings in file order (the MOTION columns follow this order). The pelvis and
# the thorax each have three bones; a BVH joint has one rotation, so each bone leaving them gets a joint
# of its own at the same place (LeftHip/RightHip at the pelvis; Neck, LeftShoulder, RightShoulder at the
# thorax), and every H36M joint is reproduced exactly.
_HIERARCHY: Final[tuple[_Joint, ...]] = (
    _Joint("Hips", "pelvis", None, 0, "torso", aims_at=7, side_lines=(_HIPS, _SHOULDERS)),
    _Joint("LeftHip", "left_pelvis", "Hips", 0, "swing", aims_at=4),
    _Joint("LeftUpLeg", "left_hip", "LeftHip", 4, "limb", aims_at=5, bend_end=6, rest_hinge=_LEFT),
    _Joint("LeftLeg", "left_knee", "LeftUpLeg", 5, "limb_end", aims_at=6),
    _Joint("LeftFoot", "left_ankle", "LeftLeg", 6, "fixed", end_site=(_FORWARD, 0.35)),
    _Joint("RightHip", "right_pelvis", "Hips", 0, "swing", aims_at=1),
    _Joint("RightUpLeg", "right_hip", "RightHip", 1, "limb", aims_at=2, bend_end=3, rest_hinge=_LEFT),
    _Joint("RightLeg", "right_knee", "RightUpLeg", 2, "limb_end", aims_at=3),
    _Joint("RightFoot", "right_ankle", "RightLeg", 3, "fixed", end_site=(_FORWARD, 0.35)),
    _Joint("Spine", "spine", "Hips", 7, "torso", aims_at=8, side_lines=(_SHOULDERS,)),
    _Joint("Neck", "thorax", "Spine", 8, "swing", aims_at=9),
    _Joint("Head", "neck", "Neck", 9, "swing", aims_at=10),
    _Joint("HeadTop", "head", "Head", 10, "fixed", end_site=(_UP, 0.5)),
    _Joint("LeftShoulder", "left_clavicle", "Spine", 8, "swing", aims_at=11),
    _Joint("LeftArm", "left_shoulder", "LeftShoulder", 11, "limb", aims_at=12, bend_end=13, rest_hinge=_DOWN),
    _Joint("LeftForeArm", "left_elbow", "LeftArm", 12, "limb_end", aims_at=13),
    _Joint("LeftHand", "left_wrist", "LeftForeArm", 13, "fixed", end_site=(_LEFT, 0.4)),
    _Joint("RightShoulder", "right_clavicle", "Spine", 8, "swing", aims_at=14),
    _Joint("RightArm", "right_shoulder", "RightShoulder", 14, "limb", aims_at=15, bend_end=16, rest_hinge=_UP),
    _Joint("RightForeArm", "right_elbow", "RightArm", 15, "limb_end", aims_at=16),
    _Joint("RightHand", "right_wrist", "RightForeArm", 16, "fixed", end_site=(_RIGHT, 0.4)),
)
_BY_NAME: Final = {joint.name: joint for joint in _HIERARCHY}
_BONE_ENDING_AT: Final = {child: bone for bone, (_, child) in enumerate(skeleton.BONES)}

NAME_PRESETS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "humanoid": tuple(joint.name for joint in _HIERARCHY),
        "h36m": tuple(joint.h36m_name for joint in _HIERARCHY),
    }
)
"""Joint names in file order. Custom names map humanoid names to your own (``{"Hips": "mixamorig:Hips"}``)."""


class BvhOptions(BaseModel):
    """How :func:`write_bvh` builds the file. The command line's defaults are these."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    up: Literal["y", "z"] = "y"
    """Up axis of the file. ``"y"``: X left, Y up, the character faces +Z. ``"z"``: X left, Z up, it faces -Y."""
    units: Literal["m", "cm"] = "m"
    names: Literal["humanoid", "h36m"] | dict[str, str] = "humanoid"
    """A preset of :data:`NAME_PRESETS`, or humanoid names mapped to your own (unmapped joints keep theirs)."""
    constant_bones: bool = True
    """Project every frame onto the constant-length skeleton (least squares) before computing rotations.
    ``False`` keeps each bone's input direction instead, so joints drift where lengths differ."""
    bone_lengths: list[float] | None = None
    """The skeleton in metres: 16 lengths in ``skeleton.BONES`` order, or a mapping from every bone name
    (``"left_elbow->left_wrist"``) to its length; default: each bone's median over the sequence, left and
    right averaged."""
    root_translation: bool = False
    """Write the input's pelvis trajectory as root motion. A lift is root-relative (its pelvis is the origin
    in every frame: camera-frame root motion is not recoverable), so this is for arrays that carry one."""
    ground: Literal["frame", "sequence", "none"] = "frame"
    """Root height: the lowest ankle on the floor (height 0) in every frame, over the whole sequence, or
    no shift (the pelvis at height 0)."""

    @field_validator("names", mode="before")
    @classmethod
    def _check_names(cls, names: Any) -> Any:
        if isinstance(names, Mapping):
            unknown = sorted(set(names) - set(_BY_NAME))
            if unknown:
                raise ValueError(f"unknown joints {unknown}; custom names map these: {', '.join(_BY_NAME)}")
            chosen = [names.get(joint.name, joint.name) for joint in _HIERARCHY]
            bad = [
                name
                for name in chosen
                if not isinstance(name, str) or not name or any(c.isspace() or c in "{}" for c in name)
            ]
            if bad:
                raise ValueError(f"joint names must be non-empty without spaces or braces; got {bad}")
            repeated = sorted({name for name in chosen if chosen.count(name) > 1})
            if repeated:
                raise ValueError(f"joint names must be unique; repeated: {repeated}")
        return names

    @field_validator("bone_lengths", mode="before")
    @classmethod
    def _check_bone_lengths(cls, lengths: Any) -> Any:
        return None if lengths is None else bone_lengths_from(lengths).tolist()

    def joint_names(self) -> tuple[str, ...]:
        """The file's joint names, in file order."""
        if isinstance(self.names, str):
            return NAME_PRESETS[self.names]
        return tuple(self.names.get(joint.name, joint.name) for joint in _HIERARCHY)


@dataclass(frozen=True)
class BvhExport:
    """What :func:`write_bvh` wrote."""

    path: Path
    frames: int
    frame_time: float
    """Seconds per frame (``1 / fps``)."""
    joint_names: tuple[str, ...]
    skeleton: ConstantBoneProjection
    """The constant-length joints the file reproduces (camera frame, root-relative, metres), its bone
    lengths, and how far each joint is from the input."""
    options: BvhOptions


# -- rotations ------------------------------------------------------------------------------------------
def _rest_frame(primary: NDArray[np.float64] | tuple[float, ...], secondary: tuple[float, ...]) -> NDArray[np.float64]:
    """The frame :func:`_world_rotations` builds, for the rest pose's bone and reference directions."""
    return rot.frame(np.asarray(primary, dtype=np.float64)[None], np.asarray(secondary, dtype=np.float64)[None])[0]


def _hinge_axis(bone: rot.Vectors, bend: rot.Vectors, untwisted: rot.Vectors) -> rot.Vectors:
    """The axis a limb bends about, perpendicular to ``bone``.

    ``bend`` is ``bone x next_bone`` (its length is the sine of the bend); ``untwisted`` is the rest hinge
    carried along by the smallest swing from the parent. A limb bent more than 20 degrees takes the axis of
    its bend. A limb within 5 degrees of straight (or of fully folded) has a bend plane made of noise and
    keeps the untwisted axis. In between, the twist angle blends smoothly, so it never jumps as a limb
    straightens.
    """
    sine = np.linalg.norm(bend, axis=-1)
    ramp = np.clip((sine - _STRAIGHT_LIMB_SINE) / (_BENT_LIMB_SINE - _STRAIGHT_LIMB_SINE), 0.0, 1.0)
    weight = ramp * ramp * (3.0 - 2.0 * ramp)  # smoothstep
    bend_axis = np.where(sine[:, None] > 0, rot.unit(bend)[0], untwisted)
    twist = rot.signed_angle(untwisted, bend_axis, bone)
    return rot.rotate_about(untwisted, bone, weight * twist)


def _world_rotations(joints: NDArray[np.float64]) -> dict[str, rot.Matrices]:
    """Each BVH joint's rotation from the rest pose, body frame, from constant-length ``(T, 17, 3)`` joints.

    - ``torso`` (Hips, Spine): the bone up the spine is the primary axis; the hip line (Hips) or shoulder
      line (Spine) fixes the twist, falling back to the next line, the parent's left axis, then world axes
      where a line is collinear with the spine.
    - ``swing`` (hip and clavicle branches, Neck, Head): the smallest rotation from the parent that aims
      the bone; no twist (it is not observable from two points on the bone).
    - ``limb`` (upper arm, thigh): the bone and the bend axis of elbow or knee (:func:`_hinge_axis`).
    - ``limb_end`` (forearm, shin): the bone and the same bend axis, so elbow and knee turn about one axis.
    - ``fixed`` (hands, feet, head top): the parent's rotation; nothing observes them.
    """
    frames = joints.shape[0]
    world: dict[str, rot.Matrices] = {}
    hinges: dict[str, rot.Vectors] = {}
    for joint in _HIERARCHY:
        parent = world[joint.parent] if joint.parent else np.broadcast_to(np.eye(3), (frames, 3, 3))
        if joint.solve == "fixed":
            world[joint.name] = parent
            continue
        assert joint.aims_at is not None
        rest = REST_DIRECTIONS[joint.aims_at]
        bone = rot.unit(joints[:, joint.aims_at] - joints[:, joint.at])[0]
        if joint.solve == "torso":
            lines = [joints[:, to] - joints[:, start] for start, to in joint.side_lines]
            fallbacks = [parent[:, :, 0], np.broadcast_to(LEFT, bone.shape), np.broadcast_to(FORWARD, bone.shape)]
            side = rot.perpendicular_reference(bone, lines + fallbacks)
            world[joint.name] = rot.frame(bone, side) @ _rest_frame(rest, _LEFT).T
        elif joint.solve == "swing":
            world[joint.name] = rot.rotation_between(parent @ rest, bone) @ parent
        elif joint.solve == "limb":
            assert joint.bend_end is not None and joint.rest_hinge is not None
            swing = rot.rotation_between(parent @ rest, bone) @ parent
            next_bone = rot.unit(joints[:, joint.bend_end] - joints[:, joint.aims_at])[0]
            hinge = _hinge_axis(bone, np.cross(bone, next_bone), swing @ np.asarray(joint.rest_hinge))
            hinges[joint.name] = hinge
            world[joint.name] = rot.frame(bone, hinge) @ _rest_frame(rest, joint.rest_hinge).T
        else:  # limb_end: shares the bend axis of its parent limb joint
            assert joint.parent is not None
            rest_hinge = _BY_NAME[joint.parent].rest_hinge
            assert rest_hinge is not None
            fallbacks = [np.broadcast_to(LEFT, bone.shape), np.broadcast_to(FORWARD, bone.shape)]
            hinge = rot.perpendicular_reference(bone, [hinges[joint.parent], *fallbacks])
            world[joint.name] = rot.frame(bone, hinge) @ _rest_frame(rest, rest_hinge).T
    return world


def _continuous_euler(angles: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(T, J, 3)`` ZXY angles in degrees made continuous over time.

    ``(z, x, y)``, ``(z + 180, 180 - x, y + 180)`` and any of them plus whole turns are the same rotation.
    Frame 0 takes the one with the smallest angles, every later frame the one nearest the frame before, so
    a knee bending past 90 degrees reads (0, 95, 0), not (180, 85, 180), and nothing jumps by 360.
    """
    alternative = angles + np.array([180.0, 0.0, 180.0])
    alternative[..., 1] = 180.0 - angles[..., 1]
    candidates = (np.stack([angles, alternative], axis=-2) + 180.0) % 360.0 - 180.0  # (T, J, 2, 3)
    joints = np.arange(angles.shape[1])
    continuous = np.empty_like(angles)
    previous = candidates[0][joints, np.argmin(np.abs(candidates[0]).sum(axis=-1), axis=-1)]
    for frame, options in enumerate(candidates):
        shifted = options + 360.0 * np.round((previous[:, None] - options) / 360.0)
        nearest = np.argmin(np.abs(shifted - previous[:, None]).sum(axis=-1), axis=-1)
        previous = continuous[frame] = shifted[joints, nearest]
    return continuous


def _local_rotations(world: dict[str, rot.Matrices]) -> list[rot.Matrices]:
    """Rotation of each joint relative to its parent (the root's: relative to the file's axes), file order."""
    return [
        world[joint.name] if joint.parent is None else np.swapaxes(world[joint.parent], -1, -2) @ world[joint.name]
        for joint in _HIERARCHY
    ]


# -- skeleton and root ----------------------------------------------------------------------------------
def _offsets(bone_lengths: NDArray[np.float64]) -> tuple[NDArray[np.float64], dict[str, NDArray[np.float64]]]:
    """``(J, 3)`` OFFSET of each joint from its parent in the rest T-pose (body frame, metres), and the
    End Site offsets of the leaf joints (nominal: hands, feet and head top are not observed)."""
    rest_pose = np.zeros((skeleton.NUM_JOINTS, 3))
    for bone, (parent, child) in enumerate(skeleton.BONES):
        rest_pose[child] = rest_pose[parent] + bone_lengths[bone] * REST_DIRECTIONS[child]
    offsets = np.array(
        [
            np.zeros(3) if joint.parent is None else rest_pose[joint.at] - rest_pose[_BY_NAME[joint.parent].at]
            for joint in _HIERARCHY
        ]
    )
    end_sites = {
        joint.name: np.asarray(joint.end_site[0]) * joint.end_site[1] * bone_lengths[_BONE_ENDING_AT[joint.at]]
        for joint in _HIERARCHY
        if joint.end_site is not None
    }
    return offsets, end_sites


def _root_positions(
    joints: NDArray[np.float64], projected_body: NDArray[np.float64], options: BvhOptions
) -> NDArray[np.float64]:
    """``(T, 3)`` pelvis position per frame, body frame, metres: the input's trajectory if asked for, then
    shifted up or down so that the lowest ankle touches the floor (height 0)."""
    if options.root_translation:
        if np.all(np.abs(joints[:, 0]) < 1e-9):
            raise ValueError(
                "root_translation: the input is root-relative (pelvis at the origin in every frame), so there is "
                "no root motion to write; camera-frame root motion is not recoverable from a lift"
            )
        root = joints[:, 0] @ CAMERA_TO_Y_UP.T
    else:
        root = np.zeros((joints.shape[0], 3))
    ankle_heights = root[:, 1:2] + projected_body[:, [3, 6], 1]
    lowest = ankle_heights.min(axis=1)
    if options.ground == "frame":
        root[:, 1] -= lowest
    elif options.ground == "sequence":
        root[:, 1] -= lowest.min()
    return root


# -- text -----------------------------------------------------------------------------------------------
def _number(value: float) -> str:
    return f"{round(float(value), _DECIMALS) + 0.0:.{_DECIMALS}f}"  # + 0.0: no "-0.000000"


def _vector(values: NDArray[np.float64]) -> str:
    return " ".join(_number(value) for value in values)


def _hierarchy_text(
    names: tuple[str, ...], offsets: NDArray[np.float64], end_sites: dict[str, NDArray[np.float64]]
) -> list[str]:
    index = {joint.name: i for i, joint in enumerate(_HIERARCHY)}
    children: dict[str | None, list[_Joint]] = {}
    for joint in _HIERARCHY:
        children.setdefault(joint.parent, []).append(joint)
    lines = ["HIERARCHY"]

    def emit(joint: _Joint, depth: int) -> None:
        pad = "\t" * depth
        i = index[joint.name]
        channels = ROTATION_CHANNELS if joint.parent else POSITION_CHANNELS + ROTATION_CHANNELS
        lines.append(f"{pad}{'ROOT' if joint.parent is None else 'JOINT'} {names[i]}")
        lines.append(pad + "{")
        lines.append(f"{pad}\tOFFSET {_vector(offsets[i])}")
        lines.append(f"{pad}\tCHANNELS {len(channels)} {' '.join(channels)}")
        for child in children.get(joint.name, []):
            emit(child, depth + 1)
        if joint.name in end_sites:
            lines.extend(
                [f"{pad}\tEnd Site", f"{pad}\t{{", f"{pad}\t\tOFFSET {_vector(end_sites[joint.name])}", f"{pad}\t}}"]
            )
        lines.append(pad + "}")

    emit(_HIERARCHY[0], 0)
    return lines


def _motion_text(motion: NDArray[np.float64], frame_time: float) -> list[str]:
    rounded = np.round(motion, _DECIMALS) + 0.0
    rows = [" ".join(f"{value:.{_DECIMALS}f}" for value in row) for row in rounded]
    return ["MOTION", f"Frames: {motion.shape[0]}", f"Frame Time: {frame_time:.10g}", *rows]


# -- public ---------------------------------------------------------------------------------------------
def _resolve_options(options: BvhOptions | None, settings: dict[str, Any]) -> BvhOptions:
    if options is None:
        return BvhOptions(**settings)
    return BvhOptions.model_validate({**options.model_dump(), **settings}) if settings else options


def write_bvh(
    source: LiftResult | Any,
    path: str | Path,
    *,
    fps: float | None = None,
    options: BvhOptions | None = None,
    **settings: Any,
) -> BvhExport:
    """Write ``source`` (a LiftResult, or a ``(T, 17, 3)`` H36M-17 array in metres, camera frame, with
    ``fps``) to ``path`` as BVH, atomically.

    Options come as a :class:`BvhOptions` or as its fields (``up="z", units="cm", names="h36m", ...``);
    the defaults are the command line's. Input with NaN or infinity is refused with the frames named.
    """
    options = _resolve_options(options, settings)
    joints = joints_from(source)
    frame_time = 1.0 / frames_per_second(source, fps)
    projection = project_to_constant_bones(
        joints, options.bone_lengths, method="least_squares" if options.constant_bones else "directions"
    )
    body = projection.joints @ CAMERA_TO_Y_UP.T
    root = _root_positions(joints, body, options)
    local = _local_rotations(_world_rotations(body))
    offsets, end_sites = _offsets(projection.bone_lengths)

    to_file = Y_UP_TO_Z_UP if options.up == "z" else np.eye(3)
    scale = _UNIT_SCALE[options.units]
    # Changing axes turns every rotation R into A R A^T and every vector v into A v.
    angles = _continuous_euler(np.stack([rot.euler_zxy_degrees(to_file @ r @ to_file.T) for r in local], axis=1))
    motion = np.concatenate([scale * root @ to_file.T, angles.reshape(joints.shape[0], -1)], axis=1)
    offsets = scale * offsets @ to_file.T
    end_sites = {name: scale * to_file @ offset for name, offset in end_sites.items()}

    names = options.joint_names()
    text = "\n".join(_hierarchy_text(names, offsets, end_sites) + _motion_text(motion, frame_time)) + "\n"
    path = Path(path)
    write_text_atomic(path, text)
    return BvhExport(
        path=path,
        frames=joints.shape[0],
        frame_time=frame_time,
        joint_names=names,
        skeleton=projection,
        options=options,
    )
