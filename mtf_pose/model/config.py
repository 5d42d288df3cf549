"""Network configuration and the registry of released presets."""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field, model_validator


class BamConfig(BaseModel):
    """The Bone Aware Module: ``depth`` stages of halving width, then per-joint polar-angle logits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    depth: int = Field(4, ge=1, description="Number of spatial+temporal stages.")
    channels: int = Field(64, ge=1, description="Width of the first stage; stage i has channels / 2**i.")
    num_classes: int = Field(6, ge=2, description="Polar-angle bins over 0..180 degrees.")

    @model_validator(mode="after")
    def _widths_are_whole(self) -> BamConfig:
        if self.channels % (2 ** (self.depth - 1)) != 0:
            raise ValueError(
                f"bam.channels={self.channels} must be divisible by 2**(depth-1)={2 ** (self.depth - 1)}"
            )
        return self

    def widths(self) -> list[int]:
        return [self.channels // 2**i for i in range(self.depth)]


class ModelConfig(BaseModel):
    """Everything that fixes the shape of an MDTF network (BAM + lifter)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("custom", description="Preset name, for humans; does not change the network.")
    depth: int = Field(8, ge=1, description="Lifter depth: spatial+temporal block pairs.")
    channels: int = Field(64, ge=1, description="Lifter embedding width C.")
    d_state: int = Field(16, ge=1, description="SSM state size N.")
    expand: int = Field(1, ge=1, description="Mamba inner width = expand * channels.")
    d_conv: int = Field(4, ge=1, description="Kernel size of Mamba's causal depthwise convolution.")
    mlp_ratio: float = Field(2.0, gt=0, description="MLP hidden width / channels.")
    frames: int = Field(243, ge=1, description="Clip length T the temporal position embedding is built for.")
    joints: int = Field(17, ge=2, description="Joints per frame (H36M-17).")
    drop_path_rate: float = Field(0.1, ge=0, lt=1, description="Stochastic depth, linear over blocks; training only.")
    bam: BamConfig = Field(default_factory=BamConfig)  # type: ignore[arg-type]

    @property
    def dt_rank(self) -> int:
        return -(-self.channels // 16)


_PRESETS: Final[dict[str, ModelConfig]] = {
    "tiny": ModelConfig(name="tiny", depth=8, channels=64),
    "large": ModelConfig(name="large", depth=12, channels=128),
}


def list_presets() -> list[str]:
    """Names accepted by :func:`get_preset` and :func:`mtf_pose.model.build_model`."""
    return sorted(_PRESETS)


def get_preset(name: str) -> ModelConfig:
    """The released configuration called ``name`` (``"tiny"`` or ``"large"``)."""
    try:
        return _PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {list_presets()}") from None
