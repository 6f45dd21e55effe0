"""Merge rules: how the overlapping blocks' values of one output become one value per voxel.

Pure numpy on small arrays, no files or MPI. Each rule is an accumulator: `add(pred, weight, ...)`
for every block meeting a tile (in ascending block order, so results never depend on the rank
count), then `finish()`. `weight` holds each voxel's taper weight, already normalized so that the
weights of all blocks covering a voxel sum to 1 (merge.py).

    mean     sum of weight * value                     (probabilities, images)
    affine   sum of weight * (scale_k * value + offset_k), with one (scale, offset) per block
             fitted so that overlapping blocks agree (align.py)   (relative geologic time)
    angle    angles a of period P as unit vectors at 2 pi a / P (doubled angles when P = 180),
             summed with weight * confidence, then back to degrees in [0, P): no jump at the wrap
    owner    the value of the block whose write region holds the voxel (labels)
"""
from __future__ import annotations

import numpy as np


class Mean:
    def __init__(self, shape: tuple[int, ...]) -> None:
        self.acc = np.zeros(shape, np.float32)

    def add(self, dst: tuple[slice, ...], pred: np.ndarray, w_t: np.ndarray, w_lat: np.ndarray, **_: object) -> None:
        """pred (float32, modified), times the separable weights w_t (time) and w_lat (inline x xline)."""
        pred *= w_lat[None]
        pred *= w_t[:, None, None]
        self.acc[dst] += pred

    def finish(self, lo: float | None = None, hi: float | None = None) -> np.ndarray:
        if lo is not None and hi is not None:
            np.clip(self.acc, lo, hi, out=self.acc)   # the weights sum to 1 up to rounding
        return self.acc


class Affine(Mean):
    def add(self, dst, pred, w_t, w_lat, *, scale: float = 1.0, offset: float = 0.0, **_):  # type: ignore[override]
        if scale != 1.0 or offset != 0.0:
            pred = (pred.astype(np.float64) * scale + offset).astype(np.float32)
        super().add(dst, pred, w_t, w_lat)


class Angle:
    def __init__(self, shape: tuple[int, ...], period: float) -> None:
        self.c = np.zeros(shape, np.float64)
        self.s = np.zeros(shape, np.float64)
        self.k = 2.0 * np.pi / float(period)
        self.period = float(period)

    def add(self, dst, pred, w_t, w_lat, *, confidence: np.ndarray | None = None, **_):  # type: ignore[no-untyped-def]
        w = w_t[:, None, None].astype(np.float64) * w_lat[None].astype(np.float64)
        if confidence is not None:
            w = w * np.asarray(confidence, np.float64)
        phi = np.asarray(pred, np.float64) * self.k
        self.c[dst] += w * np.cos(phi)
        self.s[dst] += w * np.sin(phi)

    def finish(self, lo: float | None = None, hi: float | None = None) -> np.ndarray:
        a = np.mod(np.arctan2(self.s, self.c) / self.k, self.period)
        a[(self.c == 0) & (self.s == 0)] = 0.0        # no block had any weight here (zero confidence)
        a[a >= self.period] = 0.0                      # float rounding of mod at the wrap
        return a.astype(np.float32)


class Owner:
    def __init__(self, shape: tuple[int, ...]) -> None:
        self.acc = np.zeros(shape, np.float32)

    def add(self, dst, pred, w_t, w_lat, *, owned: tuple[slice, ...] | None = None, **_):  # type: ignore[no-untyped-def]
        """`owned`: the part of `dst` (tile coordinates) and of `pred` inside the block's write region,
        as (dst_slices, pred_slices)."""
        if owned is not None:
            d, p = owned
            self.acc[d] = pred[p]

    def finish(self, lo: float | None = None, hi: float | None = None) -> np.ndarray:
        return self.acc


def accumulator(merge: str, shape: tuple[int, ...], period: float = 0.0):
    """The accumulator of merge rule `merge` for a tile of `shape`."""
    if merge == "mean":
        return Mean(shape)
    if merge == "affine":
        return Affine(shape)
    if merge == "angle":
        return Angle(shape, period)
    if merge == "owner":
        return Owner(shape)
    raise ValueError(f"unknown merge rule {merge!r}")
