"""Salt bodies for the synthetic generator: domes, diapirs with stems, sheets and canopies.

A body is an implicit surface phi(t, i, x) (in samples; negative inside salt) evaluated at
present-day voxel positions, so a salt body cuts the layers and faults drawn before it:

    dome     the upper half of an ellipsoid on a mother salt layer, or a pillow (an ellipsoid with
             a flatter base) when there is no layer;
    diapir   an ellipsoidal head on a stem: a vertical cylinder that drifts and widens with depth,
             down to the layer or the bottom, joined to the head with a smooth minimum (a neck);
             the head overhangs the stem;
    sheet    a thin, elongated, rotated ellipsoid near the top (a canopy), with ragged edges, fed
             by a stem from below in some volumes.

Lateral radii undulate with the azimuth around the body (a few sines): boundaries are irregular.
A mother layer (autochthonous salt) can fill the bottom of a volume (SaltRanges.layer_prob, 0 by
default: with its base below the volume it looks like a strong flat reflector over a quiet zone).

The sediments next to salt are dragged: a vertical uplift field U(t, i, x) >= 0, non-decreasing
with t (so layers never fold over), shifts the time at which each voxel samples the layered
reflectivity: the overburden arches over a body, layers turn up against its flanks and along a
stem. Inside salt the reflectivity is replaced by a weak chaotic one (smooth noise on a coarse
lattice, hashed from global coordinates); the top and base of salt reflect strongly: the
reflectivity gains R * dS/dt, S the salt fraction of a voxel (anti-aliased over one sample), so
the top and base have opposite polarity and the sign of R (drawn per volume) sets which. Steep
flanks, where S changes little along t, barely reflect, as in vertical-incidence modelling.

Everything is a function of global coordinates and the drawn parameters, so any sub-box renders
as the same box of the whole volume.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpcfault.data.synth_config import SaltRanges
from hpcfault.data.wavelet import hash_noise

KINDS = ("dome", "diapir", "sheet")


def _u(rng: np.random.Generator, r) -> float:
    return float(rng.uniform(r[0], r[1])) if r[1] > r[0] else float(r[0])


def _smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Smooth minimum (a union with a rounded joint of size k)."""
    if k <= 0:
        return np.minimum(a, b)
    h = np.clip(np.float32(k) - np.abs(a - b), 0.0, None) / np.float32(k)
    return np.minimum(a, b) - h * h * np.float32(k / 4.0)


@dataclass(frozen=True)
class SaltBody:
    kind: str
    ci: float                               # lateral centre (inline, xline index)
    cx: float
    top: float                              # time of the top of salt at the centre (samples)
    radius: float                           # lateral radius (traces); sheets: along the long axis
    height: float                           # vertical semi-axis of the cap / head / sheet (samples)
    aspect: float = 1.0                     # sheets: short / long lateral axis
    azimuth: float = 0.0                    # sheets: long-axis direction (radians)
    stem: float = 0.0                       # stem radius at the head (traces); 0 = none
    tilt: tuple[float, float] = (0.0, 0.0)  # stem drift, traces per sample (inline, xline)
    rough: tuple[tuple[int, float, float], ...] = ()   # (harmonic, relative amplitude, phase)
    uplift: float = 0.0                     # arching of the sediments at the body (samples)
    drag: float = 0.0                       # extra upturn of the layers against a stem (samples)
    drag_width: float = 8.0                 # lateral reach of the drag (traces)

    def _polar(self, i: np.ndarray, x: np.ndarray):
        di, dx = i - np.float32(self.ci), x - np.float32(self.cx)
        if self.aspect != 1.0:
            c, s = np.float32(np.cos(self.azimuth)), np.float32(np.sin(self.azimuth))
            di, dx = c * di + s * dx, (-s * di + c * dx) / np.float32(self.aspect)
        theta = np.arctan2(dx, di)
        scale = np.ones_like(theta)
        for k, a, p in self.rough:
            scale += np.float32(a) * np.sin(np.float32(k) * theta + np.float32(p))
        return np.sqrt(di * di + dx * dx), np.maximum(scale, np.float32(0.3)) * np.float32(self.radius)

    def _stem_distance(self, t: np.ndarray, i: np.ndarray, x: np.ndarray, t0: float) -> np.ndarray:
        dt = np.maximum(t - np.float32(t0), np.float32(0.0))
        di = i - np.float32(self.ci) - np.float32(self.tilt[0]) * dt
        dx = x - np.float32(self.cx) - np.float32(self.tilt[1]) * dt
        return np.sqrt(di * di + dx * dx)

    def phi(self, t: np.ndarray, i: np.ndarray, x: np.ndarray, layer: float | None, nt: int) -> np.ndarray:
        """Signed distance-like field (samples; < 0 in salt) at broadcast (t, i, x)."""
        r, radius = self._polar(i, x)
        rho2 = (r / radius) ** 2
        centre = self.top + self.height
        if self.kind == "dome" and layer is not None:
            h = max(layer - self.top, 1.0)
            dv = np.minimum(t - np.float32(layer), np.float32(0.0)) / np.float32(h)
            return (np.sqrt(rho2 + dv * dv) - np.float32(1.0)) * np.float32(h)
        below = np.float32(0.5 if self.kind == "dome" else 1.0)
        dv = (t - np.float32(centre)) / np.float32(self.height)
        dv = np.where(dv > 0, dv / below, dv)
        cap = (np.sqrt(rho2 + dv * dv) - np.float32(1.0)) * np.float32(self.height)
        if self.stem <= 0:
            return cap
        grow = np.float32(1.0) + np.float32(0.4 / nt) * np.maximum(t - np.float32(centre), np.float32(0.0))
        stem = self._stem_distance(t, i, x, centre) - np.float32(self.stem) * grow
        stem = np.maximum(stem, np.float32(centre) - t)        # the stem starts at the head's centre
        return _smin(cap, stem, 0.5 * self.stem)

    def lift(self, t: np.ndarray, i: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Upward shift of the layers (samples), >= 0 and non-decreasing in t."""
        r, radius = self._polar(i, x)
        ramp = np.clip(t / np.float32(max(self.top, 1.0)), 0.0, 1.0)
        reach = radius + np.float32(self.drag_width)
        u = np.float32(self.uplift) * np.exp(np.float32(-0.5) * (r / reach) ** 2) * ramp * ramp
        if self.stem > 0 and self.drag > 0:
            centre = self.top + self.height
            gap = np.maximum(self._stem_distance(t, i, x, centre) - np.float32(self.stem), np.float32(0.0))
            down = np.clip((t - np.float32(self.top)) / np.float32(self.height), 0.0, 1.0)
            u = u + np.float32(self.drag) * np.exp(-gap / np.float32(self.drag_width)) * down
        return u


@dataclass(frozen=True)
class SaltModel:
    """The salt of one volume: bodies, an optional mother layer, reflection strength and polarity,
    interior reflectivity; drawn once, evaluated anywhere."""

    bodies: tuple[SaltBody, ...]
    layer: float | None                      # top of the mother salt layer (samples), None = none
    nt: int
    reflection: float                        # R relative to the sediments' reflectivity RMS, signed
    interior: float                          # interior chaotic reflectivity relative to that RMS
    cells: tuple[float, float]               # lattice of the interior noise: (samples, traces)
    noise_seed: int

    @classmethod
    def draw(cls, rng: np.random.Generator, shape, ranges: SaltRanges) -> "SaltModel | None":
        """A salt model for a volume of `shape`, or None when the volume has no salt."""
        nt, ni, nx = shape
        count = int(rng.integers(ranges.count[0], ranges.count[1] + 1))
        if ranges.count[1] == 0 or rng.random() < ranges.none_prob:
            count = 0
        layer = float(_u(rng, ranges.layer_top) * nt) if count and rng.random() < ranges.layer_prob else None
        side = float(max(ni, nx))
        bodies = []
        for _ in range(count):
            kind = str(rng.choice(list(ranges.kinds)))
            radius = _u(rng, ranges.radius) * side
            rough = tuple((int(k), float(rng.uniform(0.3, 1.0)) * _u(rng, ranges.roughness) / 2.0,
                           float(rng.uniform(0, 2 * np.pi))) for k in rng.choice(np.arange(2, 7), 3, replace=False))
            ci, cx = float(rng.uniform(0.15, 0.85) * ni), float(rng.uniform(0.15, 0.85) * nx)
            width = _u(rng, ranges.drag_width) * side
            if kind == "sheet":
                radius *= 1.6                                  # canopies spread wider than they are tall
                height = max(1.5, _u(rng, ranges.sheet_thickness) * nt / 2.0)
                top = _u(rng, ranges.sheet_top) * nt
                stem = radius * _u(rng, ranges.stem) * 0.5 if rng.random() < ranges.feeder_prob else 0.0
                body = SaltBody(kind, ci, cx, top, radius, height, aspect=float(rng.uniform(0.4, 0.8)),
                                azimuth=float(rng.uniform(0, np.pi)), stem=stem, rough=rough,
                                uplift=0.5 * height, drag=0.5 * height if stem else 0.0, drag_width=width)
            else:
                top = _u(rng, ranges.top) * nt
                height = max(3.0, _u(rng, ranges.thickness) * nt)
                if kind == "dome" and layer is not None:
                    top = min(top, layer - 4.0)
                stem = radius * _u(rng, ranges.stem) if kind == "diapir" else 0.0
                if stem:
                    height = min(height, radius * float(rng.uniform(0.35, 0.7)))   # a mushroom head, not a ball
                lift = _u(rng, ranges.drag) * height
                tilt = tuple(float(v) for v in rng.uniform(-0.12, 0.12, 2)) if stem else (0.0, 0.0)
                body = SaltBody(kind, ci, cx, top, radius, height, stem=stem, tilt=tilt, rough=rough,
                                uplift=lift, drag=lift if stem else 0.0, drag_width=width)
            bodies.append(body)
        if not bodies:
            return None
        polarity = 1.0 if rng.random() < 0.5 else -1.0
        return cls(tuple(bodies), layer, int(nt), polarity * _u(rng, ranges.reflection), _u(rng, ranges.interior),
                   (float(rng.uniform(1.5, 3.0)), float(rng.uniform(2.0, 6.0))), int(rng.integers(0, 2 ** 62)))

    @property
    def max_lift(self) -> float:
        return float(sum(b.uplift + b.drag for b in self.bodies))

    def describe(self) -> dict:
        r = lambda v: round(float(v), 3)   # noqa: E731
        return {"bodies": [{"kind": b.kind, "inline": r(b.ci), "xline": r(b.cx), "top": r(b.top),
                            "radius": r(b.radius), "height": r(b.height), "stem": r(b.stem)} for b in self.bodies],
                "mother_layer": None if self.layer is None else r(self.layer),
                "reflection": r(self.reflection), "interior": r(self.interior)}

    # -- fields on a grid (1D coordinate vectors broadcast to (T, I, X)) -------------------------
    def phi(self, t: np.ndarray, i: np.ndarray, x: np.ndarray) -> np.ndarray:
        tt = np.asarray(t, np.float32)[:, None, None]
        ii = np.asarray(i, np.float32)[None, :, None]
        xx = np.asarray(x, np.float32)[None, None, :]
        out = None
        for b in self.bodies:
            p = b.phi(tt, ii, xx, self.layer, self.nt)
            out = p if out is None else np.minimum(out, p)
        if self.layer is not None:
            out = np.minimum(out, np.float32(self.layer) - tt)
        return np.broadcast_to(out, (len(t), len(i), len(x)))

    def fraction(self, t: np.ndarray, i: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Salt fraction of each voxel in [0, 1], anti-aliased over one sample (0.5 on the surface)."""
        return np.clip(np.float32(0.5) - self.phi(t, i, x), 0.0, 1.0).astype(np.float32)

    def lift(self, t: np.ndarray, i: np.ndarray, x: np.ndarray) -> np.ndarray:
        tt = np.asarray(t, np.float32)[:, None, None]
        ii = np.asarray(i, np.float32)[None, :, None]
        xx = np.asarray(x, np.float32)[None, None, :]
        out = np.zeros((len(t), len(i), len(x)), np.float32)
        for b in self.bodies:
            out += b.lift(tt, ii, xx)
        return out

    def chaos(self, t: np.ndarray, i: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Smooth unit-variance noise on a (samples, traces) lattice, trilinearly interpolated."""
        ct, cl = self.cells
        out = np.zeros((len(t), len(i), len(x)), np.float32)
        weights = []
        axes = []
        for coord, cell in ((t, ct), (i, cl), (x, cl)):
            pos = np.asarray(coord, np.float64) / cell
            k0 = np.floor(pos).astype(np.int64)
            axes.append(k0)
            weights.append((pos - k0).astype(np.float32))
        for dt in (0, 1):
            wt = weights[0] if dt else 1 - weights[0]
            for di in (0, 1):
                wi = weights[1] if di else 1 - weights[1]
                for dx in (0, 1):
                    wx = weights[2] if dx else 1 - weights[2]
                    corner = hash_noise(self.noise_seed, axes[0] + dt, axes[1] + di, axes[2] + dx)
                    out += corner * (wt[:, None, None] * wi[None, :, None] * wx[None, None, :])
        return out * np.float32(1.8)     # trilinear blending of unit-variance corners shrinks the variance

    def apply(self, refl: np.ndarray, s: np.ndarray, t: np.ndarray, i: np.ndarray, x: np.ndarray,
              rms: tuple[float, float]) -> np.ndarray:
        """Sediment reflectivity at grid (t, i, x) -> with salt: interior chaos, top/base reflections.
        `s` is the salt fraction on the grid with one more sample above (t[0] - 1, t...); `rms` the
        sediments' (RMS of their interfaces, RMS per sample): the reflections scale with the first,
        the chaos inside with the second."""
        frac = s[1:]
        edge = s[1:] - s[:-1]
        out = refl * (np.float32(1.0) - frac)
        out += frac * self.chaos(t, i, x) * np.float32(self.interior * rms[1])
        out += edge * np.float32(self.reflection * rms[0])
        return out
