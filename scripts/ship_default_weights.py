"""Package a training run as the embedded default weights, measured and documented.

Takes the best weights of a stage-2 run, evaluates them on the validation subject with the standard
protocol (ground-truth and detected 2D, ground-truth scale) and through the Lifter's own metric output,
collects both stages' learning curves, and writes ``config.json``, ``model.safetensors`` and the model
card to the package's ``default_weights`` folder.

    python scripts/ship_default_weights.py --bam-run runs/bam-tiny --run runs/lifter-tiny \
        --data ../shared/data/h36m [--view-stride 1]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mtf_pose import Lifter
from mtf_pose.evaluation.h36m import evaluate_views, evaluate_views_with_lifter
from mtf_pose.hub import default_weights_dir
from mtf_pose.training.h36m import load_views
from mtf_pose.weights import WeightsConfig, load_weights, model_card, save_weights

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


def learning_curve(bam_run: Path, run: Path) -> list[dict]:
    rows = []
    for record in epoch_records(bam_run):
        rows.append({"stage": "1 (BAM)", "epoch": record["epoch"], "train loss": record["train_total"],
                     "validation": f"polar-class accuracy {record['val_accuracy']:.3f}"})
    for record in epoch_records(run):
        # Epochs logged before TrainConfig.precision existed ran in float32.
        rows.append({"stage": "2 (lifter)", "epoch": record["epoch"], "train loss": record["train_total"],
                     "validation": f"MPJPE {record['val_mpjpe']:.1f} mm (GT 2D, every 5th S8 view)",
                     "products": record.get("precision", "float32")})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bam-run", type=Path, required=True)
    parser.add_argument("--run", type=Path, required=True)
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
    epochs = trained.training.get("epochs_completed")
    training = {
        "summary": f"Trained in this project on a 2-core CPU: {epochs} epoch(s) of stage 2 so far "
                   "(the released recipe runs 120); see the learning curve.",
        "data": "Human3.6M S1, S5, S6, S7 (all four cameras); S8 held out for validation; S9 and S11 unused",
        "recipe_summary": (
            "two stages as released: BAM (polar-angle classes, cross-entropy, AdamW 2e-3, batch 32), then the "
            f"lifter with the BAM frozen (MPJPE + 0.5 N-MPJPE + 20 velocity, AdamW {recipe.get('learning_rate')}, "
            f"decay {recipe.get('lr_decay')}/epoch, batch {recipe.get('batch_size')}); 243-frame clips every "
            f"{recipe.get('clip_stride')} frames; half the clips on Stacked Hourglass detections, half on noisy "
            "ground-truth 2D; confidence, dropped-joint and flip augmentation; matrix products in float32 or "
            "bfloat16 (autocast) as the learning curve's 'products' column says (an epoch that switched "
            "part-way is listed with its last setting)"
        ),
        "epochs_completed": epochs,
        "dataset": "human3.6m",
        "license_id": "other",
        "license": LICENCE,
        "validation": validation,
        "learning_curve": learning_curve(args.bam_run, args.run),
        "reproduce": [
            "mtf-pose train --config configs/tiny_stage1.json",
            "mtf-pose train --config configs/tiny_stage2.json",
            f"python scripts/ship_default_weights.py --bam-run {args.bam_run} --run {args.run} --data {args.data} "
            f"--view-stride {args.view_stride}",
            f"mtf-pose evaluate --data {args.data} --subjects S8 --inputs gt,detected --view-stride {args.view_stride} "
            "--metric-output",
        ],
        "recipe": recipe,
    }
    config = WeightsConfig(model=trained.model, preprocessing=trained.preprocessing, output=trained.output,
                           training=training)
    save_weights(args.out, model, config, card=model_card(config))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
