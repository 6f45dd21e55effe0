"""Thinning: the ridge of the fault probability across the fault, kept where it is likely enough.

The probability P is smoothed with a Gaussian (S). A voxel is a ridge voxel when S there is not
below S one voxel further along the fault normal and strictly above S one voxel back (trilinear
interpolation): non-maximum suppression across the fault, as fault skins do, which leaves a surface
one voxel thick even where the probability cloud is 5-15 voxels wide. Only voxels with P >= the low
threshold are candidates; a fault object is kept when one of its voxels reaches the high threshold
(hysteresis: a high threshold seeds, a low one extends; link.py and driver.py apply it per object).
"""
from __future__ import annotations

import numpy as np

from hpcfault.faults.orientation import TRUNCATE


def smooth(prob: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing (float32, edges continued with their nearest value)."""
    from scipy.ndimage import gaussian_filter

    out = np.empty(prob.shape, np.float32)
    if sigma <= 0:
        out[...] = prob
        return out
    gaussian_filter(np.asarray(prob, np.float32), sigma, output=out, mode="nearest", truncate=TRUNCATE)
    return out


def ridge_mask(smoothed: np.ndarray, coords: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Which voxels at `coords` ((n, 3) integer (t, i, x)) are maxima of `smoothed` along their
    `normals` ((n, 3) unit vectors): S(v) >= S(v + n) and S(v) > S(v - n)."""
    from scipy.ndimage import map_coordinates

    if len(coords) == 0:
        return np.zeros(0, bool)
    c = np.asarray(coords, np.float64)
    here = smoothed[tuple(np.asarray(coords).T)]
    ahead = map_coordinates(smoothed, (c + normals).T, order=1, mode="nearest")
    behind = map_coordinates(smoothed, (c - normals).T, order=1, mode="nearest")
    return (here >= ahead) & (here > behind)


def voxel_area(normals: np.ndarray) -> np.ndarray:
    """Surface area one ridge voxel stands for (voxel units): a surface one voxel thick along the
    dominant axis of its normal covers 1 / max|n_k| of the plane per voxel."""
    return 1.0 / np.maximum(np.abs(normals).max(axis=1), 1e-6)
