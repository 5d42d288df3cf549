"""Detector layouts -> H36M-17: copies, midpoints, confidences and missing joints, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from mtf_pose import skeleton
from mtf_pose.layouts import LAYOUTS, get_layout, layouts_with

H36M = {name: i for i, name in enumerate(skeleton.JOINT_NAMES)}


def points(layout: str) -> tuple[np.ndarray, np.ndarray]:
    """Joint j of the layout at (j, 10 j), confidence (j + 1) / 100."""
    count = get_layout(layout).num_joints
    xy = np.stack([np.arange(count), 10 * np.arange(count)], axis=-1)[None].astype(float)
    return xy, (np.arange(count)[None] + 1) / 100


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_layout_maps_all_17_joints_and_weights_sum_to_one(layout: str) -> None:
    weights = get_layout(layout).weights()
    assert weights.shape == (17, get_layout(layout).num_joints)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)


def test_coco_by_hand() -> None:
    xy, confidence = points("coco")
    mapped, scores = get_layout("coco").to_h36m(xy, confidence)
    coco = {name: i for i, name in enumerate(get_layout("coco").joint_names)}

    def at(*names: str) -> np.ndarray:
        return np.mean([xy[0, coco[n]] for n in names], axis=0)

    np.testing.assert_allclose(mapped[0, H36M["right_knee"]], at("right_knee"))
    np.testing.assert_allclose(mapped[0, H36M["pelvis"]], at("left_hip", "right_hip"))
    np.testing.assert_allclose(mapped[0, H36M["thorax"]], at("left_shoulder", "right_shoulder"))
    np.testing.assert_allclose(mapped[0, H36M["spine"]], at("left_hip", "right_hip", "left_shoulder", "right_shoulder"))
    np.testing.assert_allclose(mapped[0, H36M["head"]], at("left_eye", "right_eye"))
    np.testing.assert_allclose(mapped[0, H36M["neck"]], at("nose"))
    # A derived joint is as confident as its least confident source.
    assert scores[0, H36M["pelvis"]] == pytest.approx(
        min(confidence[0, coco["left_hip"]], confidence[0, coco["right_hip"]])
    )


@pytest.mark.parametrize(("layout", "pelvis", "thorax", "head"), [
    ("halpe26", ["hip"], ["neck"], ["head"]),
    ("openpose_body25", ["mid_hip"], ["neck"], ["left_eye", "right_eye"]),
    ("mediapipe33", ["left_hip", "right_hip"], ["left_shoulder", "right_shoulder"], ["left_eye", "right_eye"]),
])
def test_other_layouts_by_hand(layout: str, pelvis: list[str], thorax: list[str], head: list[str]) -> None:
    xy, confidence = points(layout)
    mapped, _ = get_layout(layout).to_h36m(xy, confidence)
    index = {name: i for i, name in enumerate(get_layout(layout).joint_names)}
    for target, sources in (("pelvis", pelvis), ("thorax", thorax), ("head", head), ("left_wrist", ["left_wrist"])):
        np.testing.assert_allclose(mapped[0, H36M[target]], np.mean([xy[0, index[s]] for s in sources], axis=0))


def test_a_missing_source_makes_its_derived_joints_missing() -> None:
    xy, confidence = points("coco")
    xy[0, 11] = np.nan  # coco left_hip
    mapped, _ = get_layout("coco").to_h36m(xy, confidence)
    missing = {skeleton.JOINT_NAMES[j] for j in np.where(np.isnan(mapped[0]).any(-1))[0]}
    assert missing == {"pelvis", "left_hip", "spine"}


def test_layout_lookup() -> None:
    assert layouts_with(17) == ["coco", "h36m"] and layouts_with(33) == ["mediapipe33"]
    with pytest.raises(ValueError, match="unknown joint layout 'body18'"):
        get_layout("body18")
