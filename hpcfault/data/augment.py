"""Augmentation of training cubes, applied identically to seismic, labels and mask.

Geometric transforms (rotations about the time axis, flips) move all three arrays together;
labels and mask are resampled with nearest neighbour so they stay 0/1. Voxels an arbitrary-angle
rotation brings in from outside the cube get mask 0 (and label 0), so the loss ignores them.
Amplitude transforms (scaling about mid-grey, added noise) touch the seismic only, which is in
[0, 1] and is clipped back to it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    rot90: bool = True                    # random multiple of 90 degrees about the time axis
    rotate_prob: float = 0.3              # probability of an extra arbitrary-angle rotation
    max_angle: float = 45.0               # that rotation's angle is uniform in [-max_angle, max_angle]
    flip_lateral: bool = True             # flip inline and/or xline, each with probability 1/2
    flip_time: bool = False               # flipping time turns normal faults into reverse ones
    scale: tuple[float, float] = (0.8, 1.25)   # contrast about 0.5, uniform in this range
    noise_prob: float = 0.3
    noise_max: float = 0.05               # std of the added gaussian noise, uniform in [0, noise_max]


DEFAULT = AugmentConfig()


def rotate_about_time(arrays: tuple[np.ndarray, np.ndarray, np.ndarray], angle: float):
    """Rotate (seismic, labels, mask) by `angle` degrees in the (inline, xline) plane."""
    from scipy.ndimage import rotate

    seis, labels, mask = arrays
    seis = rotate(seis, angle, axes=(1, 2), reshape=False, order=1, mode="nearest")
    labels = rotate(labels, angle, axes=(1, 2), reshape=False, order=0, mode="constant", cval=0)
    mask = rotate(mask, angle, axes=(1, 2), reshape=False, order=0, mode="constant", cval=0)
    return seis, labels, mask


def augment(seismic: np.ndarray, labels: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
            config: AugmentConfig = DEFAULT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random transforms drawn from `rng`, the same geometric ones for the three (T, I, X) arrays.

    Returns contiguous float32 arrays; seismic stays in [0, 1], labels and mask stay 0/1.
    """
    arrays = (np.asarray(seismic, np.float32), np.asarray(labels, np.float32), np.asarray(mask, np.float32))
    square = arrays[0].shape[1] == arrays[0].shape[2]
    if config.rot90:
        k = int(rng.integers(4)) if square else 2 * int(rng.integers(2))
        arrays = tuple(np.rot90(a, k, axes=(1, 2)) for a in arrays)
    if config.rotate_prob > 0 and rng.random() < config.rotate_prob:
        angle = float(rng.uniform(-config.max_angle, config.max_angle))
        arrays = rotate_about_time(arrays, angle)
    for axis, enabled in ((1, config.flip_lateral), (2, config.flip_lateral), (0, config.flip_time)):
        if enabled and rng.random() < 0.5:
            arrays = tuple(np.flip(a, axis) for a in arrays)
    seis, labels, mask = (np.ascontiguousarray(a, dtype=np.float32) for a in arrays)
    lo, hi = config.scale
    if hi > lo or lo != 1.0:
        s = np.float32(rng.uniform(lo, hi))
        seis = (seis - np.float32(0.5)) * s + np.float32(0.5)
    if config.noise_prob > 0 and rng.random() < config.noise_prob:
        sigma = np.float32(rng.uniform(0.0, config.noise_max))
        seis = seis + sigma * rng.standard_normal(seis.shape, dtype=np.float32)
    np.clip(seis, 0.0, 1.0, out=seis)
    return seis, labels, mask
