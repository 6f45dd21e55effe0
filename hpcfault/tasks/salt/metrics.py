"""Salt scores: pixel IoU, Dice, precision and recall, and the TGS competition metric per image.

Counts are integers (and sums of per-image scores) over a grid of probability thresholds, so they
add up over tiles, sections, slabs and ranks, and the best threshold is found from the totals:

    tp, fp, fn       pixel counts at each threshold (salt = probability >= threshold)
    tgs              sum over images of the TGS score at each threshold
    images           number of images

The TGS score of one image is the mean over IoU levels 0.50, 0.55, ..., 0.95 of [IoU > level]; an
empty truth scores 1 when nothing is predicted and 0 otherwise, a non-empty truth with an empty
prediction scores 0. The competition averaged it over images (TGS Salt Identification Challenge,
2018). IoU = tp / (tp + fp + fn), Dice = 2 tp / (2 tp + fp + fn) over all pixels; a ratio whose
denominator is 0 is 1 when nothing was to be found and nothing was predicted.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from hpcfault.errors import HpcfaultError
from hpcfault.metrics import DEFAULT_THRESHOLDS

IOU_LEVELS = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))
KEYS = ("tp", "fp", "fn", "tgs")


def image_score(pred: np.ndarray, truth: np.ndarray) -> float:
    """The TGS score of one image from boolean masks (see the module doc)."""
    p, t = np.asarray(pred, bool), np.asarray(truth, bool)
    if p.shape != t.shape:
        raise HpcfaultError(f"prediction and truth differ in shape (got {p.shape} and {t.shape}); "
                            "score masks of the same image")
    n_t, n_p = int(t.sum()), int(p.sum())
    if n_t == 0 or n_p == 0:
        return 1.0 if n_t == n_p else 0.0
    iou = np.count_nonzero(p & t) / np.count_nonzero(p | t)
    return float(np.mean([iou > level for level in IOU_LEVELS]))


def _scores_from(inter: np.ndarray, n_pred: np.ndarray, n_true: np.ndarray) -> np.ndarray:
    """TGS scores of many images from their intersections and sizes (same shapes)."""
    union = n_pred + n_true - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    hits = np.mean([iou > level for level in IOU_LEVELS], axis=0)
    empty = (n_true == 0) | (n_pred == 0)
    return np.where(empty, (n_true == n_pred).astype(np.float64), hits)


def tile_counts(prob: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None,
                thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> dict[str, Any]:
    """Summable counts (see the module doc) of images `prob`, `truth` (N, H, W) or one (H, W);
    pixels where `mask` is 0 (e.g. padding) count nowhere."""
    prob, truth = np.asarray(prob, np.float32), np.asarray(truth)
    if prob.shape != truth.shape or (mask is not None and np.shape(mask) != prob.shape):
        raise HpcfaultError(f"prediction and labels differ in shape (got {prob.shape}, {truth.shape}"
                            f"{'' if mask is None else f', mask {np.shape(mask)}'}); score tiles of one size")
    if prob.ndim == 2:
        prob, truth = prob[None], truth[None]
        mask = None if mask is None else np.asarray(mask)[None]
    keep = np.ones(prob.shape, bool) if mask is None else np.asarray(mask) > 0
    t = (truth >= 0.5) & keep
    prob = np.where(np.isfinite(prob), prob, 0.0)
    n = prob.shape[0]
    n_true = t.reshape(n, -1).sum(1)
    out = {k: np.zeros(len(thresholds), np.int64) for k in ("tp", "fp", "fn")}
    out["tgs"] = np.zeros(len(thresholds), np.float64)
    for j, th in enumerate(thresholds):
        p = (prob >= th) & keep
        inter = (p & t).reshape(n, -1).sum(1)
        n_pred = p.reshape(n, -1).sum(1)
        out["tp"][j] = inter.sum()
        out["fp"][j] = n_pred.sum() - inter.sum()
        out["fn"][j] = n_true.sum() - inter.sum()
        out["tgs"][j] = _scores_from(inter, n_pred, n_true).sum()
    out["images"] = n
    return out


def empty_counts(thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> dict[str, Any]:
    out: dict[str, Any] = {k: np.zeros(len(thresholds), np.int64) for k in ("tp", "fp", "fn")}
    out["tgs"] = np.zeros(len(thresholds), np.float64)
    out["images"] = 0
    return out


def add(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {k: a[k] + b[k] for k in a}


def as_vector(counts: dict[str, Any]) -> np.ndarray:
    """All counts as one float64 vector (for a sum over ranks); `from_vector` inverts it."""
    return np.concatenate([np.asarray(counts[k], np.float64) for k in KEYS] + [[float(counts["images"])]])


def from_vector(v: Sequence[float], n: int) -> dict[str, Any]:
    v = np.asarray(v, np.float64)
    out: dict[str, Any] = {k: np.rint(v[i * n:(i + 1) * n]).astype(np.int64) for i, k in enumerate(KEYS[:3])}
    out["tgs"] = v[3 * n:4 * n]
    out["images"] = int(round(v[4 * n]))
    return out


def _ratio(num: float, den: float, empty: float) -> float:
    return float(num) / float(den) if den else empty


def scores_at(counts: dict[str, Any], j: int) -> dict[str, float]:
    """iou, dice, precision, recall and the TGS metric at threshold index j."""
    tp, fp, fn = (float(counts[k][j]) for k in ("tp", "fp", "fn"))
    nothing = 1.0 if tp + fp + fn == 0 else 0.0
    return {"iou": _ratio(tp, tp + fp + fn, nothing), "dice": _ratio(2 * tp, 2 * tp + fp + fn, nothing),
            "precision": _ratio(tp, tp + fp, nothing), "recall": _ratio(tp, tp + fn, nothing),
            "tgs": _ratio(float(counts["tgs"][j]), counts["images"], nothing)}


def best_index(counts: dict[str, Any], thresholds: Sequence[float] = DEFAULT_THRESHOLDS, key: str = "tgs") -> int:
    """Index of the threshold with the highest `key` score; ties go to the threshold nearest 0.5."""
    values = np.array([scores_at(counts, j)[key] for j in range(len(thresholds))])
    best = np.flatnonzero(values >= values.max() - 1e-12)
    return int(best[np.argmin(np.abs(np.asarray(thresholds)[best] - 0.5))])


def nearest_index(thresholds: Sequence[float], threshold: float) -> int:
    th = np.asarray(thresholds, np.float64)
    j = int(np.argmin(np.abs(th - threshold)))
    if abs(th[j] - threshold) > 1e-9:
        raise HpcfaultError(f"threshold {threshold:g} is not on the grid (got {threshold}); use one of "
                            f"{', '.join(f'{t:g}' for t in thresholds)}")
    return j


def report(counts: dict[str, Any], threshold: float, thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> dict:
    """The scores at `threshold` and at the best threshold by the TGS metric, as a JSON-able dict."""
    j = nearest_index(thresholds, threshold)
    b = best_index(counts, thresholds)
    return {"threshold": float(threshold), "scores": scores_at(counts, j), "images": int(counts["images"]),
            "pixels": {k: int(counts[k][j]) for k in ("tp", "fp", "fn")},
            "best_threshold": {"threshold": float(thresholds[b]), **scores_at(counts, b)},
            "by_threshold": {f"{t:g}": scores_at(counts, k) for k, t in enumerate(thresholds)}}
