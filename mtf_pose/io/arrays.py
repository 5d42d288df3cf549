"""NumPy inputs: ``.npy`` arrays, ``.npz`` archives with named arrays, and VideoPose3D's 2D files."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mtf_pose.io.base import KeypointFile, KeypointReader, KeypointReadError, PersonTrack, Probe


def keypoint_array(value: Any, what: str, *, channels: tuple[int, ...] = (2, 3)) -> NDArray[np.float64]:
    """``(frames, joints, 2|3)`` numbers -> ``(frames, joints, 3)`` float64 (confidence 1 when absent)."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise KeypointReadError(f"{what} is not an array of numbers") from None
    if array.ndim != 3 or array.shape[-1] not in channels:
        hint = " (one person per file: for several people use one file each)" if array.ndim == 4 else ""
        wanted = " or ".join(str(c) for c in channels)
        raise KeypointReadError(f"{what} has shape {array.shape}; expected (frames, joints, {wanted}){hint}")
    if array.shape[0] == 0:
        raise KeypointReadError(f"{what} has 0 frames")
    if array.shape[1] == 0:
        raise KeypointReadError(f"{what} has 0 joints")
    if array.shape[-1] == 2:
        array = np.concatenate([array, np.ones(array.shape[:2] + (1,))], axis=-1)
    return array


class NpyReader(KeypointReader):
    name: ClassVar[str] = "npy"
    title: ClassVar[str] = "NumPy array"
    extensions: ClassVar[tuple[str, ...]] = (".npy",)
    detection: ClassVar[str] = "a numeric .npy array of shape (frames, joints, 2 or 3)"

    def detect(self, probe: Probe) -> bool:
        return probe.npy.ndim == 3 and probe.npy.shape[-1] in (2, 3)

    def read(self, probe: Probe) -> KeypointFile:
        track = PersonTrack(keypoint_array(probe.npy, "the array"))
        return KeypointFile(probe.source, self.name, [track])


# Names under which archives commonly keep each field, in order of preference.
_KEYPOINT_KEYS = ("keypoints", "keypoints_2d", "kpts", "poses_2d", "pose_2d", "positions_2d", "joints_2d", "landmarks")
_CONFIDENCE_KEYS = ("confidence", "scores", "keypoint_scores")
_FPS_KEYS = ("fps", "frame_rate", "framerate")
_LAYOUT_KEYS = ("layout", "layout_name")


class NpzReader(KeypointReader):
    name: ClassVar[str] = "npz"
    title: ClassVar[str] = "NumPy archive"
    extensions: ClassVar[tuple[str, ...]] = (".npz",)
    detection: ClassVar[str] = (
        "an .npz holding a keypoint array under a known name (keypoints, keypoints_2d, kpts, poses_2d, "
        "pose_2d, positions_2d, joints_2d, landmarks) or as its only (frames, joints, 2|3) array"
    )

    def detect(self, probe: Probe) -> bool:
        _refuse_lift_result(probe)
        return self._keypoint_key(probe) is not None

    def read(self, probe: Probe) -> KeypointFile:
        archive = probe.npz
        key = self._keypoint_key(probe)
        if key is None:
            raise KeypointReadError(
                f"no keypoint array found; members: {archive.names}. "
                "Name it 'keypoints' with shape (frames, joints, 2|3)"
            )
        keypoints = keypoint_array(archive.get(key), f"member {key!r}")
        confidence_key = next((k for k in _CONFIDENCE_KEYS if k in archive), None)
        if confidence_key is not None:
            confidence = np.asarray(archive.get(confidence_key), dtype=np.float64)
            if confidence.shape != keypoints.shape[:2]:
                raise KeypointReadError(
                    f"member {confidence_key!r} has shape {confidence.shape}; expected (frames, joints) = "
                    f"{keypoints.shape[:2]}"
                )
            keypoints[..., 2] = confidence
        track = PersonTrack(
            keypoints,
            layout=_text(archive, _LAYOUT_KEYS),
            image_size=_image_size(archive),
            fps=_number(archive, _FPS_KEYS),
            coordinates=_text(archive, ("coordinates",)),  # type: ignore[arg-type]
        )
        notes = [f"keypoints from member {key!r}"] + (
            [f"confidence from member {confidence_key!r}"] if confidence_key else []
        )
        return KeypointFile(probe.source, self.name, [track], notes=notes)

    @staticmethod
    def _keypoint_key(probe: Probe) -> str | None:
        archive = probe.npz
        for key in _KEYPOINT_KEYS:
            if key in archive and not archive.dtype(key).hasobject:
                return key
        candidates = [k for k in archive if not archive.dtype(k).hasobject and _is_keypoint_shaped(archive.get(k))]
        return candidates[0] if len(candidates) == 1 else None


def _is_keypoint_shaped(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.ndim == 3 and value.shape[-1] in (2, 3) and value.dtype.kind in "fiu"


def _refuse_lift_result(probe: Probe) -> None:
    if "header" in probe.npz and "joints_3d" in probe.npz:
        raise KeypointReadError("this is a lift result (3D output of mtf-pose), not 2D keypoints")


def _scalar(archive: Any, key: str) -> Any:
    value = archive.get(key)
    return value.item() if isinstance(value, np.ndarray) and value.size == 1 else value


def _text(archive: Any, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if key in archive:
            value = _scalar(archive, key)
            if not isinstance(value, str):
                raise KeypointReadError(f"member {key!r} must be a string; got {value!r}")
            return value
    return None


def _number(archive: Any, keys: tuple[str, ...]) -> float | None:
    for key in keys:
        if key in archive:
            value = _scalar(archive, key)
            try:
                return float(value)
            except (TypeError, ValueError):
                raise KeypointReadError(f"member {key!r} must be a number; got {value!r}") from None
    return None


def _image_size(archive: Any) -> tuple[float, float] | None:
    if "image_size" in archive:
        size = np.asarray(archive.get("image_size"), dtype=np.float64).ravel()
        if size.shape != (2,):
            raise KeypointReadError(f"member 'image_size' must be (width, height); got {size.tolist()}")
        return float(size[0]), float(size[1])
    for width_key, height_key in (("width", "height"), ("w", "h")):
        width, height = _number(archive, (width_key,)), _number(archive, (height_key,))
        if width is not None and height is not None:
            return width, height
    return None


# VideoPose3D's layout names -> ours.
_VIDEOPOSE3D_LAYOUTS = {"coco": "coco", "h36m": "h36m", "detectron": "coco"}


class VideoPose3DReader(KeypointReader):
    name: ClassVar[str] = "videopose3d"
    title: ClassVar[str] = "VideoPose3D 2D keypoints (data_2d_*.npz)"
    extensions: ClassVar[tuple[str, ...]] = (".npz",)
    detection: ClassVar[str] = (
        "an .npz with a pickled 'positions_2d' dict (and usually 'metadata'), read without running the pickle"
    )

    def detect(self, probe: Probe) -> bool:
        return "positions_2d" in probe.npz and probe.npz.dtype("positions_2d").hasobject

    def read(self, probe: Probe) -> KeypointFile:
        positions = probe.npz.get("positions_2d")
        metadata = probe.npz.get("metadata") if "metadata" in probe.npz else {}
        if not isinstance(positions, dict) or not positions:
            raise KeypointReadError("'positions_2d' must be a non-empty dict {video: {camera: [arrays]}}")
        if not isinstance(metadata, dict):
            raise KeypointReadError(f"'metadata' must be a dict; got {type(metadata).__name__}")
        layout_name = metadata.get("layout_name")
        layout = _VIDEOPOSE3D_LAYOUTS.get(str(layout_name)) if layout_name is not None else None
        notes = []
        if layout_name is not None and layout is None:
            notes.append(f"metadata layout_name {layout_name!r} is not a known layout; the layout comes from --layout")
        videos = metadata.get("video_metadata", {}) or {}
        tracks = []
        for video, cameras in positions.items():
            if not isinstance(cameras, dict):
                raise KeypointReadError(f"positions_2d[{video!r}] must be a dict {{camera: [arrays]}}")
            for camera, arrays in cameras.items():
                arrays = arrays if isinstance(arrays, (list, tuple)) else [arrays]
                for index, array in enumerate(arrays):
                    where = f"positions_2d[{video!r}][{camera!r}][{index}]"
                    parts = [str(video)] + ([] if camera == "custom" else [str(camera)])
                    parts += [f"cam{index}"] if len(arrays) > 1 else []
                    tracks.append(
                        PersonTrack(
                            keypoint_array(array, where),
                            key=".".join(parts),
                            label=" / ".join(parts),
                            layout=layout,
                            image_size=_video_size(videos.get(video), video),
                            coordinates="pixels",
                        )
                    )
        if "num_joints" in metadata and tracks and metadata["num_joints"] != tracks[0].num_joints:
            notes.append(f"metadata says {metadata['num_joints']} joints, the arrays have {tracks[0].num_joints}")
        return KeypointFile(probe.source, self.name, tracks, people="one sequence per video and camera", notes=notes)


def _video_size(entry: Any, video: Any) -> tuple[float, float] | None:
    if entry is None:
        return None
    try:
        return float(entry["w"]), float(entry["h"])
    except (KeyError, TypeError, ValueError):
        raise KeypointReadError(
            f"metadata['video_metadata'][{video!r}] must be {{'w': width, 'h': height}}; got {entry!r}"
        ) from None
