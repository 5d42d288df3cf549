"""The trainer on synthetic data: both stages learn, and a resumed run equals an uninterrupted one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from synthetic import synthetic_views

from mtf_pose.model import ModelConfig, build_model
from mtf_pose.training.trainer import TrainConfig, Trainer
from mtf_pose.weights import save_weights

TINY = ModelConfig(name="test", depth=1, channels=16, frames=27, drop_path_rate=0.1)


def config(tmp_path: Path, stage: str, **overrides: object) -> TrainConfig:
    values = {"stage": stage, "model": TINY, "out_dir": tmp_path / stage, "batch_size": 4, "clip_stride": 27,
              "learning_rate": 3e-3, "epochs": 1, "checkpoint_minutes": 60, "val_view_stride": 1, "log_every": 1}
    if stage == "lifter":
        torch.manual_seed(1)
        save_weights(tmp_path / "bam", build_model(TINY))
        values["bam_weights"] = tmp_path / "bam"
    return TrainConfig.model_validate({**values, **overrides})


def make_trainer(cfg: TrainConfig) -> Trainer:
    return Trainer(cfg, train_views=synthetic_views(3), val_views=synthetic_views(1, seed=9), progress=False,
                   log=lambda message: None)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_repeated_steps_on_one_batch_lower_each_stage_loss(tmp_path: Path, precision: str) -> None:
    for stage in ("bam", "lifter"):
        trainer = make_trainer(config(tmp_path, stage, precision=precision))
        losses = [trainer.train_step(epoch=0, step=0)["total"] for _ in range(8)]  # the same batch every time
        assert losses[-1] < 0.9 * losses[0], (stage, losses)


@pytest.mark.parametrize("stage", ["bam", "lifter"])
def test_bfloat16_steps_compute_the_float32_loss_and_gradients_approximately(tmp_path: Path, stage: str) -> None:
    """Autocast changes the precision of the matrix products only: about the same loss and gradient."""
    steps = {}
    for precision in ("float32", "bfloat16"):
        trainer = make_trainer(config(tmp_path / precision, stage, precision=precision))
        loss = trainer.train_step(epoch=0, step=0)["total"]  # same batch, same stochastic depth draw
        parameters = list(trainer.trained.parameters())
        assert all(p.dtype == torch.float32 and p.grad is not None for p in parameters)
        steps[precision] = (loss, torch.cat([p.grad.flatten() for p in parameters]))
    (loss32, gradient32), (loss16, gradient16) = steps["float32"], steps["bfloat16"]
    assert loss16 != loss32  # the products did run in bfloat16
    assert loss16 == pytest.approx(loss32, rel=2e-2)  # bfloat16 keeps 8 bits of mantissa: ~0.4% per product
    assert torch.nn.functional.cosine_similarity(gradient32, gradient16, dim=0) > 0.99


def test_lifter_stage_keeps_the_bam_frozen(tmp_path: Path) -> None:
    trainer = make_trainer(config(tmp_path, "lifter"))
    bam_before = {k: v.clone() for k, v in trainer.model.bam.state_dict().items()}
    trainer.train_step(epoch=0, step=0)
    for name, tensor in trainer.model.bam.state_dict().items():
        assert torch.equal(tensor, bam_before[name]), name


def test_resumed_run_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    uninterrupted = make_trainer(config(tmp_path / "a", "lifter", epochs=2))
    uninterrupted.run()

    interrupted = make_trainer(config(tmp_path / "b", "lifter", epochs=2))
    interrupted.step = 0
    # Stop in the middle of the first epoch, as a killed process would after a checkpoint.
    for _ in range(2):
        interrupted.train_step(interrupted.epoch, interrupted.step)
        interrupted.step += 1
    interrupted.save_checkpoint()
    resumed = make_trainer(config(tmp_path / "b", "lifter", epochs=2))
    assert (resumed.epoch, resumed.step) == (0, 2)
    resumed.run()

    for name, tensor in uninterrupted.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], tensor, rtol=0, atol=0, msg=name)
    assert [h["epoch"] for h in resumed.history] == [0, 1]
    assert (tmp_path / "b" / "lifter" / "best" / "model.safetensors").is_file()
