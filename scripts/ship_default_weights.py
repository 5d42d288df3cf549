"""Package a training run as the embedded default weights, measured and documented.

Takes the best weights of a stage-2 run, evaluates them on the validation subject with the standard
protocol (ground-truth and detected 2D, ground-truth scale) and through the Lifter's own metric output,
collects both stages' learning curves, and writes ``config.json``, ``model.safetensors`` and the model
card to the package's ``default_weights`` folder.

    python scripts/ship_default_weights.py --bam-run runs/bam-tiny --run runs/lifter-tiny \
        --config configs/tiny_stage2.json --data ../shared/data/h36m [--view-stride 1]

A run warm-started from earlier weights (``init_weights`` in its recipe, or ``--previous``) continues
their history: their learning curve and stage-2 step count are carried over and this run's epochs are
appended as the next training run. ``--bam-run`` is then optional (the BAM's rows come with them). So it
is for a fresh stage 2 whose ``bam_weights`` are earlier shipped weights: their stage-1 rows and command
carry over, their stage-2 history does not.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mtf_pose import Lifter
from mtf_pose.evaluation.h36m import evaluate_views, evaluate_views_with_lifter
from mtf_pose.hub import default_weights_dir
from mtf_pose.training.h36m import load_views
from mtf_pose.training.trainer import TrainConfig
from mtf_pose.weights import CONFIG_NAME, WeightsConfig, load_weights, model_card, read_config, save_weights

LICENCE = (
    "These weights were trained on Human3.6M (http://vision.imar.ro/human3.6m), which is licensed for "
    "academic, non-commercial research only. The weights inherit those terms: use them for academic "
    "research only. The mtf_pose code is MIT-licensed; this licence covers the weights."
)


def epoch_records(run: Path) -> list[dict]:
    """The per-epoch records of a run's log (the lines with validation figures)."""
    records = []
    for line in (run / "log.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "lr" in record:
            records.append(record)
    return records


def schedule_summary(recipe: dict) -> str:
    """The learning-rate schedule of a training recipe, in words."""
    if recipe.get("lr_schedule", "exponential") == "cosine":
        text = f"cosine {recipe['learning_rate']:g} -> {recipe['min_learning_rate']:g}"
    else:
        text = f"{recipe['learning_rate']:g} x{recipe['lr_decay']:g}/epoch"
    if recipe.get("warmup_steps"):
        text += f", {recipe['warmup_steps']} warm-up steps"
    if recipe.get("init_weights"):
        text += ", warm start"
    if recipe.get("head_init", "default") != "default":
        text += f", {recipe['head_init']} head"
    return text


def objective_summary(recipe: dict, steps: int) -> str:
    """The stage-2 loss of a recipe's first ``steps`` steps, in words."""
    config = TrainConfig.model_validate(recipe)
    terms = "MPJPE"
    if config.n_mpjpe_weight:
        terms += f" + {config.n_mpjpe_weight:g} N-MPJPE"
    if config.velocity_weight:
        terms += f" + {config.velocity_weight:g} velocity"
    start = config.auxiliary_start_step
    if not start or terms == "MPJPE":
        return terms
    if steps <= start:
        return f"MPJPE alone ({terms} was to start at step {start:,})"
    return f"MPJPE alone for {start:,} steps, then {terms} ramped in over {config.auxiliary_ramp_steps:,}"


def validation_views(recipe: dict) -> str:
    """The views a run validated on each epoch, in words."""
    subjects, stride = ", ".join(recipe["val_subjects"]), recipe["val_view_stride"]  # a recipe is a whole TrainConfig
    return f"every {subjects} view" if stride == 1 else f"every {stride}th {subjects} view"


CURVE_COLUMNS = ("stage", "run", "epoch", "steps", "train loss", "train MPJPE term", "validation", "products")


def learning_curve(
    bam_run: Path | None, records: list[dict], previous: list[dict], run_number: int, recipe: dict
) -> list[dict]:
    """``previous`` rows (the BAM's replaced by ``bam_run``'s when given), then one row per epoch record."""
    rows = list(previous)
    if bam_run is not None:
        bam_schedule = schedule_summary(read_config(bam_run / "best" / CONFIG_NAME).training.get("recipe", {}))
        rows = [row for row in rows if not row["stage"].startswith("1")]
        rows[:0] = [
            {"stage": "1 (BAM)", "run": bam_schedule, "epoch": record["epoch"], "steps": record.get("steps", ""),
             "train loss": record["train_total"], "validation": f"polar-class accuracy {record['val_accuracy']:.3f}",
             # Runs logged before TrainConfig.precision existed ran in float32.
             "products": record.get("precision", "float32")}
            for record in epoch_records(bam_run)
        ]
    label, views = schedule_summary(recipe), validation_views(recipe)
    for record in records:
        rows.append({"stage": "2 (lifter)", "run": f"{run_number}: {label}", "epoch": record["epoch"],
                     "steps": record["steps"], "train loss": record["train_total"],
                     # The total mixes in N-MPJPE and velocity once auxiliary_start_step is passed; the MPJPE term
                     # alone shows whether fitting still improves across that switch.
                     "train MPJPE term": record["train_mpjpe"],
                     "validation": f"MPJPE {record['val_mpjpe']:.1f} mm (GT 2D, {views})",
                     "products": record["precision"]})
    # Stage-1 rows and rows carried over from older cards lack some columns; the card's table wants one order.
    return [{column: row.get(column, "") for column in CURVE_COLUMNS} for row in rows]


def reproduce_training(previous: dict, bam_config: Path | None) -> list[str]:
    """The training commands behind ``previous`` weights, stage 1 first (replaced by ``bam_config``'s)."""
    lines = [line for line in previous.get("reproduce", []) if line.startswith("mtf-pose train")]
    if bam_config is None:
        return lines
    # This script always writes the stage-1 command first; a fresh run has no earlier stage-2 commands.
    return [f"mtf-pose train --config {bam_config}", *lines[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bam-run", type=Path, help="the stage-1 run (optional after a warm start)")
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--config", type=Path, required=True, help="the run's training config (for the card)")
    parser.add_argument("--bam-config", type=Path, default=Path("configs/tiny_stage1.json"),
                        help="the stage-1 run's training config (for the card, with --bam-run)")
    parser.add_argument("--previous", type=Path, help="the weights the run started from (default: its init_weights)")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--view-stride", type=int, default=1)
    parser.add_argument("--out", type=Path, default=default_weights_dir())
    args = parser.parse_args()

    model, trained = load_weights(args.run / "best")
    lifter = Lifter(model, trained, source=str(args.run / "best"), device="cpu")
    all_views = load_views(args.data, ["S8"])
    views = all_views[:: args.view_stride]
    subset = "S8" if args.view_stride == 1 else f"S8 (every {args.view_stride}th of its {len(all_views)} views)"
    validation = {}
    for inputs in ("gt", "detected"):
        report = evaluate_views(model, views, inputs=inputs, progress=True)
        validation[f"{subset}, {inputs} 2D, ground-truth scale"] = {
            "MPJPE": report.overall["mpjpe"], "P-MPJPE": report.overall["p_mpjpe"],
            "N-MPJPE": report.overall["n_mpjpe"], "MPJVE": report.overall["mpjve"], "frames": report.frames,
        }
        metric = evaluate_views_with_lifter(lifter, views, inputs=inputs, progress=True)
        validation[f"{subset}, {inputs} 2D, Lifter metric output"] = {
            "MPJPE": metric.overall["mpjpe"], "P-MPJPE": metric.overall["p_mpjpe"],
            "N-MPJPE": metric.overall["n_mpjpe"], "MPJVE": metric.overall["mpjve"], "frames": metric.frames,
        }
        print(json.dumps(validation, indent=2))
    recipe = trained.training.get("recipe", {})
    previous_dir = args.previous or (Path(recipe["init_weights"]) if recipe.get("init_weights") else None)
    bam_source = None
    if previous_dir is not None:
        previous = read_config(previous_dir / CONFIG_NAME).training
    elif args.bam_run is None and recipe.get("bam_weights"):
        # A fresh stage 2 on the BAM of earlier weights: only their stage-1 history carries over.
        bam_source = Path(recipe["bam_weights"])
        history = read_config((bam_source if bam_source.is_dir() else bam_source.parent) / CONFIG_NAME).training
        previous = {
            "learning_curve": [row for row in history.get("learning_curve", []) if row["stage"].startswith("1")],
            "reproduce": reproduce_training(history, None)[:1],  # the stage-1 command comes first
        }
    else:
        previous = {}
    if args.bam_run is None and not previous.get("learning_curve"):
        parser.error("--bam-run is needed: the run did not start from weights with a learning curve")
    curve = previous.get("learning_curve", [])
    run_number = 1 + len({row["run"] for row in curve if row["stage"].startswith("2") and "run" in row})
    records = epoch_records(args.run)
    # The best weights are those of epoch epochs_completed - 1: count the steps up to there.
    best_records = records[: trained.training["epochs_completed"]]
    run_steps = sum(record["steps"] for record in best_records)
    steps = previous.get("stage2_steps", 0) + run_steps
    bam_option = f" --bam-run {args.bam_run} --bam-config {args.bam_config}" if args.bam_run else ""
    bam_override = ""
    if bam_source is not None:
        # Replayed from the card, the run reads its BAM where the stage-1 command leaves it, not from the
        # shipped weights (which the ship command replaces), and the ship command reads that run's curve.
        bam_run = json.loads(args.bam_config.read_text())["out_dir"]
        bam_override = f" --set bam_weights={bam_run}/best"
        bam_option = f" --bam-run {bam_run} --bam-config {args.bam_config}"
    ship_command = (
        f"python scripts/ship_default_weights.py{bam_option} --run {args.run} --config {args.config} "
        f"--data {args.data} --view-stride {args.view_stride}"
    )
    evaluate_command = (
        f"mtf-pose evaluate --data {args.data} --subjects S8 --inputs gt,detected "
        f"--view-stride {args.view_stride} --metric-output"
    )
    training = {
        "summary": f"Trained in this project on a 2-core CPU: {steps:,} optimiser steps of stage 2 (batch "
                   f"{recipe.get('batch_size')}; the released recipe runs 120 epochs of about 1,100 steps of 16 "
                   "clips); see the learning curve.",
        "data": "Human3.6M S1, S5, S6, S7 (all four cameras); S8 held out for validation; S9 and S11 unused",
        "recipe_summary": (
            "two stages as released: BAM (polar-angle classes, cross-entropy, AdamW 2e-3, batch 32), then the "
            f"lifter with the BAM frozen (AdamW, batch {recipe.get('batch_size')}; the last run's loss: "
            f"{objective_summary(recipe, run_steps)}; the learning-rate schedule of each run is in the learning "
            "curve); "
            "243-frame clips every "
            f"{recipe.get('clip_stride')} frames; half the clips on Stacked Hourglass detections, half on noisy "
            "ground-truth 2D; confidence, dropped-joint and flip augmentation; matrix products in float32 or "
            "bfloat16 (autocast) as the learning curve's 'products' column says"
        ),
        "stage2_steps": steps,
        "dataset": "human3.6m",
        "license_id": "other",
        "license": LICENCE,
        "validation": validation,
        "learning_curve": learning_curve(args.bam_run, records, curve, run_number, recipe),
        "reproduce": [
            *reproduce_training(previous, args.bam_config if args.bam_run else None),
            f"mtf-pose train --config {args.config}{bam_override}",
            ship_command,
            evaluate_command,
        ],
        "recipe": recipe,
    }
    config = WeightsConfig(model=trained.model, preprocessing=trained.preprocessing, output=trained.output,
                           training=training)
    save_weights(args.out, model, config, card=model_card(config))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
