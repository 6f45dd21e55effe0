"""`hpcfault evaluate` for the multitask tasks: every output against a synthetic survey's labels.

PRED.h5 holds the task's outputs as datasets (fault, fault_dip, fault_strike, rgt, dhr; another
naming through `datasets`), LABELS.h5 a `hpcfault synth` volume (data = the degraded input,
labels, fault_dip, fault_strike, rgt, dhr). Both are read in inline slabs with a halo, in two
passes (sums, then errors), and under MPI the ranks share the slabs and add their sums, so the
figures do not depend on the slab size or the rank count.

- fault: IoU, precision, recall at `threshold` and Tol-IoU@`radius` (hpcfault/metrics.py), best
  threshold; dip and strike: mean absolute angular error in degrees on the true fault voxels
  (dip on the circle, strike modulo 180), whatever the predicted probability there;
- rgt: mean absolute error after the best global affine fit a * pred + b of the prediction to the
  truth (RGT is relative: an affine map of it holds the same horizons); horizons: the iso-surfaces
  of `values` (0.1 ... 0.9) of the fitted prediction and of the truth (horizons.iso_times), the
  share of (value, trace) points where both exist that lie within 2 samples, and the mean error;
- dhr: PSNR and SSIM of the prediction against the clean target, and of the input (`data`) as the
  baseline, each after its own best global affine fit to the target (units differ: the prediction
  is in the normalized input's units, the target in the generator's); PSNR = 10 log10(R^2 / MSE),
  SSIM with the gaussian window of the training loss (sigma 1.5, radius 5) on the voxels whose
  window lies inside the volume, R the target's range in both.
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Sequence

import numpy as np

from hpcfault.errors import HpcfaultError

HORIZON_VALUES: tuple[float, ...] = tuple(round(0.1 * k, 1) for k in range(1, 10))
HORIZON_TOLERANCE = 2.0          # samples
OUTPUTS = ("fault", "fault_dip", "fault_strike", "rgt", "dhr")
LABELS = {"fault": "labels", "fault_dip": "fault_dip", "fault_strike": "fault_strike", "rgt": "rgt", "dhr": "dhr"}
PERIODS = {"fault_dip": 360.0, "fault_strike": 180.0}


def affine_fit(s: np.ndarray) -> tuple[float, float]:
    """(a, b) minimizing sum (a x + b - y)^2 from sums (n, sx, sy, sxx, sxy)."""
    n, sx, sy, sxx, sxy = (float(v) for v in s[:5])
    var = n * sxx - sx * sx
    if n == 0 or var <= 1e-12 * max(1.0, n * sxx):
        return 0.0, (sy / n if n else 0.0)
    a = (n * sxy - sx * sy) / var
    return a, (sy - a * sx) / n


def fit_sums(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64).ravel()
    y = np.asarray(y, np.float64).ravel()
    return np.array([x.size, x.sum(), y.sum(), x @ x, x @ y], np.float64)


def ssim_sums(x: np.ndarray, y: np.ndarray, data_range: float, core: slice) -> tuple[float, int]:
    """(sum, count) of local SSIM over the voxels of inline range `core` (of the slab) whose gaussian
    window lies inside the slab (the slab's halo must cover it; time and xline edges are excluded)."""
    from scipy.ndimage import correlate1d

    from hpcfault.losses import SSIM_K, SSIM_RADIUS, ssim_window

    r = SSIM_RADIUS
    w = ssim_window()
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)

    def blur(a: np.ndarray) -> np.ndarray:
        for axis in range(3):
            a = correlate1d(a, w, axis=axis, mode="constant")
        return a

    if min(x.shape[0], x.shape[2]) <= 2 * r:
        return 0.0, 0
    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = (SSIM_K[0] * data_range) ** 2, (SSIM_K[1] * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    lo, hi = max(core.start, r), min(core.stop, x.shape[1] - r)
    if hi <= lo:
        return 0.0, 0
    part = s[r:-r, lo:hi, r:-r]
    return float(part.sum()), int(part.size)


def evaluate(pred_path: str, labels_path: str, *, use_mask: bool = False, threshold: float = 0.5,
             radius: float = 2, slab: int | None = None, comm: Any = None,
             values: Sequence[float] = HORIZON_VALUES, datasets: dict[str, str] | None = None,
             memory_budget: int = 256 << 20) -> dict[str, Any]:
    """The multitask report (module doc); every rank returns the same dict, with "rows" for the CLI."""
    from hpcfault.cluster.mpi import allreduce, get_comm
    from hpcfault.io.volume import open_volume
    from hpcfault.losses import SSIM_RADIUS
    from hpcfault.metrics import (COUNT_KEYS, DEFAULT_THRESHOLDS, add_counts, angle_error, best_threshold,
                                  score_counts, scores, slab_plan, threshold_counts)
    from hpcfault.tasks.multitask.horizons import check_values, iso_times

    comm = get_comm() if comm is None else comm
    names = {o: (datasets or {}).get(o, o) for o in OUTPUTS}
    vals = check_values(values)
    with contextlib.ExitStack() as stack:
        pf = stack.enter_context(open_volume(pred_path))
        lf = stack.enter_context(open_volume(labels_path))
        missing = [f"{pred_path}:{d}" for d in names.values() if d not in pf]
        missing += [f"{labels_path}:{d}" for d in (*LABELS.values(), "data") if d not in lf]
        if use_mask and "mask" not in lf:
            missing.append(f"{labels_path}:mask")
        if missing:
            raise HpcfaultError(f"multitask evaluation needs {', '.join(missing)} (got {sorted(pf.keys())} and "
                                f"{sorted(lf.keys())}); predict with a multitask model and score against "
                                "'hpcfault synth --family multitask' labels")
        shape = pf[names["fault"]].shape
        bad = [d for d in (*[pf[n] for n in names.values()], *[lf[n] for n in (*LABELS.values(), "data")])
               if d.shape != shape]
        if bad:
            raise HpcfaultError(f"datasets differ in shape (got {bad[0].name} {bad[0].shape}, fault {shape}); "
                                "score a prediction of the same survey (both (time, inline, xline))")
        nt, ni, nx = shape
        if slab is None:
            slab = int(max(1, min(ni, memory_budget // max(1, nt * nx * 200))))
        halo = max(int(math.ceil(radius)), SSIM_RADIUS)
        plan = slab_plan(ni, slab, halo)[comm.rank::comm.size]

        def read(sl: slice) -> dict[str, np.ndarray]:
            out = {o: pf[n][:, sl, :] for o, n in names.items()}
            out.update({f"true_{o}": lf[n][:, sl, :] for o, n in LABELS.items()})
            out["input"] = lf["data"][:, sl, :]
            out["mask"] = lf["mask"][:, sl, :] if use_mask else None
            return out

        # pass 1: fault counts, angle errors, the sums of the affine fits and the target's range
        counts: dict = {}
        grid: dict = {}
        sums = np.zeros(2 + 2 + 3 * 5, np.float64)    # dip err, n; strike err, n; fits: rgt, dhr, input
        lo_hi = np.array([np.inf, -np.inf])
        for rd, core in plan:
            a = read(rd)
            c3 = (slice(None), core, slice(None))
            counts = add_counts(counts, score_counts(a["fault"], a["true_fault"], a["mask"], threshold, radius, core=c3))
            grid = add_counts(grid, threshold_counts(a["fault"], a["true_fault"], a["mask"], DEFAULT_THRESHOLDS, core=c3))
            on = a["true_fault"][c3] > 0
            for k, o in enumerate(("fault_dip", "fault_strike")):
                err = angle_error(a[o][c3][on], a[f"true_{o}"][c3][on], PERIODS[o])
                sums[2 * k:2 * k + 2] += (err.sum(), err.size)
            y_rgt, y_dhr = a["true_rgt"][c3], a["true_dhr"][c3]
            sums[4:9] += fit_sums(a["rgt"][c3], y_rgt)
            sums[9:14] += fit_sums(a["dhr"][c3], y_dhr)
            sums[14:19] += fit_sums(a["input"][c3], y_dhr)
            lo_hi = np.array([min(lo_hi[0], float(y_dhr.min())), max(lo_hi[1], float(y_dhr.max()))])
        if not counts:
            counts = {k: 0 for k in COUNT_KEYS}
            zero = np.zeros(len(DEFAULT_THRESHOLDS), np.int64)
            grid = {"tp": zero, "fp": zero.copy(), "fn": zero.copy()}
        counts = {k: int(allreduce(comm, int(v), "sum")) for k, v in counts.items()}
        grid = {k: np.asarray(allreduce(comm, np.asarray(v, np.int64), "sum")) for k, v in grid.items()}
        sums = np.asarray(allreduce(comm, sums, "sum"), np.float64)
        lo, hi = float(allreduce(comm, lo_hi[0], "min")), float(allreduce(comm, lo_hi[1], "max"))
        fits = {k: affine_fit(sums[4 + 5 * j:9 + 5 * j]) for j, k in enumerate(("rgt", "dhr", "input"))}
        data_range = hi - lo if hi > lo else 1.0

        # pass 2: errors after the fits, horizons, SSIM
        acc = np.zeros(9, np.float64)   # rgt |err|; horizon within, n, |err|; dhr sq err; input sq err; ssim p, n; ssim in
        for rd, core in plan:
            a = read(rd)
            c3 = (slice(None), core, slice(None))
            (ar, br), (ad, bd), (ai, bi) = fits["rgt"], fits["dhr"], fits["input"]
            rgt = a["rgt"].astype(np.float64) * ar + br
            acc[0] += float(np.abs(rgt[c3] - a["true_rgt"][c3]).sum())
            hp, ht = iso_times(rgt[c3], vals), iso_times(a["true_rgt"][c3], vals)
            both = np.isfinite(hp) & np.isfinite(ht)
            herr = np.abs(hp[both] - ht[both])
            acc[1:4] += (float((herr <= HORIZON_TOLERANCE).sum()), float(herr.size), float(herr.sum()))
            dhr = a["dhr"].astype(np.float64) * ad + bd
            inp = a["input"].astype(np.float64) * ai + bi
            y = a["true_dhr"].astype(np.float64)
            acc[4] += float(((dhr[c3] - y[c3]) ** 2).sum())
            acc[5] += float(((inp[c3] - y[c3]) ** 2).sum())
            s, n = ssim_sums(dhr, y, data_range, core)
            s_in, _ = ssim_sums(inp, y, data_range, core)
            acc[6:9] += (s, n, s_in)
        acc = np.asarray(allreduce(comm, acc, "sum"), np.float64)
    voxels = float(nt * ni * nx)

    def psnr(sq: float) -> float:
        return 10.0 * math.log10(data_range ** 2 / (sq / voxels)) if sq > 0 else float("inf")

    fault = scores(counts)
    t_best, iou_best = best_threshold(grid, DEFAULT_THRESHOLDS)
    ratio = lambda a, b: a / b if b else float("nan")   # noqa: E731
    rep = {
        "prediction": str(pred_path), "labels": str(labels_path), "shape": list(shape), "mask": bool(use_mask),
        "threshold": float(threshold), "radius": float(radius),
        "fault": {"counts": counts, "scores": fault, "best_threshold": {"threshold": t_best, "iou": iou_best}},
        "fault_dip": {"mae_deg": ratio(sums[0], sums[1]), "voxels": int(sums[1])},
        "fault_strike": {"mae_deg": ratio(sums[2], sums[3]), "voxels": int(sums[3])},
        "rgt": {"mae": acc[0] / voxels, "fit": list(fits["rgt"]),
                "horizons": {"values": vals, "within": HORIZON_TOLERANCE, "share_within": ratio(acc[1], acc[2]),
                             "mean_error_samples": ratio(acc[3], acc[2]), "points": int(acc[2])}},
        "dhr": {"psnr_db": psnr(acc[4]), "ssim": ratio(acc[6], acc[7]),
                "input_psnr_db": psnr(acc[5]), "input_ssim": ratio(acc[8], acc[7]), "data_range": data_range},
    }
    h, d = rep["rgt"]["horizons"], rep["dhr"]
    rep["rows"] = [
        ["fault IoU@%g" % threshold, f"{fault['iou']:.4f}"],
        ["fault Tol-IoU@%g" % radius, f"{fault['tol_iou']:.4f} (precision {fault['tol_precision']:.4f}, "
                                      f"recall {fault['tol_recall']:.4f})"],
        ["fault best thr.", f"{t_best:g} (IoU {iou_best:.4f})"],
        ["dip error", f"{rep['fault_dip']['mae_deg']:.2f} deg on {int(sums[1])} true fault voxels"],
        ["strike error", f"{rep['fault_strike']['mae_deg']:.2f} deg (modulo 180)"],
        ["RGT MAE", f"{rep['rgt']['mae']:.4f} after the best affine fit"],
        ["horizons", f"{100 * h['share_within']:.1f} % of {h['points']} points within {HORIZON_TOLERANCE:g} "
                     f"samples (mean {h['mean_error_samples']:.2f})"],
        ["DHR PSNR", f"{d['psnr_db']:.2f} dB (input {d['input_psnr_db']:.2f} dB)"],
        ["DHR SSIM", f"{d['ssim']:.4f} (input {d['input_ssim']:.4f})"],
    ]
    return rep
