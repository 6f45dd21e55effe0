"""Layered reflectivity for the synthetic generator: series, amplitude packets, lateral variation,
thickening and an angular unconformity. Everything is drawn once per volume from its generator and
then evaluated at any (tau, inline, xline) position, so sub-boxes render like the whole volume.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpcfault.data.synth_config import ReflectivityRanges

SUB = 4                 # the series lives on a grid of 1/SUB sample; voxels see its box-filtered version


def _u(rng: np.random.Generator, r) -> float:
    return float(rng.uniform(r[0], r[1])) if r[1] > r[0] else float(r[0])


def layered_series(rng: np.random.Generator, n: int, ranges: ReflectivityRanges) -> np.ndarray:
    """Reflectivity on `n` integer samples, box-filtered over one sample from a 1/SUB grid.

    Layer thicknesses are exponential with a mean drawn from `layer_mean` (at least 1/SUB sample);
    a share `sparsity` of the interfaces has no contrast; amplitudes are uniform in [-1, 1] under a
    log-normal envelope that varies by packets of 10-60 samples (`packet_contrast` its log-std)."""
    mean = _u(rng, ranges.layer_mean)
    fine = np.zeros(n * SUB + SUB, np.float64)
    gaps = np.maximum(1.0 / SUB, rng.exponential(mean, int(n / mean * 1.5) + 16))
    spikes = np.cumsum(gaps)
    spikes = spikes[spikes < n]
    amp = rng.uniform(-1.0, 1.0, len(spikes))
    amp[rng.random(len(spikes)) < _u(rng, ranges.sparsity)] = 0.0
    contrast = _u(rng, ranges.packet_contrast)
    if contrast > 0 and len(spikes):
        knots = np.arange(0, n + 60, 30.0)
        env = np.interp(spikes, knots, rng.normal(0.0, contrast, len(knots)))
        amp *= np.exp(env)
    np.add.at(fine, np.clip((spikes * SUB).astype(int), 0, len(fine) - 1), amp)
    box = np.convolve(fine, np.ones(SUB), mode="same")   # the interfaces within one sample's window
    return box[::SUB][:n].astype(np.float32)


@dataclass(frozen=True)
class Lateral:
    """A multiplicative amplitude field 1 + a sin(2 pi (i cos b + x sin b) / wl + 2 pi tau / wt + p)."""

    amplitude: float
    azimuth: float
    wavelength: float
    time_wavelength: float
    phase: float

    @classmethod
    def draw(cls, rng: np.random.Generator, ranges: ReflectivityRanges) -> "Lateral":
        return cls(_u(rng, ranges.lateral_amplitude), float(rng.uniform(0, 2 * np.pi)),
                   _u(rng, ranges.lateral_wavelength), float(rng.uniform(30.0, 150.0)), float(rng.uniform(0, 2 * np.pi)))

    def __call__(self, tau: np.ndarray, i: np.ndarray, x: np.ndarray) -> np.ndarray:
        arg = (i * np.float32(np.cos(self.azimuth)) + x * np.float32(np.sin(self.azimuth))) * np.float32(2 * np.pi / self.wavelength)
        arg += tau * np.float32(2 * np.pi / self.time_wavelength) + np.float32(self.phase)
        return np.float32(1.0) + np.float32(self.amplitude) * np.sin(arg)


@dataclass(frozen=True)
class Unconformity:
    """An erosion surface t_u + ramp + undulation (folded time) above which the younger sequence
    lies; below it, the older sequence carries an extra planar tilt."""

    level: float
    slope_i: float
    slope_x: float
    undulation: float
    wavelength: float
    phase: float
    tilt_i: float
    tilt_x: float

    @classmethod
    def draw(cls, rng: np.random.Generator, shape, ranges: ReflectivityRanges) -> "Unconformity":
        nt, ni, nx = shape
        b = float(rng.uniform(0, 2 * np.pi))
        tilt = _u(rng, ranges.unconformity_tilt)
        return cls(float(rng.uniform(0.3, 0.7) * nt), float(rng.uniform(-0.05, 0.05)), float(rng.uniform(-0.05, 0.05)),
                   float(rng.uniform(0.0, 0.03) * nt), float(rng.uniform(60.0, 200.0)), float(rng.uniform(0, 2 * np.pi)),
                   tilt * float(np.cos(b)), tilt * float(np.sin(b)))

    def surface(self, i: np.ndarray, x: np.ndarray) -> np.ndarray:
        return (np.float32(self.level) + np.float32(self.slope_i) * i + np.float32(self.slope_x) * x
                + np.float32(self.undulation) * np.sin(i * np.float32(2 * np.pi / self.wavelength) + np.float32(self.phase)))

    def tilt(self, i: np.ndarray, x: np.ndarray) -> np.ndarray:
        return np.float32(self.tilt_i) * i + np.float32(self.tilt_x) * x

    def hiatus(self, shape, margin: float = 0.0) -> float:
        """The smallest constant h >= 0 with tau_old + h >= tau at the surface everywhere in the
        survey grown by `margin` traces (unfaulted positions reach beyond the grid): added to the
        older sequence's coordinate, it makes every older voxel older than the younger above."""
        corners = [(i, x) for i in (-margin, shape[1] - 1 + margin) for x in (-margin, shape[2] - 1 + margin)]
        return max(0.0, -min(self.tilt_i * i + self.tilt_x * x for i, x in corners))

    def reach(self, shape) -> float:
        """Largest |tilt| over the survey (how far the older sequence's tau reaches beyond the grid)."""
        return abs(self.tilt_i) * shape[1] + abs(self.tilt_x) * shape[2]


def sample(series: np.ndarray, origin: int, tau: np.ndarray) -> np.ndarray:
    """Linear interpolation of `series` (sample k at tau = origin + k) at positions `tau`."""
    pos = tau - np.float32(origin)
    k = np.floor(pos)
    frac = pos - k
    k = np.clip(k.astype(np.int64), 0, len(series) - 2)
    return series[k] * (np.float32(1.0) - frac) + series[k + 1] * frac


@dataclass(frozen=True)
class Facies:
    """Lateral facies change: a second layered series blended in by a smooth random field,
    w = sigmoid(sharpness * sum_k a_k cos(2 pi (i cos b_k + x sin b_k) / l_k + 2 pi tau / m_k + p_k)).
    Sharp fields end reflectors and change their character across a few traces: lateral
    discontinuities that are not faults."""

    waves: tuple[tuple[float, float, float, float, float], ...]   # (amplitude, azimuth, wavelength, time wl, phase)
    sharpness: float

    @classmethod
    def draw(cls, rng: np.random.Generator, ranges: ReflectivityRanges) -> "Facies":
        n = int(rng.integers(2, 5))
        waves = tuple((float(rng.uniform(0.5, 1.0)), float(rng.uniform(0, 2 * np.pi)), _u(rng, ranges.facies_wavelength),
                       float(rng.uniform(40.0, 400.0)), float(rng.uniform(0, 2 * np.pi))) for _ in range(n))
        return cls(waves, _u(rng, ranges.facies_sharpness))

    def __call__(self, tau: np.ndarray, i: np.ndarray, x: np.ndarray) -> np.ndarray:
        f = np.zeros(np.broadcast_shapes(tau.shape, i.shape, x.shape), np.float32)
        for a, b, wl, wt, p in self.waves:
            arg = (i * np.float32(np.cos(b)) + x * np.float32(np.sin(b))) * np.float32(2 * np.pi / wl)
            f += np.float32(a) * np.cos(arg + tau * np.float32(2 * np.pi / wt) + np.float32(p))
        return np.float32(1.0) / (np.float32(1.0) + np.exp(-np.float32(self.sharpness) * f))


@dataclass(frozen=True)
class Channels:
    """Sinuous channels cut into the layers: in map view a band of width w around the line
    v = c + a sin(2 pi u / l + p) (u, v along and across the channel's azimuth); in time a U of
    depth d below its top tau_c. Inside, the layers are replaced by a weak fill series."""

    channels: tuple[tuple[float, ...], ...]   # (azimuth, centre, amplitude, wavelength, phase, width, top, depth)

    @classmethod
    def draw(cls, rng: np.random.Generator, shape, ranges: ReflectivityRanges) -> "Channels":
        nt, ni, nx = shape
        side = float(max(ni, nx))
        chans = []
        for _ in range(int(rng.integers(ranges.channels[0], ranges.channels[1] + 1))):
            b = float(rng.uniform(0, np.pi))
            centre = float(rng.uniform(-0.3, 0.3) * side)
            chans.append((b, centre, float(rng.uniform(0.02, 0.15) * side), float(rng.uniform(0.3, 1.0) * side),
                          float(rng.uniform(0, 2 * np.pi)), _u(rng, ranges.channel_width),
                          float(rng.uniform(0.15, 0.85) * nt), _u(rng, ranges.channel_depth)))
        return cls(tuple(chans))

    def inside(self, tau: np.ndarray, i: np.ndarray, x: np.ndarray, shape) -> np.ndarray:
        nt, ni, nx = shape
        mask = np.zeros(np.broadcast_shapes(tau.shape, i.shape, x.shape), bool)
        ci, cx = np.float32(ni / 2), np.float32(nx / 2)
        for b, c, a, wl, p, w, top, d in self.channels:
            u = (i - ci) * np.float32(np.cos(b)) + (x - cx) * np.float32(np.sin(b))
            v = -(i - ci) * np.float32(np.sin(b)) + (x - cx) * np.float32(np.cos(b))
            off = np.abs(v - np.float32(c) - np.float32(a) * np.sin(u * np.float32(2 * np.pi / wl) + np.float32(p)))
            depth = (tau - np.float32(top)) / np.float32(d)           # 0 at the channel's top, 1 at its base
            half = np.float32(w / 2) * np.sqrt(np.clip(np.float32(1.0) - depth * depth, 0.0, None))
            mask |= (depth >= 0) & (depth <= 1) & (off < half)
        return mask
