"""The standard Human3.6M protocol on prepared views: every frame, root-relative, millimetres.

Each view is cut into full-length clips (stride = clip length, the last clip aligned to the sequence end),
predicted with flip averaging, and frames covered twice are averaged. Predictions are brought to
millimetres with the ground-truth scale of each frame (``mm_per_unit``), as MotionBERT and MDTF do, and
compared with the root-relative camera-frame ground truth. Errors are averaged over the frames of each
action, then over actions.

:func:`evaluate_views_with_lifter` runs the same protocol on what a user gets: the Lifter's metric
output from pixel input, with no ground-truth scale.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm.auto import tqdm

from mtf_pose.evaluation.metrics import mpjpe, mpjve, n_mpjpe, p_mpjpe
from mtf_pose.lifter import Lifter
from mtf_pose.model import MDTF
from mtf_pose.result import STATURE_CHAIN_RATIO, chain_length
from mtf_pose.training.clips import clip_indices, clip_starts
from mtf_pose.training.h36m import H36MView

Inputs = Literal["gt", "detected"]
METRICS = ("mpjpe", "p_mpjpe", "n_mpjpe", "mpjve")


@dataclass
class EvaluationReport:
    """Per-action and overall errors in millimetres (MPJVE in mm per frame)."""

    inputs: str
    per_action: dict[str, dict[str, float]]
    frames: int
    overall: dict[str, float] = field(init=False)

    def __post_init__(self) -> None:
        self.overall = {m: float(np.mean([row[m] for row in self.per_action.values()])) for m in METRICS}

    def table(self) -> str:
        """A fixed-width text table, one row per action and a final mean row."""
        header = f"{'action':<14}" + "".join(f"{m:>10}" for m in ("MPJPE", "P-MPJPE", "N-MPJPE", "MPJVE"))
        rows = [header, "-" * len(header)]
        for action in sorted(self.per_action):
            rows.append(f"{action:<14}" + "".join(f"{self.per_action[action][m]:>10.1f}" for m in METRICS))
        rows.append("-" * len(header))
        rows.append(f"{'mean':<14}" + "".join(f"{self.overall[m]:>10.1f}" for m in METRICS))
        return "\n".join(rows)

    def to_dict(self) -> dict:
        return {"inputs": self.inputs, "frames": self.frames, "overall": self.overall, "per_action": self.per_action}


def pixel_input(view: H36MView, inputs: Inputs) -> NDArray[np.float32]:
    """``(N, 17, 3)``: the view's 2D in pixels with confidence 1, as a user would give it to the Lifter."""
    keypoints = view.keypoints_gt if inputs == "gt" else view.keypoints_detected
    pixels = (keypoints + np.array([1.0, view.height / view.width], dtype=np.float32)) * view.width / 2
    return np.concatenate([pixels, np.ones_like(pixels[..., :1])], axis=-1).astype(np.float32)


def subject_heights(views: list[H36MView]) -> dict[str, float]:
    """Each subject's height as the Lifter's scale model defines it: ground-truth chain length / ratio."""
    chains: dict[str, list[NDArray[np.float64]]] = defaultdict(list)
    for view in views:
        chains[view.subject].append(chain_length(view.joints_mm / 1000))
    return {subject: float(np.median(np.concatenate(c)) / STATURE_CHAIN_RATIO) for subject, c in chains.items()}


def network_input(view: H36MView, inputs: Inputs) -> NDArray[np.float32]:
    """``(N, 17, 3)``: normalised 2D of ``view`` with confidence 1 (the evaluation input)."""
    keypoints = view.keypoints_gt if inputs == "gt" else view.keypoints_detected
    return np.concatenate([keypoints, np.ones_like(keypoints[..., :1])], axis=-1)


@torch.no_grad()
def predict_view(
    model: MDTF, keypoints: NDArray[np.float32], *, flip: bool = True, batch_size: int = 8
) -> NDArray[np.float32]:
    """Network-unit predictions ``(N, 17, 3)`` for a whole sequence, overlapping frames averaged."""
    frames = keypoints.shape[0]
    length = model.config.frames
    starts = clip_starts(frames, length, stride=length)
    device = next(model.parameters()).device
    total = np.zeros((frames, keypoints.shape[1], 3), dtype=np.float64)
    counts = np.zeros(frames, dtype=np.float64)
    for first in range(0, len(starts), batch_size):
        batch_starts = starts[first : first + batch_size]
        indices = [clip_indices(s, length, frames) for s in batch_starts]
        clips = torch.from_numpy(np.stack([keypoints[i] for i in indices])).to(device)
        predictions = model.predict(clips, flip=flip).cpu().numpy()
        for index, prediction in zip(indices, predictions):
            unique, position = np.unique(index, return_index=True)  # clamped edge frames count once
            total[unique] += prediction[position]
            counts[unique] += 1
    return (total / counts[:, None, None]).astype(np.float32)


def evaluate_views(
    model: MDTF,
    views: list[H36MView],
    *,
    inputs: Inputs = "gt",
    flip: bool = True,
    batch_size: int = 8,
    progress: bool = False,
) -> EvaluationReport:
    """Run the protocol over ``views`` with ground-truth (``"gt"``) or detected 2D input."""
    was_training = model.training
    model.eval()
    errors: dict[str, dict[str, list[NDArray[np.float64]]]] = defaultdict(lambda: defaultdict(list))
    frames = 0
    try:
        for view in tqdm(views, desc=f"evaluate ({inputs} 2D)", disable=not progress, unit="view"):
            predicted = predict_view(model, network_input(view, inputs), flip=flip, batch_size=batch_size)
            predicted_mm = predicted * view.mm_per_unit[:, None, None]
            predicted_mm = predicted_mm - predicted_mm[:, :1]
            for name, metric in (("mpjpe", mpjpe), ("p_mpjpe", p_mpjpe), ("n_mpjpe", n_mpjpe), ("mpjve", mpjve)):
                errors[view.action_name][name].append(metric(predicted_mm, view.joints_mm))
            frames += view.frames
    finally:
        model.train(was_training)
    return _report(errors, inputs, frames)


def evaluate_views_with_lifter(
    lifter: Lifter,
    views: list[H36MView],
    *,
    inputs: Inputs = "gt",
    flip: bool = True,
    progress: bool = False,
) -> EvaluationReport:
    """The same protocol on the Lifter's own metric output: pixels in, metres out.

    No ground-truth scale is used: each subject's height (from its ground-truth skeleton, see
    :func:`subject_heights`) goes in as ``subject_height`` and the Lifter's scale model does the rest.
    """
    heights = subject_heights(views)
    errors: dict[str, dict[str, list[NDArray[np.float64]]]] = defaultdict(lambda: defaultdict(list))
    frames = 0
    for view in tqdm(views, desc=f"evaluate Lifter ({inputs} 2D)", disable=not progress, unit="view"):
        result = lifter.lift(
            pixel_input(view, inputs), layout="h36m", image_size=(view.width, view.height),
            fps=lifter.fps, flip=flip, subject_height=heights[view.subject], progress=False,
        )
        predicted_mm = result.joints_3d.astype(np.float64) * 1000
        for name, metric in (("mpjpe", mpjpe), ("p_mpjpe", p_mpjpe), ("n_mpjpe", n_mpjpe), ("mpjve", mpjve)):
            errors[view.action_name][name].append(metric(predicted_mm, view.joints_mm))
        frames += view.frames
    return _report(errors, f"{inputs}, Lifter metric output", frames)


def _report(errors: dict[str, dict[str, list[NDArray[np.float64]]]], inputs: str, frames: int) -> EvaluationReport:
    per_action = {
        action: {name: float(np.concatenate(values).mean()) for name, values in metrics.items()}
        for action, metrics in errors.items()
    }
    return EvaluationReport(inputs=inputs, per_action=per_action, frames=frames)
