"""Constant bone lengths: one length per bone for a sequence, and every frame projected onto that skeleton.

A lifted pose has slightly different bone lengths in every frame; a character rig (and a BVH file) has one
length per bone. :func:`project_to_constant_bones` finds, frame by frame, the pose with the given lengths
whose joints lie closest to the input (least squares over all 17 joints, the pelvis held at the origin),
and reports how far every joint moved.

    >>> from mtf_pose.export import project_to_constant_bones
    >>> projection = project_to_constant_bones(result)      # a LiftResult or a (T, 17, 3) array
    >>> projection.joints                                   # (T, 17, 3) metres, every bone its constant length
    >>> projection.max_displacement                         # (T,) metres: how far each frame moved, at most
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from mtf_pose import skeleton
from mtf_pose.export._input import joints_from
from mtf_pose.export._rest_pose import CAMERA_TO_Y_UP, REST_DIRECTIONS
from mtf_pose.export._rotations import rotation_between
from mtf_pose.result import LiftResult

ProjectionMethod = Literal["least_squares", "directions"]
BoneLengths = Sequence[float] | NDArray[np.floating] | Mapping[str, float]

_PARENTS = np.array([parent for parent, _ in skeleton.BONES])
_CHILDREN = np.array([child for _, child in skeleton.BONES])
# A bone shorter than this (metres) in the input has no direction of its own.
_ZERO_LENGTH = 1e-9


def _mirror_bones() -> NDArray[np.intp]:
    flip = skeleton.flip_permutation()
    index = {bone: i for i, bone in enumerate(skeleton.BONES)}
    return np.array([index[(flip[parent], flip[child])] for parent, child in skeleton.BONES])


def _subtrees() -> list[NDArray[np.intp]]:
    """For each bone, its child joint and every joint below it."""
    below: list[list[int]] = [[joint] for joint in range(skeleton.NUM_JOINTS)]
    for joint in reversed(range(1, skeleton.NUM_JOINTS)):  # children have larger indices than parents
        below[skeleton.PARENTS[joint]].extend(below[joint])
    return [np.array(sorted(below[child])) for child in _CHILDREN]


def _parent_bones() -> list[int | None]:
    bone_ending_at = {child: i for i, (_, child) in enumerate(skeleton.BONES)}
    return [bone_ending_at.get(parent) for parent, _ in skeleton.BONES]


_MIRROR_BONE = _mirror_bones()
_SUBTREE = _subtrees()
_PARENT_BONE = _parent_bones()
# Rest (T-pose) bone directions in the camera frame, for a person facing the camera.
_REST_CAMERA = REST_DIRECTIONS @ CAMERA_TO_Y_UP.T


def estimate_bone_lengths(source: LiftResult | Any, *, symmetric: bool = True) -> NDArray[np.float64]:
    """``(16,)`` metres in the order of :data:`mtf_pose.skeleton.BONES`: each bone's median length over
    the sequence, with left and right averaged when ``symmetric``."""
    joints = joints_from(source)
    lengths = np.median(np.linalg.norm(joints[:, _CHILDREN] - joints[:, _PARENTS], axis=-1), axis=0)
    if symmetric:
        lengths = (lengths + lengths[_MIRROR_BONE]) / 2
    zero = np.flatnonzero(lengths <= 0)
    if zero.size:
        names = ", ".join(skeleton.BONE_NAMES[bone] for bone in zero)
        raise ValueError(f"bone length is 0 over most of the sequence for {names}; pass bone_lengths explicitly")
    return lengths


def bone_lengths_from(lengths: BoneLengths) -> NDArray[np.float64]:
    """Check a user's skeleton: 16 lengths in metres in :data:`~mtf_pose.skeleton.BONES` order, or a mapping
    from every bone name (``"left_elbow->left_wrist"``, see :data:`~mtf_pose.skeleton.BONE_NAMES`)."""
    if isinstance(lengths, Mapping):
        missing = [name for name in skeleton.BONE_NAMES if name not in lengths]
        unknown = [name for name in lengths if name not in skeleton.BONE_NAMES]
        if missing or unknown:
            raise ValueError(
                f"bone_lengths must name every bone exactly once; missing: {missing or 'none'}, unknown: "
                f"{unknown or 'none'} (names are {', '.join(skeleton.BONE_NAMES)})"
            )
        lengths = [lengths[name] for name in skeleton.BONE_NAMES]
    try:
        values = np.asarray(lengths, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("bone_lengths must be numbers (metres)") from None
    if values.shape != (skeleton.NUM_BONES,):
        raise ValueError(
            f"bone_lengths must hold {skeleton.NUM_BONES} lengths (one per bone); got shape {values.shape}"
        )
    bad = np.flatnonzero(~np.isfinite(values) | (values <= 0))
    if bad.size:
        named = ", ".join(f"{skeleton.BONE_NAMES[i]}={values[i]}" for i in bad)
        raise ValueError(f"bone lengths must be positive finite metres; got {named}")
    return values


@dataclass(frozen=True)
class ConstantBoneProjection:
    """A sequence projected onto one constant-length skeleton, and how far each joint moved."""

    joints: NDArray[np.float64]
    """``(T, 17, 3)`` metres, camera frame, root-relative (pelvis at the origin); bone ``b`` is exactly
    ``bone_lengths[b]`` long in every frame."""
    bone_lengths: NDArray[np.float64]
    """``(16,)`` metres, in the order of :data:`mtf_pose.skeleton.BONES`."""
    displacement: NDArray[np.float64]
    """``(T, 17)`` metres: distance of each projected joint from the (root-relative) input joint."""
    method: ProjectionMethod
    iterations: int
    """Sweeps the least-squares fit took (0 for ``"directions"``)."""

    @property
    def frames(self) -> int:
        return int(self.joints.shape[0])

    @property
    def mean_displacement(self) -> NDArray[np.float64]:
        """``(T,)`` metres: mean over the 17 joints of how far each moved, per frame."""
        return self.displacement.mean(axis=1)

    @property
    def max_displacement(self) -> NDArray[np.float64]:
        """``(T,)`` metres: the largest move of any joint, per frame."""
        return self.displacement.max(axis=1)

    def summary(self) -> str:
        """One line: mean and largest displacement in millimetres, and the frame of the largest."""
        worst = int(np.argmax(self.max_displacement))
        return (
            f"constant-length skeleton ({self.method}): joints moved {1000 * self.displacement.mean():.1f} mm on "
            f"average, at most {1000 * self.max_displacement[worst]:.1f} mm (frame {worst})"
        )


def _input_directions(relative: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(T, 16, 3)`` unit bone directions of the input.

    A zero-length bone has none: it keeps the angle to its parent bone that it has in the rest T-pose (a
    forearm continues its upper arm, a thigh hangs at a right angle to the hip bone); a bone from the
    pelvis takes its rest direction for a person facing the camera.
    """
    vectors = relative[:, _CHILDREN] - relative[:, _PARENTS]
    lengths = np.linalg.norm(vectors, axis=-1, keepdims=True)
    directions = np.divide(vectors, lengths, out=np.zeros_like(vectors), where=lengths > _ZERO_LENGTH)
    for bone, parent_bone in enumerate(_PARENT_BONE):  # bones are ordered parents first
        zero = lengths[:, bone, 0] <= _ZERO_LENGTH
        rest = _REST_CAMERA[_CHILDREN[bone]]
        if parent_bone is None:
            directions[zero, bone] = rest
        elif zero.any():
            parent_rest = np.broadcast_to(_REST_CAMERA[_CHILDREN[parent_bone]], (int(zero.sum()), 3))
            turn = rotation_between(parent_rest, directions[zero, parent_bone])
            directions[zero, bone] = turn @ rest
    return directions


def _joints_from_directions(directions: NDArray[np.float64], bone_lengths: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(T, 17, 3)`` joints built outward from the pelvis (at the origin): ``child = parent + length * direction``."""
    joints = np.zeros((directions.shape[0], skeleton.NUM_JOINTS, 3))
    for bone, (parent, child) in enumerate(skeleton.BONES):
        joints[:, child] = joints[:, parent] + bone_lengths[bone] * directions[:, bone]
    return joints


def _tangent_bases(directions: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(..., 3, 2)``: two unit vectors perpendicular to each unit direction and to each other."""
    least_aligned = np.eye(3)[np.argmin(np.abs(directions), axis=-1)]
    first = np.cross(directions, least_aligned)
    first /= np.linalg.norm(first, axis=-1, keepdims=True)
    return np.stack([first, np.cross(directions, first)], axis=-1)


def _least_squares_directions(
    target: NDArray[np.float64],
    directions: NDArray[np.float64],
    bone_lengths: NDArray[np.float64],
    max_iterations: int,
    tolerance: float,
) -> tuple[NDArray[np.float64], int]:
    """Damped Newton steps on the bone directions, every frame on its own, all frames in one batch.

    Each bone direction moves in its tangent plane (two parameters) and is renormalised after the step,
    so every bone keeps its length exactly. The Hessian is the Gauss-Newton one plus the sphere's
    curvature term (without it convergence is only linear, the residuals being centimetres). A step is
    kept only where it lowers the frame's squared distance to ``target`` (Levenberg-Marquardt damping
    otherwise); a frame stops once a step would move no joint more than ``tolerance`` metres. Returns the
    directions and the number of iterations the slowest frame took.
    """
    bones = skeleton.NUM_BONES
    # Gauss-Newton matrix of a frame: bones b and c move |subtree(b) & subtree(c)| joints together.
    shared = np.array([[len(np.intersect1d(a, b)) for b in _SUBTREE] for a in _SUBTREE], dtype=np.float64)
    coupling = np.kron(shared * np.outer(bone_lengths, bone_lengths), np.ones((2, 2)))
    membership = np.zeros((bones, skeleton.NUM_JOINTS))
    for bone, subtree in enumerate(_SUBTREE):
        membership[bone, subtree] = 1.0

    directions = directions.copy()
    damping = np.full(target.shape[0], 1.0)
    active = np.arange(target.shape[0])
    iteration = 0
    while active.size and iteration < max_iterations:
        iteration += 1
        current, goal = directions[active], target[active]
        joints = _joints_from_directions(current, bone_lengths)
        cost = np.sum((joints - goal) ** 2, axis=(1, 2))
        bases = _tangent_bases(current)  # (F, 16, 3, 2)
        subtree_residual = membership @ (joints - goal)  # (F, 16, 3)
        gradient = (bone_lengths[:, None] * np.sum(bases * subtree_residual[..., None], axis=2)).reshape(-1, 2 * bones)
        tangents = bases.transpose(0, 1, 3, 2).reshape(-1, 2 * bones, 3)  # rows: (bone, axis)
        normal = (tangents @ tangents.transpose(0, 2, 1)) * coupling
        diagonal = np.einsum("fii->fi", normal)
        curvature = -np.repeat(bone_lengths * np.sum(current * subtree_residual, axis=-1), 2, axis=-1)
        damping_term = damping[active, None] * diagonal
        try:
            step = np.linalg.solve(
                normal + (curvature + damping_term)[:, :, None] * np.eye(2 * bones), -gradient[..., None]
            )
        except np.linalg.LinAlgError:  # an exactly singular frame: take the Gauss-Newton step (positive definite)
            step = np.linalg.solve(normal + damping_term[:, :, None] * np.eye(2 * bones), -gradient[..., None])
        step = step[..., 0].reshape(-1, bones, 2)
        moved = current + (bases @ step[..., None])[..., 0]
        moved /= np.linalg.norm(moved, axis=-1, keepdims=True)
        moved_joints = _joints_from_directions(moved, bone_lengths)
        better = np.sum((moved_joints - goal) ** 2, axis=(1, 2)) < cost
        directions[active[better]] = moved[better]
        damping[active] = np.where(better, damping[active] / 3, damping[active] * 4)
        joint_step = np.abs(moved_joints - joints).max(axis=(1, 2))
        done = joint_step <= tolerance
        active = active[~done]
    return directions, iteration


def project_to_constant_bones(
    source: LiftResult | Any,
    bone_lengths: BoneLengths | None = None,
    *,
    method: ProjectionMethod = "least_squares",
    max_iterations: int = 100,
    tolerance: float = 1e-7,
) -> ConstantBoneProjection:
    """Project every frame of ``source`` (a LiftResult or a ``(T, 17, 3)`` H36M-17 array, metres) onto the
    skeleton with constant ``bone_lengths`` (default: :func:`estimate_bone_lengths`, median, symmetric).

    ``method``:
      ``"least_squares"`` (default): the constant-length pose closest to the input over all joints.
      ``"directions"``: every bone keeps its input direction; errors add up towards hands and feet.
    ``tolerance`` (metres): a frame's fit stops once a step would move none of its joints further;
    ``max_iterations`` caps the steps (:attr:`ConstantBoneProjection.iterations` says how many were taken).

    Joints are taken relative to the pelvis first (the pelvis stays at the origin). A bone of zero length
    in the input starts at its T-pose angle to its parent bone (a forearm continues its upper arm), and
    the least-squares fit then turns it towards the joints below it, if any.
    """
    if method not in ("least_squares", "directions"):
        raise ValueError(f"method must be 'least_squares' or 'directions'; got {method!r}")
    if max_iterations < 1:
        raise ValueError(f"max_iterations must be at least 1; got {max_iterations}")
    joints = joints_from(source)
    relative = joints - joints[:, :1]
    lengths = estimate_bone_lengths(relative) if bone_lengths is None else bone_lengths_from(bone_lengths)
    directions = _input_directions(relative)
    iterations = 0
    if method == "least_squares":
        directions, iterations = _least_squares_directions(relative, directions, lengths, max_iterations, tolerance)
    projected = _joints_from_directions(directions, lengths)
    return ConstantBoneProjection(
        joints=projected,
        bone_lengths=lengths,
        displacement=np.linalg.norm(projected - relative, axis=-1),
        method=method,
        iterations=iterations,
    )
