"""What a file holds, for ``mtf-pose info``: a keypoint file, a weights folder, or a lift result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtf_pose.io import KeypointFile, PersonTrack, get_reader, read_keypoints
from mtf_pose.io._layouts import guess_17_joint_layout
from mtf_pose.io.base import guess_coordinates
from mtf_pose.io.registry import handled_extensions
from mtf_pose.layouts import layouts_with
from mtf_pose.weights import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME

# People listed one by one; beyond this, a count.
MAX_PEOPLE_LISTED = 20


@dataclass
class Description:
    """A titled list of facts, printable as lines or as a JSON object."""

    kind: str
    title: str
    facts: dict[str, Any] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    """Further fields of the JSON form only."""

    def lines(self) -> list[str]:
        lines = [self.title]
        width = max((len(key) for key in self.facts), default=0)
        lines += [f"  {key + ':':<{width + 1}} {value}" for key, value in self.facts.items()]
        return lines + self.details

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, **self.facts, **self.data}


def describe(path: str | Path | None, format: str | None = None) -> Description:
    """Describe ``path``: a weights folder (``None``: the embedded default), a lift result or a keypoint
    file (``format`` skips detection)."""
    from mtf_pose.hub import resolve_weights

    if path is None:
        return describe_weights(resolve_weights(None), "embedded default")
    location = Path(path).expanduser()
    if location.is_dir() and (location / CONFIG_NAME).is_file():
        return describe_weights(location, str(location))
    if location.is_file() and (location.name in (CONFIG_NAME, WEIGHTS_NAME) or location.suffix == ".safetensors"):
        return describe_weights(resolve_weights(location), str(location))
    if location.is_file() and _is_lift_result(location):
        return describe_result(location)
    text = str(path)
    looks_like_repo_id = (
        "/" in text and not text.startswith((".", "/", "~")) and location.suffix.lower() not in handled_extensions()
    )
    if not location.exists() and format is None and looks_like_repo_id:
        return describe_weights(resolve_weights(text), text)
    return describe_keypoints(read_keypoints(location, format))


def describe_keypoints(keypoints: KeypointFile) -> Description:
    reader = get_reader(keypoints.format)
    tracks = keypoints.tracks
    first = tracks[0]
    facts: dict[str, Any] = {"format": f"{keypoints.format} ({reader.title})", "detected by": reader.detection}
    if len(tracks) > 1 or first.key is not None:
        facts["people"] = f"{len(tracks)} ({keypoints.people})"
    start = min(t.first_frame for t in tracks)
    end = max(t.first_frame + t.frames - 1 for t in tracks)
    facts["frames"] = f"{end - start + 1}" + (f" (source frames {start}-{end})" if start else "")
    facts["joints"] = first.num_joints
    facts["layout"] = _layout_text(first)
    facts["image size"] = _size_text(tracks)
    facts["frame rate"] = f"{first.fps:g} fps" if first.fps else "not recorded (lift with --fps)"
    facts["coordinates"] = first.coordinates or f"{guess_coordinates(first.keypoints)} (guessed from the value range)"
    if keypoints.notes:
        facts["notes"] = "; ".join(keypoints.notes)
    details = []
    if len(tracks) > 1 or first.key is not None:
        details.append("  tracks:")
        for track in tracks[:MAX_PEOPLE_LISTED]:
            last = track.first_frame + track.frames - 1
            missing = f", not detected in {track.missing_frames}" if track.missing_frames else ""
            details.append(f"    {track.key}: frames {track.first_frame}-{last} ({track.frames} frames{missing})")
        if len(tracks) > MAX_PEOPLE_LISTED:
            details.append(f"    ... and {len(tracks) - MAX_PEOPLE_LISTED} more")
    tracks_data = [
        {"key": t.key, "first_frame": t.first_frame, "frames": t.frames, "missing_frames": t.missing_frames}
        for t in tracks
    ]
    return Description("keypoints", str(keypoints.source), facts, details, {"tracks": tracks_data})


def _layout_text(track: PersonTrack) -> str:
    if track.layout:
        return f"{track.layout} (from the file)"
    candidates = layouts_with(track.num_joints)
    if len(candidates) == 1:
        return f"{candidates[0]} (the only layout with {track.num_joints} joints)"
    if not candidates:
        return f"none of the supported layouts has {track.num_joints} joints"
    guess = guess_17_joint_layout(track.keypoints) if track.num_joints == 17 else None
    text = f"not recorded: {track.num_joints} joints fit {', '.join(candidates)}"
    return text + (
        f"; the joint positions look like {guess} (lift with --layout {guess})" if guess else " (lift with --layout)"
    )


def _size_text(tracks: list[PersonTrack]) -> str:
    sizes = sorted({t.image_size for t in tracks if t.image_size})
    if not sizes:
        return "not recorded (lift with --image-size WIDTHxHEIGHT)"
    return ", ".join(f"{w:g}x{h:g}" for w, h in sizes)


def describe_weights(folder: Path, label: str) -> Description:
    from mtf_pose.model import count_parameters
    from mtf_pose.weights import load_weights

    model, config = load_weights(folder)
    facts: dict[str, Any] = {
        "preset": f"{config.model.name} (depth {config.model.depth}, {config.model.channels} channels)",
        "parameters": f"{count_parameters(model):,}",
        "clips": f"{config.model.frames} frames at {config.preprocessing.fps:g} fps",
        "files": ", ".join(
            f"{p.name} ({_size(p)})" for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith(".") and p.suffix != ".py"  # the embedded default is a package
        ),
    }
    training = config.training
    for key in ("dataset", "data", "summary", "recipe_summary", "epochs_completed", "source", "license_id"):
        if key in training:
            facts[f"training {key.replace('_', ' ')}"] = training[key]
    if not training:
        facts["training"] = "not recorded"
    validation = {name: _figures_text(value) for name, value in training.get("validation", {}).items()}
    # Evaluation names are long: listed under their own heading, so they do not widen the facts' column.
    details = ["  validation:"] + [f"    {name}: {text}" for name, text in validation.items()] if validation else []
    card = folder / CARD_NAME
    if card.is_file():
        details += ["  model card (README.md):"] + [
            f"    {line}" for line in card.read_text(encoding="utf-8").splitlines()
        ]
    else:
        details += ["  no model card (README.md)"]
    return Description(
        "weights", f"weights: {label} ({folder})", facts, details, data={"validation": training.get("validation", {})}
    )


def _figures_text(value: Any) -> str:
    """``220.11`` -> ``220.1``; ``{"MPJPE": 220.11, "frames": 64678}`` -> ``MPJPE 220.1, frames 64678``."""
    if isinstance(value, dict):
        return ", ".join(f"{name} {_figures_text(figure)}" for name, figure in value.items())
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def _size(path: Path) -> str:
    size = float(path.stat().st_size)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _is_lift_result(path: Path) -> bool:
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                return "header" in data.files and "joints_3d" in data.files
        except (OSError, ValueError, EOFError):
            return False
    if path.suffix == ".json":
        with open(path, "rb") as handle:
            return b'"format": "mtf_pose.LiftResult"' in handle.read(4096)
    return False


def describe_result(path: Path) -> Description:
    from mtf_pose.result import LiftResult

    result = LiftResult.load(path)
    metadata = result.metadata
    facts: dict[str, Any] = {
        "frames": f"{result.frames} at {result.fps:g} fps ({result.frames / result.fps:.1f} s)",
        "joints": f"{len(result.joint_names)} (H36M order), metres, root-relative, camera frame",
        "subject height": f"{result.subject_height:g} m",
        "filled in": f"{int(result.filled.sum())} of {result.filled.size} joint positions were missing in the input",
        "weights": metadata.get("weights"),
        "input layout": metadata.get("layout"),
    }
    source = metadata.get("source")
    if isinstance(source, dict):
        facts["lifted from"] = f"{source.get('input')} ({source.get('format')}" + (
            f", {source['person']})" if source.get("person") else ")"
        )
        facts["first source frame"] = source.get("first_frame")
    return Description("result", f"{path}: mtf_pose lift result", facts)
