"""The MDTF network: configuration, presets and modules.

>>> from mtf_pose.model import build_model
>>> model = build_model("tiny")          # BAM + lifter, randomly initialised
"""

from __future__ import annotations

from mtf_pose.model.config import BamConfig, ModelConfig, get_preset, list_presets
from mtf_pose.model.mdtf import (
    MDTF,
    BoneAwareModule,
    MDTFLifter,
    MDTFOutput,
    bone_features,
    flip_pose,
    polar_angle_classes,
)


def build_model(config: str | ModelConfig = "tiny", *, backend: str = "auto") -> MDTF:
    """The full MDTF network (Bone Aware Module + lifter) for a preset name or a :class:`ModelConfig`."""
    if isinstance(config, str):
        config = get_preset(config)
    return MDTF(config).set_backend(backend)


def count_parameters(model: MDTF) -> int:
    """Number of learnable parameters (BAM + lifter)."""
    return sum(p.numel() for p in model.parameters())


__all__ = [
    "MDTF",
    "BamConfig",
    "BoneAwareModule",
    "MDTFLifter",
    "MDTFOutput",
    "ModelConfig",
    "bone_features",
    "build_model",
    "count_parameters",
    "flip_pose",
    "get_preset",
    "list_presets",
    "polar_angle_classes",
]
