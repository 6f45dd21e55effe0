#!/usr/bin/env python3
"""Where a prediction's fault dip and strike go wrong: per voxel, per fault, and after smoothing.

`hpcfault evaluate` gives one mean angular error over the true fault voxels. This breaks it down,
on the true fault voxels where the prediction's fault probability is >= --threshold:

- the voxel errors as predicted, and with the strike mirrored (180 - s) or swapped (90 - s): a
  convention error shows as one of those scoring far lower;
- per true fault (the survey's `fault_ids`, faults with at least --min-voxels such voxels): the
  true strike and dip, the circular mean of the predicted ones and their scatter about that mean;
- the voxel errors after smoothing the vectors p (cos k a, sin k a) of the merged file with a
  gaussian of each --sigmas (k = 2 for strike, 1 for dip), on every true fault voxel.

    python tools/angle_errors.py PRED.h5 SURVEY.h5 [--threshold 0.5] [--sigmas 2 4]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hpcfault.metrics import angle_error  # noqa: E402
from hpcfault.tasks.multitask.metrics import PERIODS  # noqa: E402


def circular_mean(a: np.ndarray, period: float) -> float:
    k = 2 * np.pi / period
    return float(np.arctan2(np.sin(k * a).mean(), np.cos(k * a).mean()) / k % period)


def smoothed(angle: np.ndarray, weight: np.ndarray, period: float, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    k = 2 * np.pi / period
    c = gaussian_filter(weight * np.cos(k * angle), sigma)
    s = gaussian_filter(weight * np.sin(k * angle), sigma)
    return np.arctan2(s, c) / k % period


def main(argv=None) -> int:
    import h5py

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pred")
    ap.add_argument("survey")
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--min-voxels", type=int, default=200)
    ap.add_argument("--sigmas", type=float, nargs="*", default=[2.0, 4.0])
    args = ap.parse_args(argv)
    with h5py.File(args.survey, "r") as f:
        truth = {n: f[n][...].astype(np.float64) for n in PERIODS}
        ids = f["fault_ids"][...]
    with h5py.File(args.pred, "r") as f:
        prob = f["fault"][...].astype(np.float64)
        pred = {n: f[n][...].astype(np.float64) for n in PERIODS}
    on = ids > 0
    seen = on & (prob >= args.threshold)
    print(f"{int(on.sum())} true fault voxels, {int(seen.sum())} with p >= {args.threshold}")
    if not seen.any():
        return 0
    dip, strike = truth["fault_dip"][seen], truth["fault_strike"][seen]
    pdip, pstrike = pred["fault_dip"][seen], pred["fault_strike"][seen]
    print(f"voxels: dip {angle_error(pdip, dip, 360).mean():.1f} deg, strike {angle_error(pstrike, strike, 180).mean():.1f} "
          f"deg; strike mirrored (180 - s) {angle_error(180 - pstrike, strike, 180).mean():.1f}, "
          f"swapped (90 - s) {angle_error(90 - pstrike, strike, 180).mean():.1f}")
    print("fault  voxels  true strike  mean pred  scatter  |  true dip  mean pred  scatter")
    for fid in np.unique(ids[seen]):
        m = ids[seen] == fid
        if m.sum() < args.min_voxels:
            continue
        row = [f"{int(fid):5d}  {int(m.sum()):6d}"]
        for t, p, period in ((strike, pstrike, 180.0), (dip, pdip, 360.0)):
            mean = circular_mean(p[m], period)
            row.append(f"{circular_mean(t[m], period):11.1f}  {mean:9.1f}  {angle_error(p[m], mean, period).mean():7.1f}")
        print("  |  ".join(row))
    for sigma in args.sigmas:
        errs = [angle_error(smoothed(pred[n], prob, p, sigma)[on], truth[n][on], p).mean() for n, p in PERIODS.items()]
        print(f"smoothed, sigma {sigma:g}: dip {errs[0]:.1f} deg, strike {errs[1]:.1f} deg (every true fault voxel)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
