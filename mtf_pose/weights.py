"""The weights folder format: ``config.json`` + ``model.safetensors`` (+ ``README.md`` model card).

``config.json`` holds the :class:`ModelConfig` and every preprocessing fact needed to use the weights
(joint layout, normalisation, clip length, frame rate, flip pairs, output units, training data).
Weights are only ever read from safetensors files: no pickle is loaded at run time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from mtf_pose import skeleton
from mtf_pose._atomic import write_bytes_atomic, write_text_atomic
from mtf_pose.model import MDTF, ModelConfig

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
FORMAT_VERSION = 1


class WeightsError(ValueError):
    """A weights folder or file that cannot be used; the message says which file and why."""


class Preprocessing(BaseModel):
    """What the network expects as input."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    joint_layout: str = "h36m"
    joint_names: tuple[str, ...] = skeleton.JOINT_NAMES
    normalization: str = "screen: u = x / w * 2 - 1, v = y / w * 2 - h / w (w, h: image size in pixels)"
    frames: int = 243
    fps: float = Field(50.0, gt=0, description="Frame rate of the training data; inputs are resampled to it.")
    flip_left: tuple[int, ...] = skeleton.LEFT_JOINTS
    flip_right: tuple[int, ...] = skeleton.RIGHT_JOINTS
    confidence: str = "detector confidence in [0, 1]; 0 marks a joint that was filled in"


class OutputSpec(BaseModel):
    """What the network produces."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    units: str = "normalised like the input (z scaled like x); LiftResult scales to metres"
    root_relative: bool = True
    axes: str = "camera frame: x right, y down, z forward"


class WeightsConfig(BaseModel):
    """The content of ``config.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format_version: int = FORMAT_VERSION
    model: ModelConfig
    preprocessing: Preprocessing = Field(default_factory=Preprocessing)  # type: ignore[arg-type]
    output: OutputSpec = Field(default_factory=OutputSpec)  # type: ignore[arg-type]
    training: dict[str, Any] = Field(default_factory=dict, description="Data, recipe and measured accuracy.")


def save_weights(
    directory: str | Path, model: MDTF, config: WeightsConfig | None = None, *, card: str | None = None
) -> Path:
    """Write ``config.json``, ``model.safetensors`` and, given ``card``, ``README.md``; each atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = config or WeightsConfig(model=model.config)
    if config.model != model.config:
        raise ValueError("config.model differs from the model's own configuration")
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    # Serialised in memory: safetensors' own file writer creates owner-only (0600) files.
    write_bytes_atomic(directory / WEIGHTS_NAME, save(state, metadata={"format": "pt"}))
    write_text_atomic(directory / CONFIG_NAME, config.model_dump_json(indent=2) + "\n")
    if card is not None:
        write_text_atomic(directory / CARD_NAME, card)
    return directory


def read_config(path: str | Path) -> WeightsConfig:
    """Parse a ``config.json``; errors name the file and the field."""
    path = Path(path)
    try:
        return WeightsConfig.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise WeightsError(
            f"{path}: file not found (a weights folder holds {CONFIG_NAME} and {WEIGHTS_NAME})"
        ) from None
    except json.JSONDecodeError as error:
        raise WeightsError(f"{path}: not valid JSON ({error})") from None
    except ValidationError as error:
        raise WeightsError(f"{path}: not an mtf_pose config: {error}") from None


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file; anything else (pickles included) is refused with a clear error."""
    path = Path(path)
    if path.suffix in {".pt", ".pth", ".bin", ".tr", ".pkl", ".ckpt"}:
        raise WeightsError(
            f"{path}: pickle checkpoints are never loaded at run time; convert official checkpoints with "
            "`mtf-pose convert` to model.safetensors"
        )
    if not path.is_file():
        raise WeightsError(f"{path}: file not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise WeightsError(f"{path}: not a readable safetensors file ({error})") from None


def load_state_dict_strict(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``model``; every missing, unexpected or mis-shaped key is an error naming it."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshaped = sorted(
        f"{name} (file {tuple(state[name].shape)}, model {tuple(expected[name].shape)})"
        for name in set(expected) & set(state)
        if tuple(state[name].shape) != tuple(expected[name].shape)
    )
    problems = []
    for label, names in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
        if names:
            shown = ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")
            problems.append(f"{label} keys: {shown}")
    if problems:
        raise WeightsError(f"{source} does not match the network: " + "; ".join(problems))
    model.load_state_dict(state, strict=True)


def load_weights(directory: str | Path) -> tuple[MDTF, WeightsConfig]:
    """Build the network a weights folder describes and load its tensors strictly."""
    directory = Path(directory)
    if not directory.is_dir():
        raise WeightsError(f"{directory}: not a folder (expected one holding {CONFIG_NAME} and {WEIGHTS_NAME})")
    config = read_config(directory / CONFIG_NAME)
    model = MDTF(config.model)
    load_state_dict_strict(model, read_state_dict(directory / WEIGHTS_NAME), str(directory / WEIGHTS_NAME))
    return model.eval(), config


def model_card(config: WeightsConfig) -> str:
    """A model card (README.md with YAML front matter) describing ``config``'s weights.

    Renders what ``config.training`` records: ``summary``, ``data``, ``recipe_summary``,
    ``epochs_completed``, ``source``; ``validation`` (metrics, flat or per evaluation); ``learning_curve``
    (one dict per epoch); ``reproduce`` (commands); ``license``.
    """
    training = config.training
    lines = ["---", f"license: {training.get('license_id', 'other')}", "library_name: mtf_pose", "tags:"]
    lines += [f"- {tag}" for tag in ("3d-human-pose-estimation", "pose-lifting", "mamba", "mdtf")]
    if "dataset" in training:
        lines += ["datasets:", f"- {training['dataset']}"]
    lines += [
        "---",
        "",
        f"# MDTF `{config.model.name}` weights for mtf_pose",
        "",
        (
            "Mamba-Driven Topology Fusion (Zheng et al., arXiv 2505.20611): lifts 2D keypoint sequences "
            "(H36M-17 joints, screen-normalised) to root-relative 3D. Load with:"
        ),
        "",
        "```python",
        "from mtf_pose import Lifter",
        'lifter = Lifter.from_pretrained("<this folder or repo id>")',
        "```",
        "",
        "## Network",
        "",
        (
            f"- preset `{config.model.name}`: depth {config.model.depth}, {config.model.channels} channels, "
            f"clips of {config.model.frames} frames at {config.preprocessing.fps:g} fps"
        ),
        f"- output: {config.output.units}; {config.output.axes}",
        "",
        "## Training",
        "",
    ]
    described = [key for key in ("summary", "data", "recipe_summary", "epochs_completed", "source") if key in training]
    lines += [f"- {key.replace('_', ' ')}: {training[key]}" for key in described]
    if not described:
        lines.append("No training information was recorded with these weights.")
    if training.get("validation"):
        lines += ["", "## Validation", "", *_validation_lines(training["validation"])]
    if training.get("learning_curve"):
        lines += ["", "## Learning curve", "", *_table(training["learning_curve"])]
    if training.get("reproduce"):
        lines += ["", "## Reproduce", "", "```bash", *training["reproduce"], "```"]
    if "license" in training:
        lines += ["", "## Licence", "", str(training["license"])]
    return "\n".join(lines) + "\n"


def _validation_lines(validation: dict[str, Any]) -> list[str]:
    if all(isinstance(value, dict) for value in validation.values()):  # one row per evaluation
        return _table([{"evaluation": name, **metrics} for name, metrics in validation.items()])
    return [f"- {name}: {_cell(value)}" for name, value in validation.items()]


def _table(rows: list[dict[str, Any]]) -> list[str]:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(column, "")) for column in columns) + " |" for row in rows]
    return lines


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:.1f}"
    return str(value)
