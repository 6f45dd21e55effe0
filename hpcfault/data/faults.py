"""Planar faults as analytic displacement fields, and the labels they leave.

Geometry (voxel units, time axis pointing down): a fault is a plane through `center` with a strike
angle (azimuth in the inline/xline plane) and a dip (60-85 degrees from horizontal). The block
above the plane (the hanging wall) slides along the dip direction by `throw` samples of vertical
offset, down for a normal fault and up for a reverse one; the slip tapers to zero at
`half_length` along strike. Because the slip vector lies in the plane and has no strike
component, the hanging wall stays on its side and the taper is the same before and after the
slip, so undoing a fault at an output point is exact: q_before = q_after - slip(q_after).

Faults are applied one after another, each displacing the already-faulted model; a renderer
undoes them in reverse order, which is how later faults offset earlier ones and their labels.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

DIP_RANGE = (60.0, 85.0)        # degrees from horizontal
THROW_RANGE = (5.0, 30.0)       # vertical offset in samples at the fault's centre
COUNT_RANGE = (4, 8)            # faults per model, inclusive
VISIBLE_THROW = 1.0             # voxels where the local slip is below this are not labelled


@dataclass(frozen=True)
class Fault:
    """One planar fault. Angles in degrees, lengths in voxels (time samples / traces)."""

    id: int
    center: tuple[float, float, float]   # (t, i, x)
    strike: float                        # azimuth of the strike line, from the inline axis
    dip: float
    throw: float                         # vertical offset of the hanging wall at the centre
    kind: str                            # "normal" (hanging wall down) or "reverse" (up)
    half_length: float                   # along strike, where the slip has tapered to zero

    def as_dict(self) -> dict:
        d = asdict(self)
        d["center"] = [round(float(c), 4) for c in self.center]
        for k in ("strike", "dip", "throw", "half_length"):
            d[k] = round(float(d[k]), 4)
        return d

    @property
    def vectors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(strike s, down-dip u, normal n) unit vectors in (t, i, x); n points under the plane."""
        phi, theta = np.radians(self.strike), np.radians(self.dip)
        s = np.array([0.0, np.cos(phi), np.sin(phi)])
        h = np.array([0.0, -np.sin(phi), np.cos(phi)])        # horizontal dip direction
        u = np.array([np.sin(theta), 0.0, 0.0]) + np.cos(theta) * h
        n = np.array([np.cos(theta), 0.0, 0.0]) - np.sin(theta) * h
        return s, u, n


def draw_faults(rng: np.random.Generator, shape: Sequence[int]) -> list[Fault]:
    """Random fault set for a survey of `shape` (T, I, X): 4-8 faults, parameters in the ranges above."""
    nt, ni, nx = shape
    count = int(rng.integers(COUNT_RANGE[0], COUNT_RANGE[1] + 1))
    lateral = float(np.hypot(ni, nx))
    faults = []
    for k in range(count):
        center = (float(rng.uniform(0.25, 0.75) * nt), float(rng.uniform(0.15, 0.85) * ni),
                  float(rng.uniform(0.15, 0.85) * nx))
        faults.append(Fault(
            id=k + 1, center=center, strike=float(rng.uniform(0.0, 360.0)),
            dip=float(rng.uniform(*DIP_RANGE)), throw=float(rng.uniform(*THROW_RANGE)),
            kind="normal" if rng.random() < 0.6 else "reverse",
            half_length=float(rng.uniform(0.5, 1.2) * lateral)))
    return faults


def _crossings(dist: np.ndarray, axis: int) -> np.ndarray:
    """Grid points next to a sign change of `dist` along `axis`: of each straddling pair, the one
    nearer the plane (so exactly one voxel per crossing along that axis)."""
    n = dist.shape[axis]
    lo, hi = np.take(dist, range(n - 1), axis=axis), np.take(dist, range(1, n), axis=axis)
    cross = (lo < 0) != (hi < 0)
    lo_nearer = np.abs(lo) <= np.abs(hi)
    on = np.zeros(dist.shape, bool)
    head = [slice(None)] * 3
    tail = [slice(None)] * 3
    head[axis], tail[axis] = slice(0, n - 1), slice(1, n)
    on[tuple(head)] |= cross & lo_nearer
    on[tuple(tail)] |= cross & ~lo_nearer
    return on


def undo_faults(faults: Sequence[Fault], q: list[np.ndarray]) -> np.ndarray:
    """Undo `faults` (last first) at output coordinates q = [t, i, x] (float32 arrays over a regular
    output grid, updated in place). Returns the fault id (uint8, 0 = none) of every grid point on a
    fault surface with a visible slip (>= VISIBLE_THROW samples).

    Fault k's surface is where its signed distance, evaluated in the frame right after fault k,
    changes sign between output-grid neighbours along the dominant axis of its normal: exactly the
    displacement discontinuity, one voxel thick along that axis (the neighbour nearer the plane is
    marked). Later faults take precedence where two surfaces meet. The grid's outermost points
    only serve as neighbours: render with a one-voxel halo.
    """
    ids = np.zeros(np.broadcast_shapes(*(a.shape for a in q)), np.uint8)
    for f in reversed(list(faults)):
        s, u, n = (v.astype(np.float32) for v in f.vectors)
        ct, ci, cx = (np.float32(c) for c in f.center)
        rt, ri, rx = q[0] - ct, q[1] - ci, q[2] - cx
        dist = n[0] * rt + n[1] * ri + n[2] * rx
        along = (s[1] * ri + s[2] * rx) * np.float32(1.0 / f.half_length)
        del rt, ri, rx
        taper = np.clip(np.float32(1.0) - along * along, 0.0, None)
        taper *= taper
        slip = taper * np.float32(f.throw)                     # local vertical offset, samples
        on = _crossings(dist, int(np.argmax(np.abs(n))))
        on &= (slip >= VISIBLE_THROW) & (ids == 0)
        ids[on] = f.id
        sign = 1.0 if f.kind == "normal" else -1.0
        # the hanging wall (above the plane: dist < 0) moved by slip / sin(dip) along u; undo it
        amount = np.where(dist < 0, slip * np.float32(sign / np.sin(np.radians(f.dip))), np.float32(0.0))
        q[0] -= amount * u[0]
        q[1] -= amount * u[1]
        q[2] -= amount * u[2]
    return ids
