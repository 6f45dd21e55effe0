"""Segmentation scores from integer counts that can be summed over blocks, slabs and ranks.

Definitions (P = predicted fault voxels, prob >= threshold; L = label voxels, label >= 0.5; both
restricted to the scored voxels, i.e. mask = 1 when a mask is given):

    tp = |P & L|, fp = |P - L|, fn = |L - P|, tn = the remaining scored voxels
    iou = tp / (tp + fp + fn)                  (paper eq. 19)
    precision = tp / (tp + fp), recall = tp / (tp + fn), f1 = 2 tp / (2 tp + fp + fn)

Tolerance scores with a matching radius r (default 2 voxels, Euclidean ball |d| <= r):

    tol_precision = |{p in P : some l in L with |p - l| <= r}| / |P|
    tol_recall    = |{l in L : some p in P with |p - l| <= r}| / |L|
    tol_f1 = 2 tol_precision tol_recall / (tol_precision + tol_recall)
    tol_iou = tol_f1 / (2 - tol_f1)            ("Tol-IoU@2", the IoU that this F1 corresponds to)

With a mask, both P and L are taken inside the mask only (a prediction outside the labelled slices
neither counts nor matches). A score whose denominator is 0 is reported as 1.0 when nothing was to
be found and nothing was predicted, else 0.0.

Streaming: `score_counts(..., core=...)` counts only the voxels of `core` and uses the rest of the
arrays as context. Reading each slab with a halo of `radius` voxels on each side (clipped at the
volume border) makes the summed counts equal the whole-volume counts exactly: the tolerance ball of
a core voxel never leaves core + halo. `stream_counts` does this for a whole volume.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from hpcfault.errors import HpcfaultError

DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 20))
COUNT_KEYS = ("tp", "fp", "fn", "tn", "tol_pred_hit", "pred_pos", "tol_label_hit", "label_pos")
Slices = tuple[slice, slice, slice]


def ball(radius: float, ndim: int = 3) -> np.ndarray:
    """Boolean structuring element: every offset d with |d| <= radius (Euclidean)."""
    r = int(np.floor(radius))
    grid = np.indices((2 * r + 1,) * ndim) - r
    return (grid ** 2).sum(axis=0) <= radius ** 2


def angle_error(pred: np.ndarray, truth: np.ndarray, period: float) -> np.ndarray:
    """Absolute difference of two angles (degrees) on a circle of `period` (360; strike: 180), float64."""
    d = np.abs(np.asarray(pred, np.float64) - np.asarray(truth, np.float64)) % period
    return np.minimum(d, period - d)


def dilate(a: np.ndarray, radius: float) -> np.ndarray:
    """Voxels within `radius` of a True voxel of `a` (nothing outside the array counts)."""
    if radius <= 0 or not a.any():
        return a.copy()
    from scipy import ndimage

    return ndimage.binary_dilation(a, structure=ball(radius, a.ndim))


def _prepare(prob: np.ndarray, label: np.ndarray, mask: np.ndarray | None) -> tuple:
    prob = np.asarray(prob)
    label = np.asarray(label)
    if prob.shape != label.shape or (mask is not None and np.shape(mask) != prob.shape):
        raise HpcfaultError(
            f"prediction and labels differ in shape (got prediction {prob.shape}, labels {label.shape}"
            f"{'' if mask is None else f', mask {np.shape(mask)}'}); score volumes of the same survey")
    scored = np.ones(prob.shape, bool) if mask is None else np.asarray(mask) > 0
    prob = np.where(np.isfinite(prob), prob, 0.0)   # a non-finite probability counts as "no fault"
    return prob, (label >= 0.5) & scored, scored


def _core(shape: Sequence[int], core: Slices | None) -> Slices:
    if core is None:
        return tuple(slice(0, s) for s in shape)  # type: ignore[return-value]
    return tuple(slice(*c.indices(s)[:2]) for c, s in zip(core, shape))  # type: ignore[return-value]


def score_counts(prob: np.ndarray, label: np.ndarray, mask: np.ndarray | None = None,
                 threshold: float = 0.5, radius: float = 2, core: Slices | None = None) -> dict[str, int]:
    """Integer counts (see the module docstring) over the voxels of `core` (default: all).

    The arrays may extend beyond `core` by up to `radius` voxels per side (a halo); the halo only
    serves as neighbourhood for the tolerance matching. Counts of disjoint cores add up.
    """
    prob, lab, scored = _prepare(prob, label, mask)
    pred = (prob >= threshold) & scored
    c = _core(prob.shape, core)
    pc, lc, sc = pred[c], lab[c], scored[c]
    tp = int(np.count_nonzero(pc & lc))
    pred_pos = int(np.count_nonzero(pc))
    label_pos = int(np.count_nonzero(lc))
    n = int(np.count_nonzero(sc))
    near_label = dilate(lab, radius)[c]
    near_pred = dilate(pred, radius)[c]
    return {"tp": tp, "fp": pred_pos - tp, "fn": label_pos - tp, "tn": n - pred_pos - label_pos + tp,
            "tol_pred_hit": int(np.count_nonzero(pc & near_label)), "pred_pos": pred_pos,
            "tol_label_hit": int(np.count_nonzero(lc & near_pred)), "label_pos": label_pos}


def add_counts(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Sum two count dicts key by key (ints or per-threshold integer arrays)."""
    if not a:
        return dict(b)
    return {k: a[k] + b[k] for k in a}


def _ratio(num: float, den: float, empty: float) -> float:
    return float(num) / float(den) if den else empty


def scores(counts: dict[str, int]) -> dict[str, float]:
    """iou, precision, recall, f1 and their 2-voxel-tolerance twins from (summed) counts."""
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    nothing = 1.0 if tp + fp + fn == 0 else 0.0  # empty prediction of an empty truth is perfect
    precision = _ratio(tp, tp + fp, nothing)
    recall = _ratio(tp, tp + fn, nothing)
    tol_p = _ratio(counts["tol_pred_hit"], counts["pred_pos"], nothing)
    tol_r = _ratio(counts["tol_label_hit"], counts["label_pos"], nothing)
    tol_f1 = _ratio(2 * tol_p * tol_r, tol_p + tol_r, nothing)
    return {"iou": _ratio(tp, tp + fp + fn, nothing), "precision": precision, "recall": recall,
            "f1": _ratio(2 * tp, 2 * tp + fp + fn, nothing),
            "tol_precision": tol_p, "tol_recall": tol_r, "tol_f1": tol_f1, "tol_iou": tol_f1 / (2.0 - tol_f1)}


def threshold_counts(prob: np.ndarray, label: np.ndarray, mask: np.ndarray | None = None,
                     thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                     core: Slices | None = None) -> dict[str, np.ndarray]:
    """tp, fp, fn for every threshold of an ascending grid at once (int64 arrays, summable)."""
    th = np.asarray(thresholds, dtype=np.float64)
    if th.ndim != 1 or th.size == 0 or np.any(np.diff(th) <= 0):
        raise HpcfaultError(f"thresholds must be a non-empty ascending list (got {list(thresholds)})")
    prob, lab, scored = _prepare(prob, label, mask)
    c = _core(prob.shape, core)
    p, lc, sc = prob[c], lab[c], scored[c]

    def at_least(values: np.ndarray) -> np.ndarray:
        # number of values >= th[j] for each j: bin each value by how many thresholds it reaches
        reached = np.searchsorted(th, values, side="right")
        hist = np.bincount(reached, minlength=th.size + 1)
        return np.cumsum(hist[::-1])[::-1][1:].astype(np.int64)

    pos = at_least(p[sc])
    tp = at_least(p[lc])
    return {"tp": tp, "fp": pos - tp, "fn": np.int64(np.count_nonzero(lc)) - tp}


def best_threshold(counts: dict[str, np.ndarray],
                   thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> tuple[float, float]:
    """(threshold, iou) with the highest IoU from `threshold_counts` (summed); ties -> lowest."""
    tp, fp, fn = (np.asarray(counts[k], dtype=np.float64) for k in ("tp", "fp", "fn"))
    den = tp + fp + fn
    iou = np.where(den > 0, tp / np.where(den > 0, den, 1), 1.0)
    k = int(np.argmax(iou))
    return float(thresholds[k]), float(iou[k])


def slab_plan(n: int, thickness: int, halo: int) -> list[tuple[slice, slice]]:
    """(read, core-within-read) slices cutting length n into slabs of `thickness` with a halo."""
    if thickness < 1:
        raise HpcfaultError(f"slab thickness must be >= 1 (got {thickness})")
    plan = []
    for start in range(0, n, thickness):
        stop = min(n, start + thickness)
        lo, hi = max(0, start - halo), min(n, stop + halo)
        plan.append((slice(lo, hi), slice(start - lo, stop - lo)))
    return plan


def stream_counts(read: Callable[[slice], tuple[np.ndarray, np.ndarray, np.ndarray | None]],
                  n_inlines: int, *, threshold: float = 0.5, radius: float = 2, slab: int = 32,
                  thresholds: Sequence[float] = DEFAULT_THRESHOLDS, part: tuple[int, int] = (0, 1),
                  progress: Callable[[int], None] | None = None) -> tuple[dict, dict]:
    """Counts of a whole volume read slab by slab along the inline axis (axis 1), with a halo.

    `read(inline_slice)` returns (prob, label, mask or None) for all times and crosslines of those
    inlines. Returns (counts at `threshold`, per-threshold counts for `thresholds`); both equal the
    counts of one whole-volume call. `part=(rank, size)` counts only slabs rank::size, so the
    results of all ranks add up to the whole-volume counts.
    """
    halo = int(np.ceil(radius))
    total: dict = {}
    grid: dict = {}
    rank, size = part
    for read_sl, core in slab_plan(n_inlines, slab, halo)[rank::size]:
        prob, label, mask = read(read_sl)
        c3 = (slice(None), core, slice(None))
        total = add_counts(total, score_counts(prob, label, mask, threshold, radius, core=c3))
        grid = add_counts(grid, threshold_counts(prob, label, mask, thresholds, core=c3))
        if progress is not None:
            progress(core.stop - core.start)
    if not total:  # a rank without slabs contributes zeros
        total = {k: 0 for k in COUNT_KEYS}
        zero = np.zeros(len(thresholds), np.int64)
        grid = {"tp": zero, "fp": zero.copy(), "fn": zero.copy()}
    return total, grid


def check_probabilities(prob: np.ndarray, what: str) -> None:
    """Raise unless every value is a finite probability in [0, 1]."""
    prob = np.asarray(prob)
    if prob.size == 0:
        return
    finite = np.isfinite(prob)
    if not finite.all():
        raise HpcfaultError(f"{what}: fault probabilities must be finite (got {prob.size - int(finite.sum())} "
                            "NaN or infinite values); score a prediction from 'hpcfault predict'")
    lo, hi = float(prob.min()), float(prob.max())
    if lo < 0.0 or hi > 1.0:
        raise HpcfaultError(f"{what}: fault probabilities must lie in [0, 1] (got values {lo:g}..{hi:g}); score a "
                            "prediction from 'hpcfault predict', not seismic amplitudes")


def check_labels(label: np.ndarray, what: str, from_data: bool = False) -> None:
    """Raise unless every value is 0 or 1 (a labels or mask volume)."""
    label = np.asarray(label)
    bad = (label != 0) & (label != 1)
    if bad.any():
        values = [float(v) if label.dtype.kind == "f" else int(v) for v in np.unique(label[bad])[:4]]
        what = (f"{what.rsplit(':', 1)[0]} has no 'labels' dataset and its 'data' is not 0/1 labels" if from_data
                else f"{what} must hold only 0 and 1")
        raise HpcfaultError(f"{what} (got values like {values}); pass a labels volume, e.g. from 'hpcfault synth' "
                            "or 'hpcfault labels sparsify'")


def check_score_options(threshold: float, radius: float) -> None:
    if not 0.0 <= threshold <= 1.0:
        raise HpcfaultError(f"--threshold must be a probability in [0, 1] (got {threshold}); e.g. 0.5")
    if not (np.isfinite(radius) and radius >= 0):
        raise HpcfaultError(f"--radius must be a finite number of voxels >= 0 (got {radius}); e.g. 2")


def scored_datasets(pf: Any, lf: Any, pred_path: Any, labels_path: Any, pname: str, lname: str,
                    use_mask: bool) -> tuple[Any, Any, Any]:
    """The prediction's `pname`, the labels' `lname` and (with `use_mask`) their `mask` datasets of
    two open volume files, checked to be volumes of one shape; the mask is None without `use_mask`."""
    from hpcfault.io.volume import check_volume

    pds = check_volume(pf, pred_path, pname)
    lds = check_volume(lf, labels_path, lname)
    if pds.shape != lds.shape:
        raise HpcfaultError(
            f"prediction {pred_path} has shape {pds.shape}, labels {labels_path}:{lname} {lds.shape}; "
            "score a prediction of the same survey (both (time, inline, xline))")
    mds = None
    if use_mask:
        if "mask" not in lf:
            raise HpcfaultError(f"{labels_path} has no 'mask' dataset (got {sorted(lf.keys())}); "
                                "leave out --mask to score every voxel")
        mds = check_volume(lf, labels_path, "mask")
    return pds, lds, mds


def evaluate_files(pred_path: str, labels_path: str, *, use_mask: bool = False, threshold: float = 0.5,
                   radius: float = 2, slab: int | None = None, memory_budget: int = 256 << 20,
                   thresholds: Sequence[float] = DEFAULT_THRESHOLDS, comm: Any = None,
                   dataset: str | None = None) -> dict[str, Any]:
    """Score a prediction volume file against a labels volume file, streamed by inline slabs.

    The probabilities are the prediction's `dataset` (None: `data`, or a task prediction's first
    output).
    Labels come from the `labels` dataset of `labels_path`, or from `data` when it has none; with
    `use_mask` only voxels where its `mask` dataset is 1 are scored. Slabs hold `slab` inlines
    (default: as many as fit `memory_budget`) plus a halo of `radius` inlines each side. Under MPI,
    ranks share the slabs and sum their counts; every rank returns the same report.
    """
    import contextlib

    from hpcfault.cluster.mpi import allreduce, get_comm
    from hpcfault.io.volume import open_volume

    comm = get_comm() if comm is None else comm
    check_score_options(threshold, radius)
    with contextlib.ExitStack() as stack:
        pf = stack.enter_context(open_volume(pred_path))
        lf = stack.enter_context(open_volume(labels_path))
        lname = "labels" if "labels" in lf else "data"
        pds, lds, mds = scored_datasets(pf, lf, pred_path, labels_path, dataset, lname, use_mask)
        t, n_il, x = pds.shape
        if slab is None:
            slab = int(max(1, min(n_il, memory_budget // max(1, t * x * 48))))

        def read(sl: slice) -> tuple:
            prob, label = pds[:, sl, :], lds[:, sl, :]
            mask = None if mds is None else mds[:, sl, :]
            check_probabilities(prob, str(pred_path))
            check_labels(label, f"{labels_path}:{lname}", from_data=lname == "data")
            if mask is not None:
                check_labels(mask, f"{labels_path}:mask")
            return prob, label, mask

        error = None
        try:
            counts, grid = stream_counts(read, n_il, threshold=threshold, radius=radius, slab=slab,
                                         thresholds=thresholds, part=(comm.rank, comm.size))
        except HpcfaultError as exc:   # every rank must hear of it before the reductions below
            error = str(exc)
        errors = [e for e in comm.allgather(error) if e]
        if errors:
            raise HpcfaultError(errors[0])
    counts = {k: int(allreduce(comm, int(v), "sum")) for k, v in counts.items()}
    grid = {k: np.asarray(allreduce(comm, np.asarray(v, np.int64), "sum")) for k, v in grid.items()}
    t_best, iou_best = best_threshold(grid, thresholds)
    den = grid["tp"] + grid["fp"] + grid["fn"]
    return {"prediction": str(pred_path), "labels": f"{labels_path}:{lname}", "mask": bool(use_mask),
            "shape": list(pds.shape), "threshold": float(threshold), "radius": float(radius),
            "counts": counts, "scores": scores(counts),
            "best_threshold": {"threshold": t_best, "iou": iou_best},
            "iou_by_threshold": {f"{th:g}": (float(tp / d) if d else 1.0)
                                 for th, tp, d in zip(thresholds, grid["tp"], den)}}


def angle_error_files(pred_path: str, labels_path: str, pred_dataset: str, label_dataset: str, period: float, *,
                      on: str = "labels", slab: int | None = None, memory_budget: int = 256 << 20,
                      comm: Any = None) -> dict[str, Any]:
    """Mean absolute angular error (degrees, modulo `period`) of the prediction's `pred_dataset`
    against the labels file's `label_dataset`, on the voxels where its `on` dataset is non-zero
    (e.g. the true fault voxels), streamed by inline slabs; ranks share the slabs."""
    import contextlib

    from hpcfault.cluster.mpi import allreduce, get_comm
    from hpcfault.infer.plan import share
    from hpcfault.io.volume import check_volume, open_volume

    comm = get_comm() if comm is None else comm
    with contextlib.ExitStack() as stack:
        pf = stack.enter_context(open_volume(pred_path))
        lf = stack.enter_context(open_volume(labels_path))
        pds = check_volume(pf, pred_path, pred_dataset)
        lds, ods = check_volume(lf, labels_path, label_dataset), check_volume(lf, labels_path, on)
        if pds.shape != lds.shape:
            raise HpcfaultError(f"prediction {pred_path}:{pred_dataset} has shape {pds.shape}, labels "
                                f"{labels_path}:{label_dataset} {lds.shape}; score a prediction of the same survey")
        t, n_il, x = pds.shape
        step = int(max(1, min(n_il, memory_budget // max(1, t * x * 24)))) if slab is None else int(slab)
        slabs = [(lo, min(n_il, lo + step)) for lo in range(0, n_il, step)]
        total, count, within = 0.0, 0, np.zeros(3, np.int64)
        for k in share(len(slabs), comm.size, comm.rank):
            sl = slice(*slabs[k])
            where = ods[:, sl, :] > 0
            err = angle_error(pds[:, sl, :][where], lds[:, sl, :][where], period)
            total += float(err.sum())
            count += int(err.size)
            within += np.array([(err <= lim).sum() for lim in (5.0, 10.0, 20.0)], np.int64)
    total = float(allreduce(comm, total, "sum"))
    count = int(allreduce(comm, count, "sum"))
    within = np.asarray(allreduce(comm, within, "sum"))
    return {"mean_abs_error_deg": total / count if count else float("nan"), "voxels": count, "period": period,
            "within_5_10_20_deg": [float(w / count) if count else float("nan") for w in within]}
