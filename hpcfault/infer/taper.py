"""Smooth blending weights for overlapping blocks (pure numpy).

Along an axis, a block whose window overlaps its neighbour by L voxels ramps its weight over those
L voxels with w(k) = sin^2(pi/2 * (k + 0.5) / L), k = distance from its edge; the neighbour's ramp
is the mirror image, cos^2, so the two sum to exactly one over the overlap (a partition of unity)
and the voxels next to a block's border - where its prediction lacks context - count least.
At the survey's faces there is no neighbour and the weight stays 1. A block's 3D weight is the
product of its three axis weights; the merge divides by the summed weights anyway, so shifted
last blocks (larger overlaps) and three-way overlaps blend correctly too. Every weight is > 0.
"""
from __future__ import annotations

import numpy as np


def ramp(length: int) -> np.ndarray:
    """Rising weights over `length` voxels, float64, in (0, 1)."""
    k = np.arange(length, dtype=np.float64)
    return np.sin(0.5 * np.pi * (k + 0.5) / length) ** 2


def axis_weights(length: int, left: int, right: int) -> np.ndarray:
    """Weights along one axis of a window of `length` voxels with overlaps `left` and `right`."""
    w = np.ones(length, dtype=np.float64)
    if left:
        w[:left] *= ramp(left)
    if right:
        w[length - right:] *= ramp(right)[::-1]
    return w


def block_weights(shape: tuple[int, int, int], ramps) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three separable axis weights of a block with read shape `shape` and `ramps` per axis."""
    return tuple(axis_weights(n, l, r) for n, (l, r) in zip(shape, ramps))  # type: ignore[return-value]
