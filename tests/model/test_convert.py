"""Official-format checkpoints -> weights folder, through Python and through the console script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mtf_pose.model import build_model
from mtf_pose.model.convert import convert_official, read_official_checkpoint
from mtf_pose.weights import WeightsError, load_weights


def _official_checkpoints(model: torch.nn.Module, folder: Path) -> tuple[Path, Path]:
    """Save the two halves the way the release does: {"model": DataParallel state dict, ...}."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for part, epoch in (("bam", 60), ("lifter", 120)):
        state = {f"module.{k}": v for k, v in getattr(model, part).state_dict().items()}
        path = folder / f"{part}.pth.tr"
        torch.save({"epoch": epoch, "lr": 1e-4, "model": state, "min_mpjpe": 40.0}, path)
        paths.append(path)
    return paths[0], paths[1]


@pytest.fixture(scope="module")
def released() -> torch.nn.Module:
    model = build_model("tiny").eval()
    with torch.no_grad():  # move every tensor off its initial value so that a mix-up cannot pass
        for tensor in model.state_dict().values():
            if tensor.dtype.is_floating_point:
                tensor.add_(torch.randn_like(tensor) * 0.02)
    return model


def test_python_conversion_reproduces_the_network(released: torch.nn.Module, tmp_path: Path) -> None:
    bam, lifter = _official_checkpoints(released, tmp_path / "official")
    out = convert_official(bam, lifter, tmp_path / "converted", preset="tiny")
    converted, config = load_weights(out)
    assert config.model.name == "tiny"
    clip = torch.randn(1, 243, 17, 3)
    with torch.no_grad():
        torch.testing.assert_close(converted(clip), released(clip), rtol=0, atol=0)


def test_console_script_converts(released: torch.nn.Module, tmp_path: Path) -> None:
    bam, lifter = _official_checkpoints(released, tmp_path / "official")
    result = subprocess.run(
        [sys.executable, "-m", "mtf_pose.cli", "convert", "--bam", str(bam), "--lifter", str(lifter),
         "--preset", "tiny", str(tmp_path / "out")],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "model.safetensors").is_file() and (tmp_path / "out" / "config.json").is_file()
    converted, _ = load_weights(tmp_path / "out")
    for name, tensor in released.state_dict().items():
        assert torch.equal(converted.state_dict()[name], tensor), name


def test_wrong_preset_names_the_mismatched_keys(released: torch.nn.Module, tmp_path: Path) -> None:
    bam, lifter = _official_checkpoints(released, tmp_path / "official")
    with pytest.raises(WeightsError) as error:
        convert_official(bam, lifter, tmp_path / "x", preset="large")
    message = str(error.value)
    assert "missing keys: lifter.STEblocks.10." in message  # large has 12 blocks, tiny 8
    assert "mis-shaped keys: lifter.STEblocks.0.gcnmamba.A_b_log (file (64, 16), model (128, 16))" in message


def test_missing_and_unexpected_keys_are_named(released: torch.nn.Module, tmp_path: Path) -> None:
    bam, lifter = _official_checkpoints(released, tmp_path / "official")
    checkpoint = torch.load(lifter, weights_only=True)
    del checkpoint["model"]["module.STEblocks.0.gcnmamba.gcn_b.U.weight"]
    checkpoint["model"]["module.extra.weight"] = torch.zeros(1)
    torch.save(checkpoint, lifter)
    with pytest.raises(WeightsError) as error:
        convert_official(bam, lifter, tmp_path / "x")
    assert "missing keys: lifter.STEblocks.0.gcnmamba.gcn_b.U.weight" in str(error.value)
    assert "unexpected keys: lifter.extra.weight" in str(error.value)


class _Payload:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (print, ("this must never run",))


def test_checkpoints_with_code_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth.tr"
    torch.save({"model": {"w": torch.zeros(1)}, "payload": _Payload()}, path)
    with pytest.raises(WeightsError, match="refused: it holds objects other than tensors"):
        read_official_checkpoint(path)
