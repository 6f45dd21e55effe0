"""Scores from summable counts: hand cases, tolerance matching, exact streaming with a halo."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from hpcfault.errors import HpcfaultError
from hpcfault.metrics import (DEFAULT_THRESHOLDS, add_counts, ball, best_threshold, score_counts,
                              scores, slab_plan, stream_counts, threshold_counts)


def test_hand_computed_counts_and_scores():
    prob = np.array([[[0.9, 0.8, 0.1, 0.6, 0.2, 0.0]]])
    label = np.array([[[1, 1, 1, 0, 0, 0]]], dtype=np.uint8)
    c = score_counts(prob, label, radius=0)
    assert (c["tp"], c["fp"], c["fn"], c["tn"]) == (2, 1, 1, 2)
    s = scores(c)
    assert s["iou"] == pytest.approx(2 / 4)
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(2 / 3)
    # radius 0: tolerance scores equal the plain ones
    assert s["tol_f1"] == pytest.approx(s["f1"]) and s["tol_iou"] == pytest.approx(s["iou"])


def test_threshold_is_inclusive_and_mask_restricts_scoring():
    prob = np.array([[[0.5, 0.49, 0.9, 0.9]]])
    label = np.array([[[1, 1, 0, 1]]])
    mask = np.array([[[1, 1, 1, 0]]])
    c = score_counts(prob, label, mask, radius=0)
    assert (c["tp"], c["fp"], c["fn"], c["tn"]) == (1, 1, 1, 0)


def test_tolerance_matches_within_two_voxels_euclidean():
    label = np.zeros((1, 12, 12), np.uint8)
    label[0, :, 5] = 1                           # a vertical fault line
    prob = np.zeros((1, 12, 12))
    prob[0, :6, 7] = 0.9                         # 2 voxels off: matched
    prob[0, 6:, 8] = 0.9                         # 3 voxels off: not matched
    c = score_counts(prob, label, radius=2)
    assert c["tp"] == 0
    assert (c["tol_pred_hit"], c["pred_pos"]) == (6, 12)
    assert (c["tol_label_hit"], c["label_pos"]) == (6, 12)
    s = scores(c)
    assert s["iou"] == 0.0
    assert s["tol_precision"] == pytest.approx(0.5) and s["tol_recall"] == pytest.approx(0.5)
    assert s["tol_f1"] == pytest.approx(0.5)
    assert s["tol_iou"] == pytest.approx(0.5 / 1.5)
    # a diagonal offset (1, 1, 1) has length sqrt(3) <= 2, (2, 1, 0) has sqrt(5) > 2
    assert ball(2)[3, 3, 3] and not ball(2)[4, 3, 2] and ball(2).sum() == 33


def test_tolerance_counts_match_a_distance_transform():
    rng = np.random.default_rng(3)
    prob = rng.random((10, 11, 12))
    label = rng.random((10, 11, 12)) > 0.93
    c = score_counts(prob, label, threshold=0.95, radius=2)
    pred = prob >= 0.95
    d_to_label = ndimage.distance_transform_edt(~label)
    d_to_pred = ndimage.distance_transform_edt(~pred)
    assert c["tol_pred_hit"] == int(np.count_nonzero(pred & (d_to_label <= 2)))
    assert c["tol_label_hit"] == int(np.count_nonzero(label & (d_to_pred <= 2)))


def test_empty_truth_and_empty_prediction_is_perfect_and_nonfinite_prob_is_no_fault():
    s = scores(score_counts(np.zeros((2, 3, 4)), np.zeros((2, 3, 4))))
    assert s["iou"] == 1.0 and s["tol_iou"] == 1.0
    prob = np.full((1, 2, 2), np.nan)
    s = scores(score_counts(prob, np.ones((1, 2, 2))))
    assert s["iou"] == 0.0 and s["recall"] == 0.0 and s["tol_iou"] == 0.0


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(HpcfaultError, match=r"differ in shape \(got prediction \(2, 3, 4\), labels \(2, 3, 5\)"):
        score_counts(np.zeros((2, 3, 4)), np.zeros((2, 3, 5)))


@pytest.mark.parametrize("slab,radius", [(1, 2), (3, 2), (5, 1), (64, 2), (4, 3)])
def test_streamed_counts_with_halo_equal_whole_volume_counts(slab, radius):
    rng = np.random.default_rng(7)
    shape = (9, 17, 10)
    label = ndimage.binary_dilation(rng.random(shape) > 0.97)
    prob = np.clip(label * 0.3 + rng.random(shape) * 0.6, 0, 1).astype(np.float32)
    mask = np.zeros(shape, np.uint8)
    mask[:, ::2] = 1
    whole = score_counts(prob, label, mask, threshold=0.5, radius=radius)
    whole_grid = threshold_counts(prob, label, mask)

    def read(sl):
        return prob[:, sl], label[:, sl], mask[:, sl]

    done = []
    total, grid = stream_counts(read, shape[1], threshold=0.5, radius=radius, slab=slab,
                                progress=done.append)
    assert total == whole
    assert sum(done) == shape[1]
    for k in whole_grid:
        np.testing.assert_array_equal(grid[k], whole_grid[k])
    # without a halo, slab borders would miss tolerance matches: the halo is what makes it exact
    no_halo = {}
    for start in range(0, shape[1], slab):
        sl = slice(start, min(shape[1], start + slab))
        no_halo = add_counts(no_halo, score_counts(prob[:, sl], label[:, sl], mask[:, sl], 0.5, radius))
    assert no_halo["tp"] == whole["tp"]
    if slab < 5:
        assert (no_halo["tol_pred_hit"] + no_halo["tol_label_hit"]
                < whole["tol_pred_hit"] + whole["tol_label_hit"])


def test_slab_plan_covers_once_with_clipped_halo():
    plan = slab_plan(10, 4, 2)
    assert [(r.start, r.stop, c.start, c.stop) for r, c in plan] == [
        (0, 6, 0, 4), (2, 10, 2, 6), (6, 10, 2, 4)]
    with pytest.raises(HpcfaultError, match="thickness"):
        slab_plan(10, 0, 2)


def test_threshold_grid_counts_equal_single_threshold_counts_and_best_threshold():
    rng = np.random.default_rng(1)
    label = rng.random((6, 7, 8)) > 0.8
    prob = np.clip(label * 0.35 + rng.random((6, 7, 8)) * 0.6, 0, 1)
    grid = threshold_counts(prob, label)
    for j, t in enumerate(DEFAULT_THRESHOLDS):
        c = score_counts(prob, label, threshold=t, radius=0)
        assert (grid["tp"][j], grid["fp"][j], grid["fn"][j]) == (c["tp"], c["fp"], c["fn"])
    t_best, iou_best = best_threshold(grid)
    ious = [scores(score_counts(prob, label, threshold=t, radius=0))["iou"] for t in DEFAULT_THRESHOLDS]
    assert iou_best == pytest.approx(max(ious))
    assert t_best == DEFAULT_THRESHOLDS[int(np.argmax(ious))]
    with pytest.raises(HpcfaultError, match="ascending"):
        threshold_counts(prob, label, thresholds=[0.5, 0.3])
