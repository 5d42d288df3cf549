"""Joint layouts as detectors write them: whole-body variants, and telling COCO from H36M when a file
does not say."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from mtf_pose.io.base import KeypointReadError

# Joint count -> (layout, joints kept). Whole-body layouts begin with a body layout we support:
# COCO-WholeBody (133) with the 17 COCO joints, Halpe-136 with the 26 Halpe joints.
_DETECTOR_LAYOUTS: dict[int, tuple[str, int]] = {
    17: ("coco", 17),
    26: ("halpe26", 26),
    133: ("coco", 17),
    136: ("halpe26", 26),
}


def detector_layout(num_joints: int, what: str) -> tuple[str, int, str | None]:
    """Layout, joints to keep and a note for a COCO-family detector's ``num_joints`` keypoints."""
    if num_joints not in _DETECTOR_LAYOUTS:
        raise KeypointReadError(
            f"{what} have {num_joints} joints; supported: 17 (COCO), 26 (Halpe-26), 133 (COCO-WholeBody) "
            "and 136 (Halpe-136)"
        )
    layout, keep = _DETECTOR_LAYOUTS[num_joints]
    note = None
    if keep != num_joints:
        note = f"{num_joints} whole-body joints: the first {keep} ({layout} body joints) are used"
    return layout, keep, note


# COCO's joints 0-4 are the face (nose, eyes, ears): a tight cluster. H36M's joints 0-4 are the pelvis,
# right hip, knee and ankle, and left hip: half the body. Their spread relative to the whole pose tells
# the two apart; between the thresholds no guess is made.
_COCO_FACE_SPREAD = 0.25
_H36M_HIP_SPREAD = 0.35


def guess_17_joint_layout(keypoints: NDArray[np.floating]) -> str | None:
    """``"coco"`` or ``"h36m"`` from the positions of 17 joints (``(frames, 17, 2+)``), or ``None``."""
    xy = np.asarray(keypoints, dtype=np.float64)[..., :2]
    complete = xy[~np.isnan(xy).any(axis=(1, 2))]
    if xy.shape[1:2] != (17,) or not len(complete):
        return None
    whole = np.linalg.norm(complete.max(1) - complete.min(1), axis=-1)
    first_five = np.linalg.norm(complete[:, :5].max(1) - complete[:, :5].min(1), axis=-1)
    spread = float(np.median(first_five / np.maximum(whole, 1e-9)))
    if spread < _COCO_FACE_SPREAD:
        return "coco"
    if spread > _H36M_HIP_SPREAD:
        return "h36m"
    return None
