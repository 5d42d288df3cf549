"""The two-stage MDTF recipe: stage 1 trains the Bone Aware Module, stage 2 the lifter with the BAM frozen.

Runs are resumable and reproducible: the clip order of an epoch, the augmentation of a step and the
stochastic depth of a step are all drawn from generators seeded by ``(seed, epoch, step)``, so a run
resumed from ``last.pt`` continues exactly as an uninterrupted one would. ``last.pt`` is written
atomically every ``checkpoint_minutes`` and at the end of each epoch; ``best/`` holds the weights folder
(``config.json`` + ``model.safetensors``) of the best validation so far; ``log.jsonl`` has one JSON
object per logged step and per epoch; a resume drops the lines of the steps it runs again, so the log
reads as one uninterrupted run.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn
from tqdm.auto import tqdm

from mtf_pose._atomic import write_atomic, write_text_atomic
from mtf_pose.evaluation.h36m import evaluate_views
from mtf_pose.model import MDTF, ModelConfig, bone_features, build_model, get_preset, polar_angle_classes
from mtf_pose.training.augment import AugmentConfig, make_training_input
from mtf_pose.training.clips import clip_indices, clip_starts
from mtf_pose.training.h36m import H36MView, load_views
from mtf_pose.training.losses import lifter_loss, polar_class_loss
from mtf_pose.weights import WEIGHTS_NAME, WeightsConfig, load_state_dict_strict, read_state_dict, save_weights

Stage = Literal["bam", "lifter"]
LOG_NAME = "log.jsonl"


class TrainConfig(BaseModel):
    """One training run. Defaults follow the released recipe except where the CPU budget says otherwise."""

    model_config = ConfigDict(extra="forbid")

    stage: Stage = Field(description="'bam' (stage 1) or 'lifter' (stage 2, BAM frozen).")
    preset: str = "tiny"
    model: ModelConfig | None = Field(None, description="A full network configuration instead of the preset.")
    data_root: Path = Path("../shared/data/h36m")
    out_dir: Path = Path("runs/train")
    train_subjects: list[str] = ["S1", "S5", "S6", "S7"]
    val_subjects: list[str] = ["S8"]
    epochs: int = Field(120, ge=1)
    batch_size: int = Field(16, ge=1)
    learning_rate: float = Field(5e-4, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    lr_decay: float = Field(0.99, gt=0, le=1, description="Learning rate multiplier per epoch ('exponential').")
    lr_schedule: Literal["exponential", "cosine"] = Field(
        "exponential",
        description=(
            "'exponential': learning_rate * lr_decay**epoch, as released. 'cosine': from learning_rate down to "
            "min_learning_rate over all the run's steps, for a run whose length is set by a time budget."
        ),
    )
    min_learning_rate: float = Field(0.0, ge=0, description="Where 'cosine' ends.")
    warmup_steps: int = Field(
        0, ge=0, description="Linear ramp from 0 over the first steps (lets a warm start's fresh AdamW settle)."
    )
    n_mpjpe_weight: float = Field(0.5, ge=0, description="Stage 2: weight of the N-MPJPE term (released: 0.5).")
    velocity_weight: float = Field(20.0, ge=0, description="Stage 2: weight of the velocity term (released: 20).")
    auxiliary_start_step: int = Field(
        0,
        ge=0,
        description=(
            "Stage 2: the run's step (counted over epochs) before which the loss is MPJPE alone; from it the "
            "N-MPJPE and velocity weights ramp in linearly over auxiliary_ramp_steps."
        ),
    )
    auxiliary_ramp_steps: int = Field(0, ge=0, description="Steps over which N-MPJPE and velocity ramp in.")
    clip_stride: int = Field(243, ge=1, description="Frames between training clip starts (released: 81).")
    frame_step: int = Field(1, ge=1, description="Take every n-th frame inside a clip.")
    seed: int = 0
    bam_weights: Path | None = Field(None, description="Stage 2: a weights folder or .safetensors with the BAM.")
    init_weights: Path | None = Field(None, description="Warm start: a weights folder or .safetensors.")
    head_init: Literal["default", "zero"] = Field(
        "default",
        description=(
            "Stage 2 from scratch: 'zero' starts the lifter's output Linear at zero weight and bias, so the first "
            "prediction is the root for every joint instead of metres-scale noise (released: 'default')."
        ),
    )
    augment: AugmentConfig = Field(default_factory=AugmentConfig)  # type: ignore[arg-type]
    checkpoint_minutes: float = Field(10.0, gt=0)
    log_every: int = Field(10, ge=1, description="Steps between log lines.")
    val_view_stride: int = Field(5, ge=1, description="Validate every epoch on every n-th view of val_subjects.")
    val_inputs: Literal["gt", "detected"] = "gt"
    threads: int | None = Field(None, ge=1, description="torch.set_num_threads; default: leave as is.")
    precision: Literal["float32", "bfloat16"] = Field(
        "float32",
        description=(
            "Precision of the trained network's matrix products (torch.autocast); weights, optimiser, losses, "
            "scans and validation stay float32. bfloat16 pays on CPUs with AVX512-BF16 or AMX and is several "
            "times slower elsewhere (the Trainer warns): measure with benchmarks/bench_train.py."
        ),
    )
    max_steps_per_epoch: int | None = Field(
        None, ge=1, description="Shorter epochs (a random subset of the clips each): more frequent validation."
    )

    @model_validator(mode="after")
    def _head_init_from_scratch(self) -> TrainConfig:
        if self.head_init != "default" and (self.stage != "lifter" or self.init_weights is not None):
            raise ValueError(
                f"head_init={self.head_init!r} initialises a lifter trained from scratch: it needs stage 'lifter' "
                "and no init_weights (whose head would replace it)"
            )
        return self


def _weights_file(path: Path) -> Path:
    return path / WEIGHTS_NAME if path.is_dir() else path


def _step_seed(seed: int, epoch: int, step: int) -> list[int]:
    return [seed, epoch, step]


def cpu_has_fast_bfloat16() -> bool:
    """Whether oneDNN runs bfloat16 products natively on this CPU (AVX512 or AMX); elsewhere they are emulated."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


class Trainer:
    """Runs :class:`TrainConfig`; call :meth:`run` (it resumes from ``out_dir/last.pt`` when present)."""

    def __init__(
        self,
        config: TrainConfig,
        *,
        train_views: list[H36MView] | None = None,
        val_views: list[H36MView] | None = None,
        progress: bool = True,
        log: Callable[[str], None] = print,
    ) -> None:
        self.config = config
        self.progress = progress
        self.log = log
        if config.threads:
            torch.set_num_threads(config.threads)
        if config.precision == "bfloat16" and not cpu_has_fast_bfloat16():
            # Emulated products made a stage-2 step 4.5x slower than float32 on an AVX2-only EPYC.
            warnings.warn(
                "precision='bfloat16' on a CPU without native bfloat16 products "
                f"({torch.backends.cpu.get_cpu_capability()}): training will be several times slower than "
                "with precision='float32'",
                stacklevel=2,
            )
        torch.manual_seed(config.seed)  # the initial weights are part of the run
        self.model = build_model(config.model or get_preset(config.preset))
        if config.init_weights is not None:
            self._load_into(self.model, _weights_file(config.init_weights), prefix="")
        if config.head_init == "zero":
            for parameter in self.model.lifter.head[-1].parameters():  # the output Linear's weight and bias
                nn.init.zeros_(parameter)
        if config.stage == "lifter":
            if config.bam_weights is None and config.init_weights is None:
                raise ValueError("stage 'lifter' needs bam_weights (the stage-1 result) or init_weights")
            if config.bam_weights is not None:
                self._load_into(self.model, _weights_file(config.bam_weights), prefix="bam.")
            self.model.bam.requires_grad_(False)
        self.trained = self.model.bam if config.stage == "bam" else self.model.lifter
        self.optimizer = torch.optim.AdamW(
            self.trained.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        self.train_views = (
            train_views if train_views is not None else load_views(config.data_root, config.train_subjects)
        )
        self.val_views = val_views if val_views is not None else load_views(config.data_root, config.val_subjects)
        self.clips = [
            (view_index, start)
            for view_index, view in enumerate(self.train_views)
            for start in clip_starts(view.frames, self.model.config.frames, config.clip_stride, config.frame_step)
        ]
        self.epoch = 0
        self.step = 0  # next step inside self.epoch
        self.best: float | None = None
        self.history: list[dict[str, Any]] = []
        self.out_dir = Path(config.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if (self.out_dir / "last.pt").exists():
            self._resume(self.out_dir / "last.pt")

    @staticmethod
    def _load_into(model: MDTF, path: Path, prefix: str) -> None:
        state = read_state_dict(path)
        if prefix:
            own = {k: v for k, v in model.state_dict().items() if not k.startswith(prefix)}
            state = {**own, **{k: v for k, v in state.items() if k.startswith(prefix)}}
        load_state_dict_strict(model, state, str(path))

    # -- schedule -------------------------------------------------------------------------------------
    @property
    def steps_per_epoch(self) -> int:
        steps = math.ceil(len(self.clips) / self.config.batch_size)
        return min(steps, self.config.max_steps_per_epoch or steps)

    def _position(self, epoch: int, step: int) -> int:
        """The run's step counted over epochs: what the learning rate and the loss weights are functions of."""
        return epoch * self.steps_per_epoch + step

    def learning_rate(self, epoch: int, step: int = 0) -> float:
        """The learning rate of step ``step`` of ``epoch``: a pure function of the position, so resumable."""
        config = self.config
        position = self._position(epoch, step)
        if config.lr_schedule == "exponential":
            rate = config.learning_rate * config.lr_decay**epoch
        else:
            total = max(config.epochs * self.steps_per_epoch - 1, 1)
            progress = min(position / total, 1.0)
            rate = config.min_learning_rate + (config.learning_rate - config.min_learning_rate) * 0.5 * (
                1.0 + math.cos(math.pi * progress)
            )
        if position < config.warmup_steps:
            # Adam's first updates move every parameter by about the learning rate, whatever its gradient:
            # from a trained network, that undoes a good part of the training.
            rate *= (position + 1) / (config.warmup_steps + 1)
        return rate

    def auxiliary_weights(self, epoch: int, step: int = 0) -> tuple[float, float]:
        """The ``(n_mpjpe_weight, velocity_weight)`` of step ``step`` of ``epoch``, a pure function of the position.

        Zero before ``auxiliary_start_step``, then a linear ramp to the configured weights: the ×20 velocity
        term slows a network's first steps down (see docs/training.md), so a run can fit the poses first.
        """
        config = self.config
        position = self._position(epoch, step)
        ramped = (position - config.auxiliary_start_step + 1) / (config.auxiliary_ramp_steps + 1)
        share = min(max(ramped, 0.0), 1.0)
        return config.n_mpjpe_weight * share, config.velocity_weight * share

    def _batch(self, epoch: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        order = np.random.default_rng([self.config.seed, epoch]).permutation(len(self.clips))
        chosen = order[step * self.config.batch_size : (step + 1) * self.config.batch_size]
        rng = np.random.default_rng(_step_seed(self.config.seed, epoch, step) + [1])
        inputs, targets = [], []
        length, frame_step = self.model.config.frames, self.config.frame_step
        for clip in chosen:
            view_index, start = self.clips[clip]
            view = self.train_views[view_index]
            index = clip_indices(start, length, view.frames, frame_step)
            x, y = make_training_input(
                view.keypoints_gt[index], view.keypoints_detected[index], view.target[index], rng, self.config.augment
            )
            inputs.append(x)
            targets.append(y)
        return torch.from_numpy(np.stack(inputs)), torch.from_numpy(np.stack(targets))

    # -- one step ---------------------------------------------------------------------------------------
    def train_step(self, epoch: int, step: int) -> dict[str, float]:
        """One optimiser step on the batch that ``(epoch, step)`` designates."""
        inputs, targets = self._batch(epoch, step)
        torch.manual_seed(int(np.random.default_rng(_step_seed(self.config.seed, epoch, step) + [2]).integers(2**62)))
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate(epoch, step)
        self.trained.train()
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.config.precision == "bfloat16")
        if self.config.stage == "bam":
            with autocast:
                logits = self.model.bam(inputs).float()
            classes = polar_angle_classes(targets, logits.shape[-1])
            terms = {"total": polar_class_loss(logits, classes)}
            terms["accuracy"] = (logits.argmax(-1) == classes)[..., 1:].float().mean()  # the root is always 0
        else:
            self.model.bam.eval()
            with torch.no_grad():
                features = bone_features(inputs, self.model.bam(inputs))
            with autocast:
                predicted = self.model.lifter(torch.cat([inputs, features], dim=-1)).float()
            n_mpjpe_weight, velocity_weight = self.auxiliary_weights(epoch, step)
            terms = lifter_loss(predicted, targets, n_mpjpe_weight=n_mpjpe_weight, velocity_weight=velocity_weight)
        self.optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        self.optimizer.step()
        return {name: float(value.detach()) for name, value in terms.items()}

    # -- validation ---------------------------------------------------------------------------------------
    def validate(self) -> dict[str, float]:
        views = self.val_views[:: self.config.val_view_stride]
        if self.config.stage == "bam":
            return self._validate_bam(views)
        report = evaluate_views(self.model, views, inputs=self.config.val_inputs, progress=False)
        return {f"val_{name}": value for name, value in report.overall.items()}

    @torch.no_grad()
    def _validate_bam(self, views: list[H36MView]) -> dict[str, float]:
        self.model.bam.eval()
        correct = total = 0
        length = self.model.config.frames
        for view in views:
            starts = clip_starts(view.frames, length, stride=length)
            for first in range(0, len(starts), 8):
                index = np.stack([clip_indices(s, length, view.frames) for s in starts[first : first + 8]])
                keypoints = view.keypoints_gt if self.config.val_inputs == "gt" else view.keypoints_detected
                inputs = torch.from_numpy(
                    np.concatenate([keypoints[index], np.ones_like(keypoints[index][..., :1])], -1)
                )
                classes = polar_angle_classes(torch.from_numpy(view.target[index]))
                predicted = self.model.bam(inputs).argmax(-1)
                correct += int((predicted == classes)[..., 1:].sum())
                total += classes[..., 1:].numel()
        return {"val_accuracy": correct / max(total, 1)}

    def _score(self, metrics: dict[str, float]) -> float:
        """Lower is better."""
        return -metrics["val_accuracy"] if self.config.stage == "bam" else metrics["val_mpjpe"]

    # -- checkpoints ------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "best": self.best,
            "history": json.dumps(self.history),
            "config": self.config.model_dump_json(),
        }

    def save_checkpoint(self) -> None:
        state = self.state()
        write_atomic(self.out_dir / "last.pt", lambda path: torch.save(state, path))

    def _resume(self, path: Path) -> None:
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.step, self.best = state["epoch"], state["step"], state["best"]
        self.history = json.loads(state["history"])
        self.log(f"resumed from {path}: epoch {self.epoch}, step {self.step}")
        self._forget_log_after_checkpoint()

    def _forget_log_after_checkpoint(self) -> None:
        """Drop the log lines written after the checkpoint (their steps run again) and any half-written line."""
        path = self.out_dir / LOG_NAME
        if not path.exists():
            return
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # cut short by the kill that made this resume necessary
                continue
            # A step line counts the steps done; an epoch line (no "step") comes after all of its steps.
            position = (record["epoch"], record.get("step", math.inf))
            if position <= (self.epoch, self.step):
                kept.append(line + "\n")
        write_text_atomic(path, "".join(kept))

    def _write_log(self, record: dict[str, Any]) -> None:
        with open(self.out_dir / LOG_NAME, "a", encoding="utf-8") as log_file:
            log_file.write(json.dumps(record) + "\n")

    def save_best(self, metrics: dict[str, float]) -> None:
        training = {
            "stage": self.config.stage,
            "data": (
                f"Human3.6M {', '.join(self.config.train_subjects)} "
                f"(validation: {', '.join(self.config.val_subjects)})"
            ),
            "epochs_completed": self.epoch + 1,
            "validation": metrics,
            "recipe": json.loads(self.config.model_dump_json()),
        }
        config = WeightsConfig(model=self.model.config, training=training)
        save_weights(self.out_dir / "best", self.model, config)

    # -- the loop -----------------------------------------------------------------------------------------
    def run(self, epochs: int | None = None) -> list[dict[str, Any]]:
        """Train until ``epochs`` (default: the config's) are complete; returns the per-epoch history."""
        last_epoch = epochs if epochs is not None else self.config.epochs
        last_save = time.monotonic()
        while self.epoch < last_epoch:
            sums: dict[str, float] = {}
            bar = tqdm(
                total=self.steps_per_epoch, initial=self.step, desc=f"{self.config.stage} epoch {self.epoch}",
                disable=not self.progress, unit="step",
            )
            started = time.monotonic()
            first_step = self.step
            while self.step < self.steps_per_epoch:
                terms = self.train_step(self.epoch, self.step)
                for name, value in terms.items():
                    sums[name] = sums.get(name, 0.0) + value
                self.step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{terms['total']:.4f}")
                if self.step % self.config.log_every == 0:
                    self._write_log({"epoch": self.epoch, "step": self.step, **terms, "time": time.time()})
                if time.monotonic() - last_save > self.config.checkpoint_minutes * 60:
                    self.save_checkpoint()
                    last_save = time.monotonic()
            bar.close()
            steps_done = max(self.step - first_step, 1)
            seconds = time.monotonic() - started
            metrics = self.validate()
            record = {
                "epoch": self.epoch,
                "lr": self.learning_rate(self.epoch, self.steps_per_epoch - 1),
                "precision": self.config.precision,
                "steps": self.steps_per_epoch,
                **{f"train_{k}": v / steps_done for k, v in sums.items()},
                **metrics,
                "train_seconds": seconds,
                "train_frames_per_second": steps_done * self.config.batch_size * self.model.config.frames / seconds,
            }
            self.history.append(record)
            self._write_log(record)
            self.log(json.dumps(record))
            if self.best is None or self._score(metrics) < self.best:
                self.best = self._score(metrics)
                self.save_best(metrics)
            self.epoch += 1
            self.step = 0
            self.save_checkpoint()
            last_save = time.monotonic()
        return self.history
