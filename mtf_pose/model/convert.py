"""Convert the official MDTF release's checkpoints to an mtf_pose weights folder.

The release trains the Bone Aware Module and the lifter separately and saves each with ``torch.save`` as a
dict whose ``"model"`` entry is a ``DataParallel`` state dict (keys prefixed ``module.``). Both are read
with ``torch.load(weights_only=True)`` (tensors and plain containers only, no arbitrary objects), renamed
into one state dict (``bam.*`` + ``lifter.*``) and loaded strictly, so a checkpoint of another preset or
release fails with the offending keys named.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from mtf_pose.model import build_model
from mtf_pose.weights import WeightsConfig, WeightsError, load_state_dict_strict, save_weights

DATA_PARALLEL_PREFIX = "module."


def read_official_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict inside an official ``*.pth.tr`` checkpoint, ``module.`` prefixes removed."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: file not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise WeightsError(
            f"{path}: refused: it holds objects other than tensors and plain containers, which could run code "
            "(read with torch.load(weights_only=True))"
        ) from None
    except (RuntimeError, EOFError, ValueError) as error:
        raise WeightsError(f"{path}: not a readable PyTorch checkpoint ({error})") from None
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: expected a dict with a 'model' state dict (the official release format)")
    return {key.removeprefix(DATA_PARALLEL_PREFIX): value for key, value in state.items()}


def convert_official(
    bam_checkpoint: str | Path, lifter_checkpoint: str | Path, out_dir: str | Path, *, preset: str = "tiny"
) -> Path:
    """Write ``out_dir/config.json`` + ``out_dir/model.safetensors`` from the two official checkpoints."""
    model = build_model(preset)
    state = {f"bam.{k}": v for k, v in read_official_checkpoint(bam_checkpoint).items()}
    state.update({f"lifter.{k}": v for k, v in read_official_checkpoint(lifter_checkpoint).items()})
    load_state_dict_strict(model, state, f"{bam_checkpoint} + {lifter_checkpoint}")
    training = {
        "source": "official MDTF release (ZenghaoZheng/MDTF-3DHPE), converted by mtf-pose convert",
        "bam_checkpoint": Path(bam_checkpoint).name,
        "lifter_checkpoint": Path(lifter_checkpoint).name,
    }
    return save_weights(out_dir, model, WeightsConfig(model=model.config, training=training))
