"""Faults as analytic displacement fields (planar, listric, arcuate), and the labels they leave.

Geometry (voxel units, time axis pointing down). A fault has a centre c, a strike angle phi
(azimuth in the inline/xline plane, from the inline axis) and a dip theta at its centre. In map
view, around c, write sa for the distance along strike and h for the horizontal distance in the
dip direction. The fault surface is where

    e = h - kappa * sa**2 - g(t) = 0,     g'(t) = 1 / tan(dip at depth t)

g(t) = (t - tc) / tan(theta) is a plane; a listric fault has g' growing with depth (its dip falls,
never below 30 degrees, and steepens to vertical at most above); kappa != 0 bends its trace in map
view (arcuate). e is the horizontal distance to the surface at the same time; the hanging wall is
e > 0. It moves by the vertical throw dt (down for a normal fault, up for a reverse one) keeping
sa and e, i.e. along the surface: (t, e) -> (t + dt, e). That motion maps the hanging wall onto
itself, so undoing a fault at an output point is exact: t_before = t - dt, and the lateral
position moves back by g(t_before) - g(t) along the dip direction. The vertical throw is the same
everywhere on the fault; it tapers to zero at `half_length` along strike and, for faults with a
`tip` (> 0), at `tip` samples above and below the centre.

Faults are applied one after another, each displacing the already-faulted model; a renderer
undoes them in reverse order, which is how later faults offset earlier ones and their labels.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from hpcfault.data.synth_config import DEFAULT, FaultRanges

VISIBLE_THROW = 1.0             # voxels where the local slip is below this are not labelled
FLOOR_DIP = 30.0                # degrees: a listric fault flattens no further than this


@dataclass(frozen=True)
class Fault:
    """One fault. Angles in degrees, lengths in voxels (time samples / traces)."""

    id: int
    center: tuple[float, float, float]   # (t, i, x)
    strike: float                        # azimuth of the strike line, from the inline axis
    dip: float                           # at the centre
    throw: float                         # vertical offset of the hanging wall at the centre
    kind: str                            # "normal" (hanging wall down) or "reverse" (up)
    half_length: float                   # along strike, where the slip has tapered to zero
    curvature: float = 0.0               # k of g(t) = (t - tc) / tan(dip) + k (t - tc)**2 (> 0: listric)
    bend: float = 0.0                    # kappa (map-view bend of the trace), per trace
    tip: float = 0.0                     # > 0: slip tapers to zero this many samples above/below the centre

    @property
    def style(self) -> str:
        return "+".join(s for s, on in (("listric", self.curvature > 0), ("arcuate", self.bend != 0),
                                        ("tipped", self.tip > 0)) if on) or "planar"

    def as_dict(self) -> dict:
        d = asdict(self)
        d["center"] = [round(float(c), 4) for c in self.center]
        for k in ("strike", "dip", "throw", "half_length", "tip"):
            d[k] = round(float(d[k]), 4)
        for k in ("curvature", "bend"):
            d[k] = float(f"{d[k]:.6g}")
        d["style"] = self.style
        return d

    @property
    def vectors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(strike s, down-dip u, normal n) unit vectors in (t, i, x) at the centre; n points under the plane."""
        phi, theta = np.radians(self.strike), np.radians(self.dip)
        s = np.array([0.0, np.cos(phi), np.sin(phi)])
        h = np.array([0.0, -np.sin(phi), np.cos(phi)])        # horizontal dip direction
        u = np.array([np.sin(theta), 0.0, 0.0]) + np.cos(theta) * h
        n = np.array([np.cos(theta), 0.0, 0.0]) - np.sin(theta) * h
        return s, u, n

    # -- the surface e = 0 -------------------------------------------------------------------------
    def offset(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(g(t), g'(t)) as float32 arrays: the surface's horizontal offset in the dip direction at
        time t (from the centre) and its derivative 1 / tan(dip)."""
        inv = np.float32(1.0 / np.tan(np.radians(self.dip)))
        r = t - np.float32(self.center[0])
        if self.curvature <= 0:
            return r * inv, np.full(r.shape, inv, np.float32)
        k = np.float32(self.curvature)
        gmax = np.float32(1.0 / np.tan(np.radians(min(FLOOR_DIP, self.dip))))
        r0, r1 = -inv / (2 * k), (gmax - inv) / (2 * k)       # vertical above r0, floor dip below r1
        rc = np.clip(r, r0, r1)
        g = rc * (inv + k * rc) + gmax * np.maximum(r - r1, np.float32(0.0))
        slope = np.where(r < r0, np.float32(0.0), np.where(r > r1, gmax, inv + np.float32(2.0) * k * rc))
        return g, slope.astype(np.float32)


def _uniform(rng: np.random.Generator, r: Sequence[float]) -> float:
    return float(rng.uniform(r[0], r[1])) if r[1] > r[0] else float(r[0])


def draw_faults(rng: np.random.Generator, shape: Sequence[int], ranges: FaultRanges = DEFAULT.faults) -> list[Fault]:
    """A random fault set for a survey of `shape` (T, I, X) drawn from `ranges`."""
    nt, ni, nx = shape
    lo, hi = ranges.count
    count = int(rng.integers(lo, hi + 1))
    if rng.random() < ranges.none_prob:
        count = 0
    lateral = float(np.hypot(ni, nx))
    width = float(max(ni, nx))
    faults: list[Fault] = []
    conjugate = False
    while len(faults) < count:
        prev = faults[-1] if faults else None
        # the next fault dips the other way through the same strike line (a pair, never a chain)
        conjugate = prev is not None and not conjugate and rng.random() < ranges.conjugate_prob
        if conjugate:
            center = (prev.center[0] + float(rng.uniform(-0.05, 0.05) * nt), prev.center[1], prev.center[2])
            strike = (prev.strike + 180.0) % 360.0
            kind = prev.kind
        else:
            center = (float(rng.uniform(0.2, 0.8) * nt), float(rng.uniform(0.15, 0.85) * ni),
                      float(rng.uniform(0.15, 0.85) * nx))
            strike = float(rng.uniform(0.0, 360.0))
            kind = "reverse" if rng.random() < ranges.reverse_prob else "normal"
        dip = _uniform(rng, ranges.dip)
        throw = _uniform(rng, ranges.small_throw if rng.random() < ranges.small_throw_prob else ranges.throw)
        curvature = 0.0
        if rng.random() < ranges.listric_prob:
            bottom = max(dip - _uniform(rng, ranges.listric_loss), FLOOR_DIP)
            depth = max(nt - center[0], nt / 4.0)
            curvature = float((1.0 / np.tan(np.radians(bottom)) - 1.0 / np.tan(np.radians(dip))) / (2.0 * depth))
        bend = 0.0
        if rng.random() < ranges.arcuate_prob:
            sagitta = _uniform(rng, ranges.arcuate_curvature) * 0.1 * width
            bend = float(sagitta / (width / 2.0) ** 2 * rng.choice([-1.0, 1.0]))
        tip = 0.0
        if rng.random() < ranges.tip_prob:
            tip = float(rng.uniform(0.3, 0.8) * nt)
        f = Fault(id=len(faults) + 1, center=center, strike=strike, dip=dip, throw=throw, kind=kind,
                  half_length=_uniform(rng, ranges.half_length) * lateral, curvature=curvature, bend=bend, tip=tip)
        faults.append(f)
    return faults


def _crossings(dist: np.ndarray, axis: int) -> np.ndarray:
    """Grid points next to a sign change of `dist` along `axis`: of each straddling pair, the one
    nearer the surface (so exactly one voxel per crossing along that axis)."""
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


def undo_faults(faults: Sequence[Fault], q: list[np.ndarray], orientation: bool = False):
    """Undo `faults` (last first) at output coordinates q = [t, i, x] (float32 arrays over a regular
    output grid, updated in place). Returns the fault id (uint8, 0 = none) of every grid point on a
    fault surface with a visible slip (>= VISIBLE_THROW samples).

    Fault k's surface is where its horizontal distance e, evaluated in the frame right after fault
    k, changes sign between output-grid neighbours along the dominant axis of the surface's local
    normal: exactly the displacement discontinuity, one voxel thick along that axis (the neighbour
    nearer the surface is marked). Later faults take precedence where two surfaces meet. The grid's
    outermost points only serve as neighbours: render with a one-voxel halo.

    With `orientation`, returns (ids, dip, strike): the local dip (degrees from horizontal) and
    strike (azimuth of the fault trace from the inline-number axis towards the crossline-number
    axis, modulo 180) of the labelling fault at each labelled point, 0 elsewhere (float32).
    """
    ids = np.zeros(np.broadcast_shapes(*(a.shape for a in q)), np.uint8)
    if orientation:
        dips = np.zeros(ids.shape, np.float32)
        strikes = np.zeros(ids.shape, np.float32)
    for f in reversed(list(faults)):
        phi = np.radians(f.strike)
        si, sx = np.float32(np.cos(phi)), np.float32(np.sin(phi))
        hi_, hx = -sx, si
        ci, cx = np.float32(f.center[1]), np.float32(f.center[2])
        ri, rx = q[1] - ci, q[2] - cx
        sa = si * ri + sx * rx
        e = hi_ * ri + hx * rx
        del ri, rx
        if f.bend:
            e -= np.float32(f.bend) * sa * sa
        g, slope = f.offset(q[0])
        e -= g
        along = sa * np.float32(1.0 / f.half_length)
        slip = np.clip(np.float32(1.0) - along * along, 0.0, None)
        del along
        slip *= slip
        if f.tip > 0:
            vert = (q[0] - np.float32(f.center[0])) * np.float32(1.0 / f.tip)
            tt = np.clip(np.float32(1.0) - vert * vert, 0.0, None)
            slip *= tt * tt
            del vert, tt
        slip *= np.float32(f.throw)                             # local vertical offset, samples
        # dominant axis of the local normal grad e = (-g', g_i, g_x), g = hdir - 2 kappa sa s
        gi = np.float32(hi_) - np.float32(2.0 * f.bend) * sa * si if f.bend else np.float32(hi_)
        gx = np.float32(hx) - np.float32(2.0 * f.bend) * sa * sx if f.bend else np.float32(hx)
        agi, agx = np.abs(gi), np.abs(gx)
        on = np.where((slope >= agi) & (slope >= agx), _crossings(e, 0),
                      np.where(agi >= agx, _crossings(e, 1), _crossings(e, 2)))
        del agi, agx, sa
        on &= (slip >= VISIBLE_THROW) & (ids == 0)
        ids[on] = f.id
        if orientation and on.any():
            g_i, g_x = np.broadcast_to(gi, on.shape)[on], np.broadcast_to(gx, on.shape)[on]
            dips[on] = np.degrees(np.arctan2(np.hypot(g_i, g_x), slope[on]))   # tan(dip) = |grad_h e| / g'
            strikes[on] = np.mod(np.degrees(np.arctan2(-g_i, g_x)), 180.0)      # the trace is normal to (g_i, g_x)
        del on, gi, gx, slope
        hang = e > 0
        sign = np.float32(1.0 if f.kind == "normal" else -1.0)
        t_before = np.where(hang, q[0] - sign * slip, q[0])
        del slip
        g_before, _ = f.offset(t_before)
        dh = np.where(hang, g_before - g, np.float32(0.0))
        q[0] = t_before
        q[1] += dh * hi_
        q[2] += dh * hx
        del dh, g, g_before, e, hang, t_before
    return (ids, dips, strikes) if orientation else ids
