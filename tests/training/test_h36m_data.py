"""The Human3.6M preparation against independent evidence (skipped without ../shared/data/h36m).

The Stacked Hourglass detections were made from the images by a separate network, so agreement between
them and our projection of the motion capture checks the camera handling (rotation, centre,
intrinsics, distortion) end to end.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mtf_pose.training.h36m import HEAD, NECK, THORAX, Camera, fit_neck_model, load_views

pytestmark = pytest.mark.h36m


@pytest.fixture(scope="module")
def s8(h36m_root: Path) -> list:
    return load_views(h36m_root, ["S8"])


def test_projection_agrees_with_the_independent_detector(s8: list) -> None:
    errors = np.concatenate([
        np.linalg.norm(
            view.keypoints_gt_px - (view.keypoints_detected + [1, view.height / view.width]) * view.width / 2, axis=-1
        )
        for view in s8
    ])
    # Joints both skeletons define the same way (not the spine, neck or head, which the two place differently).
    limbs = [0, 1, 2, 3, 4, 5, 6, 8, 11, 12, 13, 14, 15, 16]
    assert np.median(errors[:, limbs]) < 12.0, np.median(errors[:, limbs], axis=0)


def test_scale_matches_the_pinhole_model(s8: list, h36m_root: Path) -> None:
    import json

    cameras = json.loads((h36m_root / "h36m_cameras.json").read_text())
    view = s8[0]
    camera = Camera.from_json(cameras[f"{view.subject}/{view.camera}"])
    pixels_per_metre = view.width / 2 / (view.mm_per_unit / 1000)
    # Under a pinhole camera, a body at depth Z spans about f / Z pixels per metre.
    motion = np.load(h36m_root / "h36m_train_3d17.npz")[f"{view.subject}/{view.action}"][: view.frames]
    depth = camera.world_to_camera(motion)[:, 0, 2]
    np.testing.assert_allclose(pixels_per_metre, camera.focal.mean() / depth, rtol=0.08)


def test_target_is_the_metric_pose_in_network_units(s8: list) -> None:
    view = s8[3]
    np.testing.assert_allclose(view.target * view.mm_per_unit[:, None, None], view.joints_mm, rtol=1e-4, atol=0.05)
    assert (view.target[:, 0] == 0).all()


def test_the_neck_model_fitted_on_other_subjects_places_s8_necks(s8: list) -> None:
    model = fit_neck_model([v.keypoints_gt_px for v in s8[:4]])
    for view in s8[4:12]:
        predicted = model.apply(view.keypoints_gt_px[:, THORAX], view.keypoints_gt_px[:, HEAD])
        error = np.linalg.norm(predicted - view.keypoints_gt_px[:, NECK], axis=-1)
        assert np.median(error) < 8.0
