"""Where the lifter's error lies, axis by axis: does it predict depth, or only a constant per-joint depth?

For each subject, the weights lift every ``--view-stride``-th view (ground-truth 2D, flip averaging, the
evaluation protocol's root-relative millimetres at the ground-truth scale) and the benchmark prints, per
camera axis (x right, y down, z depth):

- the RMS error of the prediction over the 16 non-root joints;
- the RMS of the same subject's per-joint mean pose against the truth (an oracle baseline: the best any
  constant pose can do on these views) and of an all-zero prediction (the target's own RMS);
- how much the predicted coordinate moves: its standard deviation over each view's frames, per joint,
  against the truth's, averaged over joints and views;
- how well it follows the truth: the correlation over each view's frames, per joint, averaged.

An x or y correlation near 1 with a z correlation near 0 and a small z spread means the network reproduces
the image-plane pose and puts every joint at a fixed depth.

``--probe FIT,SCORE`` asks instead whether the tokens inside the lifter carry depth: at each stage (after
the first spatial and temporal blocks, the bone stream, after each refinement block) a ridge regression
per joint (a linear probe: the token's features and a bias) is fitted to the joint's true root-relative
depth on ``--probe-clips`` clips from every ``--probe-stride``-th view of FIT and scored on SCORE.

    python benchmarks/bench_depth.py [--weights DIR] [--subjects S8,S1] [--view-stride 8] [--threads 2]
    python benchmarks/bench_depth.py --probe S1,S8 [--probe-stride 12] [--probe-clips 6]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from _h36m import require_data

from mtf_pose.evaluation.h36m import network_input, predict_view
from mtf_pose.hub import default_weights_dir
from mtf_pose.model import MDTF
from mtf_pose.model.mdtf import _to_spatial
from mtf_pose.training.clips import clip_indices
from mtf_pose.training.h36m import load_views
from mtf_pose.weights import load_weights

AXES = "xyz"


def axis_figures(predicted: list[np.ndarray], truth: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Per-axis figures (each ``(3,)``) over views of ``(N, 17, 3)`` root-relative millimetres."""
    mean_pose = np.concatenate(truth).mean(axis=0)
    squared: dict[str, np.ndarray] = {name: np.zeros(3) for name in ("network", "mean_pose", "zero")}
    spreads, correlations = [], []
    count = 0
    for pose, target in zip(predicted, truth):
        pose, target, baseline = pose[:, 1:], target[:, 1:], mean_pose[None, 1:]
        squared["network"] += ((pose - target) ** 2).sum(axis=(0, 1))
        squared["mean_pose"] += ((baseline - target) ** 2).sum(axis=(0, 1))
        squared["zero"] += (target**2).sum(axis=(0, 1))
        count += target.shape[0] * target.shape[1]
        spreads.append(pose.std(axis=0).mean(axis=0) / target.std(axis=0).mean(axis=0))
        centred_pose, centred_target = pose - pose.mean(axis=0), target - target.mean(axis=0)
        covariance = (centred_pose * centred_target).sum(axis=0)
        scale = np.sqrt((centred_pose**2).sum(axis=0) * (centred_target**2).sum(axis=0))
        correlations.append(np.mean(covariance / np.maximum(scale, 1e-12), axis=0))
    figures = {f"rms_{name}": np.sqrt(total / count) for name, total in squared.items()}
    figures["spread_ratio"] = np.mean(spreads, axis=0)
    figures["correlation"] = np.mean(correlations, axis=0)
    return figures


def stage_tokens(model: MDTF, clips: torch.Tensor) -> dict[str, np.ndarray]:
    """``(B, T, J, C)`` tokens of each lifter stage for ``(B, T, J, 3)`` clips, read with forward hooks."""
    lifter = model.lifter
    batch, frames, joints, _ = clips.shape
    outputs: dict[str, list[torch.Tensor]] = {"spatial": [], "temporal": [], "bone": []}
    modules = {"spatial": lifter.Spatial_norm, "temporal": lifter.Temporal_norm, "bone": lifter.limbTemporalNorm}
    handles = [
        module.register_forward_hook(lambda _module, _inputs, output, name=name: outputs[name].append(output))
        for name, module in modules.items()
    ]
    try:
        with torch.no_grad():
            model(clips)
    finally:
        for handle in handles:
            handle.remove()

    def temporal_layout(tokens: torch.Tensor) -> np.ndarray:  # (B * J, T, C) -> (B, T, J, C), as the lifter does
        return _to_spatial(tokens, batch).reshape(batch, frames, joints, -1).numpy()

    stages = {
        "first spatial block": outputs["spatial"][0].reshape(batch, frames, joints, -1).numpy(),
        "first temporal block": temporal_layout(outputs["temporal"][0]),
        "bone stream": temporal_layout(outputs["bone"][0]),
    }
    for index, tokens in enumerate(outputs["temporal"][1:], start=1):
        stages[f"refinement block {index}"] = temporal_layout(tokens)
    return stages


def probe_data(model: MDTF, views: list, clips_per_view: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Stage tokens ``(N, T, J, C)`` and true root-relative depths ``(N, T, J)`` of evenly spaced clips."""
    tokens: dict[str, list[np.ndarray]] = {}
    depths = []
    length = model.config.frames
    for view in views:
        starts = np.linspace(0, max(view.frames - length, 0), clips_per_view).astype(int)
        index = np.stack([clip_indices(start, length, view.frames) for start in starts])
        for name, stage in stage_tokens(model, torch.from_numpy(network_input(view, "gt")[index])).items():
            tokens.setdefault(name, []).append(stage)
        depths.append(view.joints_mm[index][..., 2])
    return {name: np.concatenate(stage) for name, stage in tokens.items()}, np.concatenate(depths)


def ridge_probe(features: np.ndarray, target: np.ndarray, scored: np.ndarray, strength: float = 1e-2) -> np.ndarray:
    """Fit ``target ~ features @ w + b`` (standardised features, ridge) and predict for ``scored``."""
    mean, std = features.mean(axis=0), features.std(axis=0) + 1e-6
    design = np.column_stack([(features - mean) / std, np.ones(len(features))])
    weights = np.linalg.solve(design.T @ design + strength * len(design) * np.eye(design.shape[1]), design.T @ target)
    return np.column_stack([(scored - mean) / std, np.ones(len(scored))]) @ weights


def run_probe(model: MDTF, root: Path, fit: str, score: str, stride: int, clips_per_view: int) -> None:
    fit_tokens, fit_depths = probe_data(model, load_views(root, [fit])[::stride], clips_per_view)
    score_tokens, score_depths = probe_data(model, load_views(root, [score])[::stride], clips_per_view)
    joints = range(1, fit_depths.shape[-1])  # the root's depth is 0 by definition
    print(f"\nper-joint linear probes of depth: fitted on {fit}, scored on {score} (every {stride}th view,")
    print(f"{clips_per_view} clips each); {score} depth RMS {np.sqrt((score_depths[..., 1:] ** 2).mean()):.1f} mm")
    print(f"{'stage':>22} {f'RMS on {fit} mm':>15} {f'RMS on {score} mm':>15}")
    for name in fit_tokens:
        fit_errors, score_errors = [], []
        for joint in joints:
            features = fit_tokens[name][:, :, joint].reshape(-1, fit_tokens[name].shape[-1])
            scored = score_tokens[name][:, :, joint].reshape(-1, features.shape[-1])
            fitted = ridge_probe(features, fit_depths[:, :, joint].ravel(), np.concatenate([features, scored]))
            fit_errors.append(np.mean((fitted[: len(features)] - fit_depths[:, :, joint].ravel()) ** 2))
            score_errors.append(np.mean((fitted[len(features) :] - score_depths[:, :, joint].ravel()) ** 2))
        print(f"{name:>22} {np.sqrt(np.mean(fit_errors)):>15.1f} {np.sqrt(np.mean(score_errors)):>15.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=default_weights_dir())
    parser.add_argument("--subjects", default="S8,S1")
    parser.add_argument("--view-stride", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--probe", help="FIT,SCORE subjects: linear probes of depth instead of the axis table")
    parser.add_argument("--probe-stride", type=int, default=12)
    parser.add_argument("--probe-clips", type=int, default=6)
    args = parser.parse_args()
    root = require_data()
    torch.set_num_threads(args.threads)
    model, _ = load_weights(args.weights)
    model.eval()
    print(f"weights: {args.weights}")
    if args.probe:
        fit, score = args.probe.split(",")
        run_probe(model, root, fit, score, args.probe_stride, args.probe_clips)
        return
    for subject in args.subjects.split(","):
        views = load_views(root, [subject])[:: args.view_stride]
        predicted, truth = [], []
        for view in views:
            pose = predict_view(model, network_input(view, "gt")) * view.mm_per_unit[:, None, None]
            predicted.append(pose - pose[:, :1])
            truth.append(view.joints_mm)
        figures = axis_figures(predicted, truth)
        frames = sum(len(pose) for pose in truth)
        print(f"\n{subject}: {len(views)} views, {frames} frames (every {args.view_stride}th view, ground-truth 2D)")
        print(
            f"{'axis':>5} {'RMS error mm':>13} {'mean pose mm':>13} {'zero mm':>8} {'spread pred/true':>17} {'corr':>6}"
        )
        for axis, name in enumerate(AXES):
            print(
                f"{name:>5} {figures['rms_network'][axis]:>13.1f} {figures['rms_mean_pose'][axis]:>13.1f}"
                f" {figures['rms_zero'][axis]:>8.1f} {figures['spread_ratio'][axis]:>17.2f}"
                f" {figures['correlation'][axis]:>6.2f}"
            )


if __name__ == "__main__":
    main()
