"""Augmentation of training cubes, applied identically to seismic, labels and mask.

Geometric transforms (rotations about the time axis, flips) move all three arrays together;
labels and mask are resampled with nearest neighbour so they stay 0/1. Voxels an arbitrary-angle
rotation brings in from outside the cube get mask 0 (and label 0), so the loss ignores them.
Amplitude transforms (scaling about mid-grey, added noise) touch the seismic only, which is in
[0, 1] and is clipped back to it. Continuous labels (`smooth`, e.g. relative geologic time) are
interpolated linearly like the seismic; labels in the seismic's amplitude units (`follow`, e.g. a
clean target image) also get its contrast change (not its noise, and no clipping).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    mirror_prob: float = 0.0              # a smaller box reflect-padded back to the cube, as the engine pads
    mirror_min: float = 0.25              # surveys smaller than a block: that box keeps >= this share per axis
    # A survey is scaled to [0, 1] as a whole, so where its amplitude decays with time (or a deep
    # part is weak) a cube-sized region spans a narrow grey range, and a strong part is clipped.
    # Training cubes are scaled each on their own; with probability gain_prob a cube gets the
    # amplitude such a region has: a contrast factor log-uniform in gain_contrast times a ramp
    # exp(r (t/T - 1/2)) along time, r uniform in [-gain_ramp, gain_ramp], then clipping.
    gain_prob: float = 0.0
    gain_contrast: tuple[float, float] = (0.05, 1.5)
    gain_ramp: float = 2.5                # e^2.5: amplitude 12x larger at one end of the cube than the other


DEFAULT = AugmentConfig()


def _rotate(a: np.ndarray, angle: float, continuous: bool) -> np.ndarray:
    from scipy.ndimage import rotate

    if continuous:
        return rotate(a, angle, axes=(1, 2), reshape=False, order=1, mode="nearest")
    return rotate(a, angle, axes=(1, 2), reshape=False, order=0, mode="constant", cval=0)


def rotate_about_time(arrays: tuple[np.ndarray, np.ndarray, np.ndarray], angle: float):
    """Rotate (seismic, labels, mask) by `angle` degrees in the (inline, xline) plane."""
    seis, labels, mask = arrays
    return _rotate(seis, angle, True), _rotate(labels, angle, False), _rotate(mask, angle, False)


def augment_arrays(arrays: dict[str, np.ndarray], rng: np.random.Generator, config: AugmentConfig = DEFAULT,
                   azimuths: dict[str, float] | None = None, smooth: tuple[str, ...] = (),
                   follow: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Random transforms drawn from `rng`, the same geometric ones for every (T, I, X) array.

    `arrays` holds "seismic" (interpolated linearly, amplitude transforms) and any labels and masks
    (nearest neighbour; voxels brought in from outside by a rotation get 0, so "mask" drops them).
    `azimuths` names arrays of angles in the (inline, xline) plane with their period (e.g. fault
    strike, 180): their values turn with the cube (a rotation by r adds r, a quarter turn adds 90,
    a lateral flip maps a to -a). `smooth` names continuous labels (interpolated linearly), `follow`
    labels in the seismic's units (linear, and the same contrast change). Returns contiguous float32
    arrays; seismic stays in [0, 1]."""
    azimuths = azimuths or {}
    out = {k: np.asarray(v, np.float32) for k, v in arrays.items()}
    turn, mirror = 0.0, False

    def each(fn):
        for k in out:
            out[k] = fn(k, out[k])

    square = out["seismic"].shape[1] == out["seismic"].shape[2]
    if config.rot90:
        k = int(rng.integers(4)) if square else 2 * int(rng.integers(2))
        each(lambda _, a: np.rot90(a, k, axes=(1, 2)))
        turn += 90.0 * k
    if config.rotate_prob > 0 and rng.random() < config.rotate_prob:
        angle = float(rng.uniform(-config.max_angle, config.max_angle))
        linear = {"seismic", *smooth, *follow}
        each(lambda name, a: _rotate(a, angle, name in linear))
        turn += angle
    for axis, enabled in ((1, config.flip_lateral), (2, config.flip_lateral), (0, config.flip_time)):
        if enabled and rng.random() < 0.5:
            each(lambda _, a: np.flip(a, axis))
            if axis:
                # a mirror maps azimuth a to -a (axis 2) or 180 - a (axis 1), after the turns so far
                turn, mirror = (-turn if axis == 2 else 180.0 - turn), not mirror
    if config.mirror_prob > 0 and rng.random() < config.mirror_prob:
        shape = out["seismic"].shape
        keep = [int(rng.integers(max(2, int(config.mirror_min * n)), n + 1)) for n in shape]
        start = [int(rng.integers(0, n - k + 1)) for n, k in zip(shape, keep)]
        box = tuple(slice(a, a + k) for a, k in zip(start, keep))
        pads = [(0, n - k) for n, k in zip(shape, keep)]
        each(lambda _, a: np.pad(a[box], pads, mode="reflect"))
    each(lambda _, a: np.ascontiguousarray(a, dtype=np.float32))
    for name, period in azimuths.items():
        if name in out and (turn or mirror):
            a = out[name]
            out[name] = np.mod((-a if mirror else a) + np.float32(turn), np.float32(period)).astype(np.float32)
    out = contrast_and_noise(out, rng, config, follow)
    if config.gain_prob > 0 and rng.random() < config.gain_prob:
        out = survey_gain(out, rng, config, follow)
    return out


def survey_gain(out: dict[str, np.ndarray], rng: np.random.Generator, config: AugmentConfig,
                follow: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The cube as a part of a survey scaled as a whole (AugmentConfig.gain_*): deviations from
    mid-grey times a contrast and a ramp along time (axis 0), the seismic clipped to [0, 1]; labels
    in `follow` scaled alike, unclipped."""
    lo, hi = config.gain_contrast
    contrast = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    r = float(rng.uniform(-config.gain_ramp, config.gain_ramp))
    n = out["seismic"].shape[0]
    t = np.linspace(-0.5, 0.5, n, dtype=np.float64)
    factor = (contrast * np.exp(r * t)).astype(np.float32)[:, None, None]
    for name in ("seismic", *follow):
        out[name] = (out[name] - np.float32(0.5)) * factor + np.float32(0.5)
    np.clip(out["seismic"], 0.0, 1.0, out=out["seismic"])
    return out


def contrast_and_noise(out: dict[str, np.ndarray], rng: np.random.Generator, config: Any,
                       follow: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The amplitude part of augmentation, for 3D cubes and 2D tiles alike: a contrast scaling about
    0.5 drawn from `config.scale` (labels named in `follow` scaled alike), then, with probability
    `config.noise_prob`, gaussian noise of a sigma drawn up to `config.noise_max`; the seismic of
    `out` clipped to [0, 1]."""
    seis = out["seismic"]
    lo, hi = config.scale
    if hi > lo or lo != 1.0:
        s = np.float32(rng.uniform(lo, hi))
        seis = (seis - np.float32(0.5)) * s + np.float32(0.5)
        for name in follow:
            out[name] = (out[name] - np.float32(0.5)) * s + np.float32(0.5)
    if config.noise_prob > 0 and rng.random() < config.noise_prob:
        sigma = np.float32(rng.uniform(0.0, config.noise_max))
        seis = seis + sigma * rng.standard_normal(seis.shape, dtype=np.float32)
    np.clip(seis, 0.0, 1.0, out=seis)
    out["seismic"] = seis
    return out


def augment(seismic: np.ndarray, labels: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
            config: AugmentConfig = DEFAULT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """augment_arrays for (seismic, labels, mask): seismic stays in [0, 1], labels and mask 0/1."""
    out = augment_arrays({"seismic": seismic, "labels": labels, "mask": mask}, rng, config)
    return out["seismic"], out["labels"], out["mask"]
