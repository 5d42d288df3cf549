"""What a lift returns: 3D joints in metres, bones, and everything needed to trust and reuse them.

Axes: the camera frame, x right, y down, z forward (away from the camera), root-relative (the pelvis is the
origin in every frame).

Scale model: the network predicts in normalised image units (z scaled like x), so the size of its output
follows the person's size in the image. Metres come from the person's height: in every frame the
skeleton's ankle-to-head chain (mean leg = ankle-knee + knee-hip, then pelvis-spine-thorax-neck-head) is
scaled to ``STATURE_CHAIN_RATIO * subject_height``, after a one-second running median of the chain length,
so that a person walking towards the camera keeps a constant size. On the Human3.6M training subjects
that chain is 1.58-1.71 m long; the head joint sits a few centimetres below the top of the head.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mtf_pose import skeleton
from mtf_pose._atomic import write_atomic, write_text_atomic

STATURE_CHAIN_RATIO = 0.96
DEFAULT_SUBJECT_HEIGHT = 1.70
RESULT_FORMAT_VERSION = 1

_PARENTS = np.array([p for p, _ in skeleton.BONES])
_CHILDREN = np.array([c for _, c in skeleton.BONES])


def chain_length(joints: NDArray[np.floating]) -> NDArray[np.float64]:
    """Per-frame ankle-to-head chain length of ``(T, 17, 3)`` joints (legs averaged)."""

    def bone(a: int, b: int) -> NDArray[np.float64]:
        return np.linalg.norm(joints[:, a] - joints[:, b], axis=-1)

    legs = (bone(3, 2) + bone(2, 1) + bone(6, 5) + bone(5, 4)) / 2
    return legs + bone(0, 7) + bone(7, 8) + bone(8, 9) + bone(9, 10)


def running_median(values: NDArray[np.floating], window: int) -> NDArray[np.float64]:
    """Centred running median with edge padding (``window`` rounded up to odd)."""
    half = max(window, 1) // 2
    padded = np.pad(np.asarray(values, dtype=np.float64), half, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1), axis=-1)


def metres_per_unit(
    joints_normalized: NDArray[np.floating], subject_height: float, fps: float
) -> NDArray[np.float32]:
    """Per-frame scale from network units to metres (see the module docstring)."""
    chain = running_median(chain_length(joints_normalized), round(fps))
    chain = np.maximum(chain, 1e-6)
    return (STATURE_CHAIN_RATIO * subject_height / chain).astype(np.float32)


@dataclass
class LiftResult:
    """3D joints of one person over time, root-relative, camera frame (x right, y down, z forward)."""

    joints_3d: NDArray[np.float32]
    """``(T, 17, 3)`` metres."""
    joints_3d_normalized: NDArray[np.float32]
    """``(T, 17, 3)`` the network's own output: normalised image units, z scaled like x."""
    confidence: NDArray[np.float32]
    """``(T, 17)`` input confidence per H36M joint; 0 where the joint was missing and filled in."""
    filled: NDArray[np.bool_]
    """``(T, 17)`` True where the joint was missing in the input and interpolated over time."""
    fps: float
    subject_height: float
    metres_per_unit: NDArray[np.float32]
    """``(T,)`` the scale used for each frame."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Where it came from: weights, flip averaging, input layout, image size, package version."""

    joint_names: ClassVar[tuple[str, ...]] = skeleton.JOINT_NAMES
    parents: ClassVar[tuple[int, ...]] = skeleton.PARENTS
    bones: ClassVar[tuple[tuple[int, int], ...]] = skeleton.BONES
    bone_names: ClassVar[tuple[str, ...]] = skeleton.BONE_NAMES

    @property
    def frames(self) -> int:
        return int(self.joints_3d.shape[0])

    @cached_property
    def bone_vectors(self) -> NDArray[np.float32]:
        """``(T, 16, 3)`` child minus parent, metres."""
        return (self.joints_3d[:, _CHILDREN] - self.joints_3d[:, _PARENTS]).astype(np.float32)

    @cached_property
    def bone_lengths(self) -> NDArray[np.float32]:
        """``(T, 16)`` metres, in the order of :attr:`bones`."""
        return np.linalg.norm(self.bone_vectors, axis=-1).astype(np.float32)

    @cached_property
    def bone_directions(self) -> NDArray[np.float32]:
        """``(T, 16, 3)`` unit vectors from parent to child (zero for a zero-length bone)."""
        lengths = self.bone_lengths[..., None]
        return np.divide(self.bone_vectors, lengths, out=np.zeros_like(self.bone_vectors), where=lengths > 0)

    @cached_property
    def bone_angles(self) -> NDArray[np.float32]:
        """``(T, 16, 2)`` radians: azimuth ``atan2(dy, dx)`` in the image plane and polar angle from +z."""
        directions = self.bone_directions
        azimuth = np.arctan2(directions[..., 1], directions[..., 0])
        polar = np.arccos(np.clip(directions[..., 2], -1.0, 1.0))
        return np.stack([azimuth, polar], axis=-1).astype(np.float32)

    # -- serialisation ----------------------------------------------------------------------------------
    def _arrays(self) -> dict[str, NDArray[Any]]:
        return {
            "joints_3d": self.joints_3d,
            "joints_3d_normalized": self.joints_3d_normalized,
            "confidence": self.confidence,
            "filled": self.filled,
            "metres_per_unit": self.metres_per_unit,
            "bone_lengths": self.bone_lengths,
            "bone_directions": self.bone_directions,
            "bone_angles": self.bone_angles,
        }

    def _header(self) -> dict[str, Any]:
        return {
            "format": "mtf_pose.LiftResult",
            "format_version": RESULT_FORMAT_VERSION,
            "fps": self.fps,
            "subject_height": self.subject_height,
            "units": "metres",
            "axes": "camera frame: x right, y down, z forward; root-relative (pelvis at the origin)",
            "joint_names": list(self.joint_names),
            "parents": list(self.parents),
            "bones": [list(b) for b in self.bones],
            "metadata": self.metadata,
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain Python (JSON-serialisable): the header fields plus every array as nested lists."""
        return {**self._header(), **{name: array.tolist() for name, array in self._arrays().items()}}

    def save(self, path: str | Path) -> Path:
        """Write ``.npz`` (compressed arrays) or ``.json``, atomically."""
        path = Path(path)
        if path.suffix == ".npz":

            def write(temporary: Path) -> None:
                arrays = {"header": np.array(json.dumps(self._header())), **self._arrays()}
                with open(temporary, "wb") as handle:
                    np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]  # stubs match ** to allow_pickle

            write_atomic(path, write)
        elif path.suffix == ".json":
            write_text_atomic(path, json.dumps(self.to_dict()))
        else:
            raise ValueError(f"{path}: unsupported result format {path.suffix!r}; use .npz or .json")
        return path

    @classmethod
    def load(cls, path: str | Path) -> LiftResult:
        """Read a file written by :meth:`save`."""
        path = Path(path)
        try:
            if path.suffix == ".npz":
                with np.load(path, allow_pickle=False) as data:
                    header = json.loads(str(data["header"]))
                    arrays = {name: data[name] for name in data.files if name != "header"}
            elif path.suffix == ".json":
                content = json.loads(path.read_text(encoding="utf-8"))
                header = content
                arrays = {name: np.asarray(content[name]) for name in ("joints_3d", "joints_3d_normalized",
                                                                        "confidence", "filled", "metres_per_unit")}
            else:
                raise ValueError(f"unsupported result format {path.suffix!r}; use .npz or .json")
            if header.get("format") != "mtf_pose.LiftResult":
                raise ValueError("not an mtf_pose lift result")
            return cls(
                joints_3d=np.asarray(arrays["joints_3d"], dtype=np.float32),
                joints_3d_normalized=np.asarray(arrays["joints_3d_normalized"], dtype=np.float32),
                confidence=np.asarray(arrays["confidence"], dtype=np.float32),
                filled=np.asarray(arrays["filled"], dtype=bool),
                fps=float(header["fps"]),
                subject_height=float(header["subject_height"]),
                metres_per_unit=np.asarray(arrays["metres_per_unit"], dtype=np.float32),
                metadata=dict(header.get("metadata", {})),
            )
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no such file") from None
        except (KeyError, ValueError, OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: cannot read a lift result ({error})") from None
