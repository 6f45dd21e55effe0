"""Fault orientation: normals from the structure tensor, and the dip / strike conventions.

Arrays are (time, inline, xline); a normal is a unit vector n = (n_t, n_i, n_x) in voxel units (one
time sample = one trace spacing), made canonical with n_t > 0 (or, for vertical faults, n_i > 0, then
n_x > 0).

Conventions (docs/faults.md repeats them):

- dip: degrees in [0, 90], the angle between the fault plane and a time slice, measured in the
  voxel grid (one sample = one trace), which is how the synthetic generator and a model's dip
  output measure it. For a time survey this is an apparent dip, not a dip in metres.
- strike (grid): degrees in [0, 360) in the (inline, crossline) index plane, 0 along the direction
  of INCREASING INLINE NUMBER (array axis 1), 90 along the direction of increasing crossline
  number, chosen by the right-hand rule: the fault dips towards strike + 90 in that same sense.
  This is `hpcfault.data.faults.Fault.strike`. (In interpreter words the axis of increasing inline
  number is the crossline direction, perpendicular to an inline section.)
- strike (north): azimuth in [0, 360), clockwise from grid north (the CDP Y axis), right-hand rule
  (the fault dips towards azimuth + 90, clockwise), from the trace coordinates of the geometry.
  Only where the geometry holds non-degenerate CDP X/Y.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpcfault.errors import HpcfaultError

TRUNCATE = 3.0                      # Gaussian kernels reach round(3 sigma) voxels
EIGH_CHUNK = 16384                  # tensors per eigen-solver call
COMPONENTS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))   # tt, ti, tx, ii, ix, xx


def radius(sigma: float) -> int:
    """Voxels a Gaussian of `sigma` reaches (as scipy.ndimage computes it with TRUNCATE)."""
    return int(TRUNCATE * float(sigma) + 0.5)


def gradients(smoothed: np.ndarray) -> list[np.ndarray]:
    """Central differences along (time, inline, xline) (one-sided at the array's faces), float32."""
    return [g.astype(np.float32, copy=False) for g in np.gradient(smoothed)]


def structure_tensor_at(smoothed: np.ndarray, sigma: float, flat: np.ndarray) -> np.ndarray:
    """The structure tensor of `smoothed` (gradient outer products smoothed with a Gaussian of
    `sigma`) at the voxels `flat` (flat C-order indices): (n, 6) float64, components tt, ti, tx, ii,
    ix, xx. One product array at a time is alive, so the peak is the gradients plus two arrays."""
    from scipy.ndimage import gaussian_filter

    grads = gradients(smoothed)
    out = np.empty((len(flat), 6), np.float64)
    prod = np.empty(smoothed.shape, np.float32)
    smooth = np.empty(smoothed.shape, np.float32)
    for c, (a, b) in enumerate(COMPONENTS):
        np.multiply(grads[a], grads[b], out=prod)
        gaussian_filter(prod, sigma, output=smooth, mode="nearest", truncate=TRUNCATE)
        out[:, c] = smooth.ravel()[flat]
    return out


def _matrices(j6: np.ndarray) -> np.ndarray:
    m = np.empty((len(j6), 3, 3), np.float64)
    for c, (a, b) in enumerate(COMPONENTS):
        m[:, a, b] = j6[:, c]
        m[:, b, a] = j6[:, c]
    return m


def canonical(normals: np.ndarray) -> np.ndarray:
    """Unit normals with the sign convention n_t > 0 (else n_i > 0, else n_x > 0)."""
    n = np.asarray(normals, np.float64)
    n = n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-300)
    key = np.where(n[..., 0] != 0, n[..., 0], np.where(n[..., 1] != 0, n[..., 1], n[..., 2]))
    return n * np.where(key < 0, -1.0, 1.0)[..., None]


def normals_from_tensor(j6: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(canonical normals (n, 3), planarity (n,)) from tensor components (n, 6). The normal is the
    eigenvector of the largest eigenvalue; planarity (l1 - l2) / l1 is 1 on a clean plane and
    falls where two faults meet. A zero tensor gives the normal (1, 0, 0) and planarity 0."""
    normals, planarity = np.empty((len(j6), 3)), np.empty(len(j6))
    for a in range(0, len(j6), EIGH_CHUNK):      # chunks bound the solver's temporaries
        w, v = np.linalg.eigh(_matrices(j6[a:a + EIGH_CHUNK]))
        normals[a:a + EIGH_CHUNK] = canonical(v[:, :, 2])
        top = w[:, 2]
        planarity[a:a + EIGH_CHUNK] = np.where(top > 0, (top - w[:, 1]) / np.where(top > 0, top, 1.0), 0.0)
    return normals, planarity


def mean_normal(tensor_sum: np.ndarray) -> np.ndarray:
    """Mean orientation of a set of normals from the sum of their outer products (6 components)."""
    n, _ = normals_from_tensor(np.asarray(tensor_sum, np.float64).reshape(1, 6))
    return n[0]


def outer6(normals: np.ndarray) -> np.ndarray:
    """(n, 6) outer products n n^T of unit normals (components as COMPONENTS)."""
    return np.stack([normals[:, a] * normals[:, b] for a, b in COMPONENTS], axis=1)


def dip_strike(normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dip, grid strike) in degrees of canonical normals (see the module doc for the convention)."""
    n = canonical(normals)
    dip = np.degrees(np.arccos(np.clip(np.abs(n[..., 0]), 0.0, 1.0)))
    # the plane deepens towards -(n_i, n_x) (n_t > 0); strike is 90 degrees before that direction
    dd_angle = np.degrees(np.arctan2(-n[..., 2], -n[..., 1]))
    flat = np.hypot(n[..., 1], n[..., 2]) < 1e-9
    strike = np.where(flat, 0.0, np.mod(np.round(dd_angle - 90.0, 9), 360.0))
    return dip, strike


def normals_from_dip_strike(dip: np.ndarray, strike: np.ndarray) -> np.ndarray:
    """Canonical normals of planes with `dip` and grid `strike` (degrees), right-hand rule."""
    th, ph = np.radians(np.asarray(dip, np.float64)), np.radians(np.asarray(strike, np.float64))
    n = np.stack([np.cos(th), np.sin(th) * np.sin(ph), -np.sin(th) * np.cos(ph)], axis=-1)
    return canonical(n)


def axial_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a - b for strike lines (mod 180), in [-90, 90)."""
    return np.mod(np.asarray(a) - np.asarray(b) + 90.0, 180.0) - 90.0


def angle_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a - b for azimuths (mod 360), in [-180, 180)."""
    return np.mod(np.asarray(a) - np.asarray(b) + 180.0, 360.0) - 180.0


def _azimuth(dx, dy) -> np.ndarray:
    """Degrees clockwise from north of map vectors, in [0, 360) (rounded to 1e-9 so that -1e-13 is 0)."""
    return np.mod(np.round(np.degrees(np.arctan2(dx, dy)), 9), 360.0)


@dataclass(frozen=True)
class MapFrame:
    """The affine map (inline index, crossline index) -> (CDP X, CDP Y) fitted to a geometry."""

    x0: float
    y0: float
    xi: float      # dX per inline index
    xx: float      # dX per crossline index
    yi: float
    yx: float

    @classmethod
    def from_geometry(cls, geometry) -> "MapFrame | None":
        """Least-squares fit over the live traces; None without CDP X/Y or when they span no area."""
        cx, cy = geometry.cdp_x, geometry.cdp_y
        if cx is None or cy is None:
            return None
        cx, cy = np.asarray(cx, np.float64), np.asarray(cy, np.float64)
        live = np.ones(cx.shape, bool) if geometry.live is None else np.asarray(geometry.live, bool)
        ii, xx = np.nonzero(live)
        if len(ii) < 3:
            return None
        a = np.stack([np.ones(len(ii)), ii, xx], axis=1).astype(np.float64)
        (x0, xi, xx_), *_ = np.linalg.lstsq(a, cx[ii, xx], rcond=None)
        (y0, yi, yx), *_ = np.linalg.lstsq(a, cy[ii, xx], rcond=None)
        det = xi * yx - xx_ * yi
        scale = max(abs(xi), abs(xx_), abs(yi), abs(yx))
        if scale == 0 or abs(det) < 1e-9 * scale * scale:
            return None
        return cls(float(x0), float(y0), float(xi), float(xx_), float(yi), float(yx))

    def xy(self, i: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        i, x = np.asarray(i, np.float64), np.asarray(x, np.float64)
        return self.x0 + self.xi * i + self.xx * x, self.y0 + self.yi * i + self.yx * x

    @property
    def inline_azimuth(self) -> float:
        """Azimuth (clockwise from grid north) of the direction of increasing inline number."""
        return float(_azimuth(self.xi, self.yi))

    @property
    def xline_azimuth(self) -> float:
        return float(_azimuth(self.xx, self.yx))

    def strike_north(self, strike: np.ndarray) -> np.ndarray:
        """Grid strike (degrees) -> strike azimuth from grid north, right-hand rule."""
        ph = np.radians(np.asarray(strike, np.float64))
        si, sx = np.cos(ph), np.sin(ph)                    # strike line in index space
        di, dx = -np.sin(ph), np.cos(ph)                   # dip direction in index space
        sX, sY = self.xi * si + self.xx * sx, self.yi * si + self.yx * sx
        dX, dY = self.xi * di + self.xx * dx, self.yi * di + self.yx * dx
        # right-hand rule on the map: the dip direction lies clockwise of the strike, i.e. on the
        # side of (sY, -sX); flip the strike line where the grid is mirrored
        flip = (dX * sY - dY * sX) < 0
        sX, sY = np.where(flip, -sX, sX), np.where(flip, -sY, sY)
        return _azimuth(sX, sY)


def check_angles(dip: np.ndarray, strike: np.ndarray, where: str) -> None:
    """A model's dip / strike outputs must be finite degrees (dip 0-90, strike 0-360)."""
    for name, arr, hi in (("dip", dip, 90.0), ("strike", strike, 360.0)):
        if arr.size and (not np.isfinite(arr).all() or arr.min() < -1e-3 or arr.max() > hi + 1e-3):
            lo_, hi_ = float(np.nanmin(arr)), float(np.nanmax(arr))
            raise HpcfaultError(f"{where}: {name} values must be finite degrees in 0..{hi:g} (got {lo_:g}..{hi_:g}); "
                                "pass --orientation tensor to compute them from the probability instead")
