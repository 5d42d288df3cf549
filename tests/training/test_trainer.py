"""The trainer on synthetic data: both stages learn, and a resumed run equals an uninterrupted one."""

from __future__ import annotations

import itertools
import json
import warnings
from pathlib import Path

import pytest
import torch
from synthetic import synthetic_views

from mtf_pose.model import ModelConfig, build_model
from mtf_pose.training import trainer as trainer_module
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


# On CPUs without native bfloat16 products the Trainer rightly warns; these tests are about the numbers.
IGNORE_SLOW_BFLOAT16 = pytest.mark.filterwarnings("ignore:precision='bfloat16' on a CPU without")


@IGNORE_SLOW_BFLOAT16
@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_repeated_steps_on_one_batch_lower_each_stage_loss(tmp_path: Path, precision: str) -> None:
    for stage in ("bam", "lifter"):
        trainer = make_trainer(config(tmp_path, stage, precision=precision))
        losses = [trainer.train_step(epoch=0, step=0)["total"] for _ in range(8)]  # the same batch every time
        assert losses[-1] < 0.9 * losses[0], (stage, losses)


@IGNORE_SLOW_BFLOAT16
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


def test_bfloat16_warns_only_where_the_cpu_emulates_its_products(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trainer_module, "cpu_has_fast_bfloat16", lambda: False)
    with pytest.warns(UserWarning, match="several times slower than with precision='float32'"):
        make_trainer(config(tmp_path / "emulated", "bam", precision="bfloat16"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_trainer(config(tmp_path / "float32", "bam", precision="float32"))
        monkeypatch.setattr(trainer_module, "cpu_has_fast_bfloat16", lambda: True)
        make_trainer(config(tmp_path / "native", "bam", precision="bfloat16"))


def test_lifter_stage_keeps_the_bam_frozen(tmp_path: Path) -> None:
    trainer = make_trainer(config(tmp_path, "lifter"))
    bam_before = {k: v.clone() for k, v in trainer.model.bam.state_dict().items()}
    trainer.train_step(epoch=0, step=0)
    for name, tensor in trainer.model.bam.state_dict().items():
        assert torch.equal(tensor, bam_before[name]), name


@pytest.mark.parametrize(
    "schedule_options",
    [
        {},
        {"lr_schedule": "cosine", "warmup_steps": 3, "min_learning_rate": 1e-4},
        {"auxiliary_start_step": 1, "auxiliary_ramp_steps": 3},
    ],
    ids=["exponential", "cosine-with-warmup", "auxiliary-ramp"],
)
def test_resumed_run_equals_an_uninterrupted_one(tmp_path: Path, schedule_options: dict[str, object]) -> None:
    uninterrupted = make_trainer(config(tmp_path / "a", "lifter", epochs=2, **schedule_options))
    uninterrupted.run()

    interrupted = make_trainer(config(tmp_path / "b", "lifter", epochs=2, **schedule_options))
    interrupted.step = 0
    # Stop in the middle of the first epoch (inside the warm-up, where there is one), as a killed process
    # would after a checkpoint.
    for _ in range(2):
        interrupted.train_step(interrupted.epoch, interrupted.step)
        interrupted.step += 1
    interrupted.save_checkpoint()
    resumed = make_trainer(config(tmp_path / "b", "lifter", epochs=2, **schedule_options))
    assert (resumed.epoch, resumed.step) == (0, 2)
    resumed.run()

    for name, tensor in uninterrupted.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], tensor, rtol=0, atol=0, msg=name)
    assert [h["epoch"] for h in resumed.history] == [0, 1]
    assert (tmp_path / "b" / "lifter" / "best" / "model.safetensors").is_file()


def read_log(run: Path) -> list[dict[str, object]]:
    """The log's records without the wall-clock fields, which differ between any two runs."""
    clock = {"time", "train_seconds", "train_frames_per_second"}
    lines = (run / "log.jsonl").read_text(encoding="utf-8").splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in clock} for line in lines]


def test_resumed_run_logs_each_step_once(tmp_path: Path) -> None:
    uninterrupted = make_trainer(config(tmp_path / "a", "lifter", epochs=2))
    uninterrupted.run()
    expected = read_log(tmp_path / "a" / "lifter")

    # A checkpoint after step 2, then a process that logged the rest of epoch 0 and was killed while
    # writing its first line of epoch 1.
    run = tmp_path / "b" / "lifter"
    interrupted = make_trainer(config(tmp_path / "b", "lifter", epochs=2))
    for _ in range(2):
        interrupted.train_step(interrupted.epoch, interrupted.step)
        interrupted.step += 1
    interrupted.save_checkpoint()
    checkpoint = (run / "last.pt").read_bytes()
    interrupted.run(epochs=1)
    with open(run / "log.jsonl", "a", encoding="utf-8") as log_file:
        log_file.write('{"epoch": 1, "step": 1, "mpjpe": 0.0')
    (run / "last.pt").write_bytes(checkpoint)

    make_trainer(config(tmp_path / "b", "lifter", epochs=2)).run()
    logged = read_log(run)
    steps = [(r["epoch"], r["step"]) for r in logged if "step" in r]
    # Steps 1 and 2 ran outside run(), which is what writes step lines.
    assert steps == [(e, s) for e in range(2) for s in range(1, uninterrupted.steps_per_epoch + 1)][2:]
    # Bit-exact resume: every step line equals the uninterrupted run's; the resumed epoch's training
    # averages cover the steps after the resume only, so of the epoch lines only the validation is compared.
    assert [r for r in logged if "step" in r] == [r for r in expected if "step" in r][2:]
    assert [r["val_mpjpe"] for r in logged if "step" not in r] == [r["val_mpjpe"] for r in expected if "step" not in r]


def schedule(tmp_path: Path, **overrides: object) -> Trainer:
    """A trainer of 3 epochs of 4 steps (12 clips of 27 frames in 3 synthetic views of 120 frames, batch 4)."""
    trainer = make_trainer(config(tmp_path, "lifter", epochs=3, learning_rate=1e-3, **overrides))
    assert trainer.steps_per_epoch == 4
    return trainer


def test_exponential_schedule_is_the_released_per_epoch_decay(tmp_path: Path) -> None:
    trainer = schedule(tmp_path, lr_decay=0.5)
    rates = [[trainer.learning_rate(epoch, step) for step in range(4)] for epoch in range(3)]
    assert rates == [[1e-3] * 4, [5e-4] * 4, [2.5e-4] * 4]


def test_cosine_schedule_runs_from_the_peak_to_the_floor_over_every_step(tmp_path: Path) -> None:
    trainer = schedule(tmp_path, lr_schedule="cosine", min_learning_rate=1e-5)
    rates = [trainer.learning_rate(epoch, step) for epoch in range(3) for step in range(4)]
    assert rates[0] == pytest.approx(1e-3)
    assert rates[-1] == pytest.approx(1e-5)
    # A half cosine is point-symmetric about its middle: steps k and 11 - k sum to peak + floor.
    for step in range(12):
        assert rates[step] + rates[11 - step] == pytest.approx(1e-3 + 1e-5)
    assert all(later < earlier for earlier, later in itertools.pairwise(rates))


def test_warmup_ramps_linearly_into_the_schedule(tmp_path: Path) -> None:
    trainer = schedule(tmp_path, lr_schedule="cosine", warmup_steps=3)
    plain = schedule(tmp_path / "plain", lr_schedule="cosine")
    ramped = [trainer.learning_rate(0, step) for step in range(4)]
    unramped = [plain.learning_rate(0, step) for step in range(4)]
    assert ramped[:3] == pytest.approx([unramped[0] / 4, unramped[1] * 2 / 4, unramped[2] * 3 / 4])
    assert ramped[3] == unramped[3]


def test_training_steps_use_the_scheduled_rate(tmp_path: Path) -> None:
    trainer = schedule(tmp_path, lr_schedule="cosine", warmup_steps=2)
    trainer.train_step(epoch=1, step=2)
    assert trainer.optimizer.param_groups[0]["lr"] == trainer.learning_rate(1, 2)


def test_auxiliary_terms_are_off_before_their_start_then_ramp_in_linearly(tmp_path: Path) -> None:
    trainer = schedule(tmp_path, auxiliary_start_step=5, auxiliary_ramp_steps=3, n_mpjpe_weight=0.5,
                       velocity_weight=20.0)
    weights = [trainer.auxiliary_weights(epoch, step) for epoch in range(3) for step in range(4)]
    assert weights[:5] == [(0.0, 0.0)] * 5
    # Steps 5, 6, 7 carry 1/4, 2/4, 3/4 of each weight; from step 8 (epoch 2, step 0) on, all of it.
    assert weights[5:8] == [pytest.approx((0.5 * k / 4, 20.0 * k / 4)) for k in (1, 2, 3)]
    assert weights[8:] == [(0.5, 20.0)] * 4
    assert schedule(tmp_path / "released").auxiliary_weights(0, 0) == (0.5, 20.0)


@pytest.mark.parametrize(
    ("options", "expected"),
    [({}, (0.5, 20.0)), ({"n_mpjpe_weight": 1.0, "velocity_weight": 2.0}, (1.0, 2.0)),
     ({"auxiliary_start_step": 100}, (0.0, 0.0))],
    ids=["released", "custom", "mpjpe-only"],
)
def test_lifter_steps_weight_the_terms_as_scheduled(
    tmp_path: Path, options: dict[str, object], expected: tuple[float, float]
) -> None:
    terms = schedule(tmp_path, **options).train_step(epoch=0, step=0)
    n_mpjpe_weight, velocity_weight = expected
    assert terms["velocity"] > 0 and terms["n_mpjpe"] > 0
    assert terms["total"] == pytest.approx(
        terms["mpjpe"] + n_mpjpe_weight * terms["n_mpjpe"] + velocity_weight * terms["velocity"], rel=1e-6
    )


def test_zero_head_starts_at_the_all_zero_pose_and_keeps_the_rest_of_the_initialisation(tmp_path: Path) -> None:
    released = make_trainer(config(tmp_path / "released", "lifter"))
    zero = make_trainer(config(tmp_path / "zero", "lifter", head_init="zero"))
    inputs, _ = zero._batch(0, 0)
    with torch.no_grad():
        assert torch.equal(zero.model.eval()(inputs), torch.zeros(*inputs.shape[:-1], 3))
        assert released.model.eval()(inputs).abs().min() > 0
    released_state, zero_state = released.model.state_dict(), zero.model.state_dict()
    head = {"lifter.head.1.weight", "lifter.head.1.bias"}
    for name, tensor in zero_state.items():
        if name not in head:  # the same seed draws the same weights everywhere else
            assert torch.equal(tensor, released_state[name]), name
    losses = [zero.train_step(epoch=0, step=0)["total"] for _ in range(8)]
    assert losses[-1] < 0.9 * losses[0], losses


@pytest.mark.parametrize(
    "options", [{"stage": "bam"}, {"stage": "lifter", "init_weights": "weights"}], ids=["stage-1", "warm-start"]
)
def test_zero_head_is_refused_where_it_would_not_apply(options: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="head_init='zero' initialises a lifter trained from scratch"):
        TrainConfig.model_validate({**options, "head_init": "zero"})
