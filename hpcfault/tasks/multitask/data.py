"""Cube transforms of the multitask tasks, applied by the sampler (and validation) after augmentation.

`prepare` (multitask): each cube's RGT is scaled to [0, 1] over the cube's masked voxels, so the
network learns RGT up to the affine map that the engine fits per block when it merges them. (The
DHR target is already in the input's units: the sampler scales the task's `scaled_labels` like the
seismic, and augmentation changes its contrast with the input's.)

`corrupt` (multitask-refine): `prepare`, then the MTR's input channels, named `mti.<channel>` in
the MTI model's channel layout (hpcfault/tasks/multitask/__init__.py), made from deliberately
corrupted labels (Gao 2024):

- faults: a share of the faults in the cube (drawn in `drop`, 5-45 %) removed whole (by fault id),
  `spurious` (0-3) small planar faults added at random places and orientations, then the map
  smoothed by a gaussian of sigma in `fault_sigma` and scaled to peak 1, because the MTI's fault
  probabilities are a few voxels wide and soft;
- dip and strike: the unit vectors of the remaining and added faults' angles, smoothed the same way
  and multiplied by that fault map (as the MTI emits them);
- RGT: multiplied by 1 + `rgt_noise` x s, s a smooth random field with |s| <= 1 (+-10 %);
- DHR: plus correlated noise (gaussian-smoothed, sigma `dhr_sigma`) of `dhr_noise` (5 %) of its
  range.
Every draw comes from the generator the sampler passes (a function of the run's seed and the cube's
number), so cubes are reproducible.

`from_model` (multitask-refine with `refine_from: MTI.pt` in the training config): `prepare`, then
the MTR's input channels are that MTI's outputs for the cube's own (degraded) input - what the MTR
is given at inference, block by block - instead of corrupted labels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Corruption:
    drop: tuple[float, float] = (0.05, 0.45)         # share of the cube's faults removed
    spurious: tuple[int, int] = (0, 3)               # spurious faults added (inclusive)
    spurious_size: tuple[float, float] = (0.2, 0.5)  # their radius, x the cube's largest size
    fault_sigma: tuple[float, float] = (0.5, 1.0)    # smoothing of the fault map, voxels
    rgt_noise: float = 0.10                          # RGT x (1 +- this), smoothly varying
    rgt_sigma: float = 0.15                          # correlation length of that field, x the cube size
    dhr_noise: float = 0.05                          # x the DHR's range
    dhr_sigma: float = 1.0                           # voxels


CORRUPTION = Corruption()


def prepare(arrays: dict[str, np.ndarray], rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
    """The multitask cube: RGT scaled to [0, 1] over the masked voxels (0 outside the mask)."""
    out = dict(arrays)
    rgt = np.asarray(out["rgt"], np.float32)
    live = np.asarray(out["mask"]) > 0 if "mask" in out else np.ones(rgt.shape, bool)
    if live.any():
        lo, hi = float(rgt[live].min()), float(rgt[live].max())
        rgt = (rgt - np.float32(lo)) * np.float32(1.0 / (hi - lo) if hi > lo else 0.0)
        rgt[~live] = 0.0
    out["rgt"] = rgt.astype(np.float32)
    return out


def _smooth_field(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """A smooth random field with max |value| = 1."""
    from scipy.ndimage import gaussian_filter

    f = gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    peak = float(np.abs(f).max())
    return f / np.float32(peak) if peak > 0 else f


def _plane(shape: tuple[int, int, int], rng: np.random.Generator, size: tuple[float, float]):
    """A random planar fault patch: (on-voxel mask, dip, strike modulo 180)."""
    centre = np.array([rng.uniform(0.2, 0.8) * s for s in shape])
    strike = float(rng.uniform(0.0, 360.0))
    dip = float(rng.uniform(45.0, 88.0))
    phi, theta = np.radians(strike), np.radians(dip)
    normal = np.array([np.cos(theta), np.sin(theta) * np.sin(phi), -np.sin(theta) * np.cos(phi)])
    grid = np.stack(np.meshgrid(*(np.arange(s, dtype=np.float32) for s in shape), indexing="ij"), 0)
    rel = grid - centre[:, None, None, None].astype(np.float32)
    dist = np.tensordot(normal.astype(np.float32), rel, axes=1)
    radius = float(rng.uniform(*size)) * max(shape)
    in_plane = (rel ** 2).sum(0) - dist ** 2
    on = (np.abs(dist) <= 0.5) & (in_plane <= radius ** 2)
    return on, dip, strike % 180.0


def corrupt(arrays: dict[str, np.ndarray], rng: np.random.Generator, c: Corruption = CORRUPTION) -> dict[str, np.ndarray]:
    """`prepare`, then the MTR input channels `mti.*` from corrupted labels (module doc)."""
    from scipy.ndimage import gaussian_filter

    from hpcfault.tasks import task_spec

    out = prepare(arrays, rng)
    shape = out["labels"].shape
    fault = np.asarray(out["labels"]) > 0
    ids = np.asarray(out["fault_ids"]).astype(np.int64)
    dip = np.asarray(out["fault_dip"], np.float32).copy()
    strike = np.asarray(out["fault_strike"], np.float32).copy()
    present = np.unique(ids[fault & (ids > 0)])
    share = float(rng.uniform(*c.drop))
    n_drop = int(round(share * len(present)))
    if n_drop:
        gone = rng.choice(present, size=n_drop, replace=False)
        fault &= ~np.isin(ids, gone)
    for _ in range(int(rng.integers(c.spurious[0], c.spurious[1] + 1))):
        on, d, s = _plane(shape, rng, c.spurious_size)
        fault |= on
        dip[on], strike[on] = d, s
    sigma = float(rng.uniform(*c.fault_sigma))
    f = fault.astype(np.float32)
    smooth = gaussian_filter(f, sigma) if sigma > 0 else f
    peak = float(smooth.max())
    scale = np.float32(1.0 / peak) if peak > 0 else np.float32(0.0)
    task = task_spec("multitask")
    channels = {"fault": np.clip(smooth * scale, 0.0, 1.0)}
    for name, values in (("fault_dip", dip), ("fault_strike", strike)):
        phi = values * np.float32(2.0 * np.pi / task.output(name).period)     # as tasks/decode.encode_angle
        for part, v in (("cos", np.cos(phi)), ("sin", np.sin(phi))):
            vec = gaussian_filter(f * v, sigma) if sigma > 0 else f * v
            channels[f"{name}.{part}"] = vec * scale
    field = _smooth_field(rng, shape, c.rgt_sigma * max(shape))
    channels["rgt"] = out["rgt"] * (np.float32(1.0) + np.float32(c.rgt_noise) * field)
    dhr = np.asarray(out["dhr"], np.float32)
    noise = gaussian_filter(rng.standard_normal(shape).astype(np.float32), c.dhr_sigma)
    noise *= np.float32(1.0 / max(float(noise.std()), 1e-12))
    channels["dhr"] = dhr + np.float32(c.dhr_noise * float(dhr.max() - dhr.min())) * noise
    for name in task.channel_names():
        out[f"mti.{name}"] = np.ascontiguousarray(channels[name], dtype=np.float32)
    return out


def from_model(arrays: dict[str, np.ndarray], rng: np.random.Generator | None = None, *, model) -> dict[str, np.ndarray]:
    """`prepare`, then the MTR input channels `mti.*`: `model`'s output channels (an MTI, in eval
    mode) for the cube's scaled input `seismic`, as predict chains them per block."""
    import torch

    from hpcfault.tasks import task_spec

    out = prepare(arrays, rng)
    x = torch.from_numpy(np.ascontiguousarray(out["seismic"], np.float32))[None, None]
    with torch.inference_mode():
        y = model(x)[0].float().numpy()
    for k, name in enumerate(task_spec("multitask").channel_names()):
        out[f"mti.{name}"] = np.ascontiguousarray(y[k])
    return out
