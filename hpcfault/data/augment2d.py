"""Augmentation of training tiles (sections of a survey, TGS tiles), applied identically to the
image, its labels and mask (numpy/scipy only).

Geometric transforms move every array together: flips (left-right = along the section's lateral
axis; top-bottom = along time), quarter turns and transposes (square tiles only), an optical
distortion (barrel or pincushion about the tile's centre: r -> r (1 + k r^2), r in half-widths)
and an elastic distortion (a random displacement field smoothed by a gaussian). Warps resample the
image linearly and labels and mask by nearest neighbour (they stay 0/1), reflecting at the border.
Amplitude transforms (contrast about mid-grey, added noise) touch the image only, which stays in
[0, 1].

The seed's recipe used flips both ways, quarter turns, transposes and an optical distortion; a
section has an up and a down (salt lies under its top reflection), so the improved recipe keeps
left-right flips and adds the elastic warp instead (configs/train-salt-*.yaml).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpcfault.data.augment import contrast_and_noise


@dataclass(frozen=True)
class Augment2DConfig:
    hflip: bool = True                      # mirror left-right, probability 1/2
    vflip: bool = False                     # mirror top-bottom, probability 1/2
    rot90: bool = False                     # a random number of quarter turns (square tiles)
    transpose: bool = False                 # swap the axes, probability 1/2 (square tiles)
    optical_prob: float = 0.0               # probability of an optical (radial) distortion
    optical_k: tuple[float, float] = (-0.3, 0.3)   # its coefficient k, uniform in this range
    elastic_prob: float = 0.0               # probability of an elastic distortion
    elastic_alpha: float = 6.0              # its largest displacement, pixels
    elastic_sigma: float = 8.0              # smoothness of its displacement field, pixels
    scale: tuple[float, float] = (0.8, 1.25)   # contrast about 0.5, uniform in this range
    noise_prob: float = 0.3
    noise_max: float = 0.05                 # std of added gaussian noise, uniform in [0, noise_max]


SEED_RECIPE = Augment2DConfig(vflip=True, rot90=True, transpose=True, optical_prob=0.5)


def _warp(arrays: dict[str, np.ndarray], coords: np.ndarray) -> dict[str, np.ndarray]:
    from scipy.ndimage import map_coordinates

    return {k: map_coordinates(a, coords, order=1 if k == "seismic" else 0, mode="reflect").astype(np.float32)
            for k, a in arrays.items()}


def optical_coords(shape: tuple[int, int], k: float) -> np.ndarray:
    """Sampling positions of a radial distortion r -> r (1 + k r^2) about the centre."""
    h, w = shape
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    dy, dx = (yy - cy) / max(cy, 1.0), (xx - cx) / max(cx, 1.0)
    f = 1.0 + k * (dy * dy + dx * dx)
    return np.stack([cy + dy * f * max(cy, 1.0), cx + dx * f * max(cx, 1.0)])


def elastic_coords(shape: tuple[int, int], rng: np.random.Generator, alpha: float, sigma: float) -> np.ndarray:
    """Sampling positions displaced by a smooth random field whose largest shift is `alpha` pixels."""
    from scipy.ndimage import gaussian_filter

    h, w = shape
    field = np.stack([gaussian_filter(rng.uniform(-1.0, 1.0, shape), sigma, mode="reflect") for _ in range(2)])
    peak = float(np.abs(field).max()) or 1.0
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    return np.stack([yy, xx]) + field * (alpha / peak)


def augment_tile(arrays: dict[str, np.ndarray], rng: np.random.Generator,
                 config: Augment2DConfig = Augment2DConfig()) -> dict[str, np.ndarray]:
    """Random transforms drawn from `rng`, the same geometric ones for every (H, W) array:
    "seismic" (linear, amplitude transforms) and labels and masks (nearest). Returns contiguous
    float32 arrays; seismic stays in [0, 1]."""
    out = {k: np.asarray(v, np.float32) for k, v in arrays.items()}
    square = out["seismic"].shape[0] == out["seismic"].shape[1]
    for axis, enabled in ((1, config.hflip), (0, config.vflip)):
        if enabled and rng.random() < 0.5:
            out = {k: np.flip(a, axis) for k, a in out.items()}
    if config.rot90 and square:
        turns = int(rng.integers(4))
        out = {k: np.rot90(a, turns) for k, a in out.items()}
    if config.transpose and square and rng.random() < 0.5:
        out = {k: a.T for k, a in out.items()}
    shape = out["seismic"].shape
    if config.optical_prob > 0 and rng.random() < config.optical_prob:
        out = _warp(out, optical_coords(shape, float(rng.uniform(*config.optical_k))))
    if config.elastic_prob > 0 and rng.random() < config.elastic_prob:
        out = _warp(out, elastic_coords(shape, rng, config.elastic_alpha, config.elastic_sigma))
    out = {k: np.ascontiguousarray(a, dtype=np.float32) for k, a in out.items()}
    return contrast_and_noise(out, rng, config)
