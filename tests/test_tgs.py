"""The TGS layout: run-length encoding against hand-made cases, the folder reader, the seed's
split, and the competition metric."""
from __future__ import annotations

import numpy as np
import pytest

from hpcfault.errors import HpcfaultError
from hpcfault.io.tgs import read_tgs, rle_decode, rle_encode, split_ids, write_png
from hpcfault.tasks.salt import metrics as sm


@pytest.mark.parametrize("mask, text", [
    ([[0, 0], [0, 0]], ""),
    ([[1, 1], [1, 1]], "1 4"),
    ([[1, 0], [1, 1]], "1 2 4 1"),                 # column-major: down the first column, then the second
    ([[0, 1, 0], [0, 1, 1], [1, 0, 1]], "3 3 8 2"),  # a run continues from the bottom of one column to the next
    ([[1], [0], [1]], "1 1 3 1"),
    ([[1, 0, 1]], "1 1 3 1"),
])
def test_rle_hand_made_cases(mask, text):
    mask = np.array(mask, np.uint8)
    assert rle_encode(mask) == text
    assert np.array_equal(rle_decode(text, mask.shape), mask)


def test_rle_round_trips_random_masks_and_refuses_bad_text():
    rng = np.random.default_rng(0)
    for _ in range(20):
        m = (rng.random((101, 101)) < rng.random()).astype(np.uint8)
        assert np.array_equal(rle_decode(rle_encode(m), m.shape), m)
    for bad in ("1", "a b", "3 1 2 1", "1 0", "4 2"):
        with pytest.raises(HpcfaultError, match="run-length"):
            rle_decode(bad, (2, 2))


def test_seed_split_proportions_are_fixed_and_disjoint():
    ids = [f"{k:010x}" for k in range(4000)]
    parts = {p: split_ids(ids, p) for p in ("train", "val", "test")}
    assert {p: len(v) for p, v in parts.items()} == {"train": 3420, "val": 380, "test": 200}
    assert set().union(*parts.values()) == set(ids) and sum(map(len, parts.values())) == 4000
    assert split_ids(list(reversed(ids)), "val") == parts["val"]
    with pytest.raises(HpcfaultError, match="valid: train, val, test, all"):
        split_ids(ids, "holdout")


def _folder(root, masks, with_png=True, csv_masks=None):
    (root / "train" / "images").mkdir(parents=True)
    rows = ["id,rle_mask"]
    for k, m in enumerate(masks):
        write_png(root / "train" / "images" / f"t{k}.png", (m * 200 + 20).astype(np.uint8))
        if with_png:
            (root / "train" / "masks").mkdir(exist_ok=True)
            write_png(root / "train" / "masks" / f"t{k}.png", m * 255)
        rows.append(f"t{k},{rle_encode((csv_masks or masks)[k])}")
    (root / "train.csv").write_text("\n".join(rows) + "\n")
    (root / "depths.csv").write_text("id,z\n" + "".join(f"t{k},{100 * k}\n" for k in range(len(masks))))


def test_read_tgs_from_masks_or_csv_and_checks_they_agree(tmp_path):
    rng = np.random.default_rng(1)
    masks = [(rng.random((11, 11)) < 0.4).astype(np.uint8) for _ in range(3)]
    _folder(tmp_path / "a", masks)
    s = read_tgs(tmp_path / "a")
    assert s.ids == ("t0", "t1", "t2") and np.array_equal(s.masks, np.stack(masks))
    assert s.depths == {"t0": 0.0, "t1": 100.0, "t2": 200.0} and s.images.dtype == np.uint8
    _folder(tmp_path / "b", masks, with_png=False)                       # train.csv only
    assert np.array_equal(read_tgs(tmp_path / "b").masks, np.stack(masks))
    _folder(tmp_path / "c", masks, csv_masks=[1 - m for m in masks])     # disagreeing CSV
    with pytest.raises(HpcfaultError, match="disagree on tile t0"):
        read_tgs(tmp_path / "c")
    with pytest.raises(HpcfaultError, match="no PNG tiles"):
        read_tgs(tmp_path / "missing")


def test_tgs_metric_hand_cases():
    z = np.zeros((4, 4), bool)
    full = np.ones((4, 4), bool)
    assert sm.image_score(z, z) == 1.0
    assert sm.image_score(full, z) == 0.0 and sm.image_score(z, full) == 0.0
    truth = np.zeros((10, 10), bool)
    truth[:, :7] = True                               # 70 pixels
    pred = np.zeros((10, 10), bool)
    pred[:, :10] = True                               # IoU 0.7: passes 0.50 ... 0.65 (> t), not 0.70
    assert sm.image_score(pred, truth) == pytest.approx(0.4)
    assert sm.image_score(truth, truth) == 1.0
    z = np.zeros((10, 10), bool)
    counts = sm.tile_counts(np.stack([pred, z, truth]).astype(np.float32), np.stack([truth, z, truth]))
    j = sm.nearest_index(sm.DEFAULT_THRESHOLDS, 0.5)
    s = sm.scores_at(counts, j)
    assert s["tgs"] == pytest.approx((0.4 + 1 + 1) / 3)
    assert s["iou"] == pytest.approx(140 / 170) and s["dice"] == pytest.approx(280 / 310)
    assert s["precision"] == pytest.approx(140 / 170) and s["recall"] == 1.0
    back = sm.from_vector(sm.as_vector(counts), len(sm.DEFAULT_THRESHOLDS))
    assert all(np.array_equal(back[k], counts[k]) for k in ("tp", "fp", "fn")) and back["images"] == 3


def test_best_threshold_is_found_on_the_totals():
    truth = np.zeros((2, 8, 8), np.uint8)
    truth[0, :4] = 1
    prob = np.where(truth > 0, 0.35, 0.1).astype(np.float32)       # salt scored low: best threshold below 0.5
    counts = sm.tile_counts(prob, truth)
    rep = sm.report(counts, 0.5)
    assert rep["scores"]["tgs"] == 0.5 and rep["best_threshold"]["tgs"] == 1.0
    assert 0.1 < rep["best_threshold"]["threshold"] <= 0.35
