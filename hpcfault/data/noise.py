"""Noise and recording artefacts of the synthetic generator, all functions of global coordinates.

Additive noise is a mix of unit-variance components with random weights (sum of squared weights
1), scaled to the drawn SNR:

    white      independent at every sample;
    trace      band-limited in time by the signal's wavelet, independent from trace to trace (the
               random noise of real surveys: a lateral discontinuity everywhere, not a fault);
    lateral    band-limited in time and smoothed laterally by a gaussian;
    coherent   1-3 linear dipping events (steep, laterally continuous), at the signal's frequency.

Artefacts: spikes (single samples at several x the signal RMS), dead traces (zeroed), noisy traces
(3x extra white noise), "footprint", a multiplicative periodic striping along one lateral axis, and
"gain", a random multiplicative gain per trace (log-normal; the residual trace-balance errors of
real processing: an amplitude discontinuity between neighbouring traces that is not a fault).
Random values come from hashes of (seed, t, i, x), so any sub-box equals the same box of a whole
render (convolutions use halos).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hpcfault.data.synth_config import NoiseRanges
from hpcfault.data.wavelet import hash_noise, hash_uniform, smoothing_kernel


def _u(rng: np.random.Generator, r) -> float:
    return float(rng.uniform(r[0], r[1])) if r[1] > r[0] else float(r[0])


@dataclass(frozen=True)
class NoiseModel:
    weights: dict[str, float]                 # additive component -> weight (sum of squares 1)
    scale: float                              # noise RMS relative to the clean signal's RMS
    seeds: tuple[int, ...]
    lateral_sigma: float
    coherent: tuple[tuple[float, float, float, float], ...]   # (cycles per sample, slope_i, slope_x, phase)
    footprint: tuple[float, float, float, int] | None        # (period, depth, phase, axis 1 or 2)
    spike_density: float
    spike_amplitude: float
    dead: float
    noisy: float
    snr_db: float | None                     # None: clean
    gain_sigma: float = 0.0                  # "gain": sigma of log(per-trace gain), 0 = off
    halo_lateral: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "halo_lateral", int(np.ceil(3 * self.lateral_sigma)) if "lateral" in self.weights else 0)

    @classmethod
    def draw(cls, rng: np.random.Generator, ranges: NoiseRanges, peak_cycles: float) -> "NoiseModel":
        seeds = tuple(int(s) for s in rng.integers(0, 2 ** 62, 6))
        clean = rng.random() < ranges.clean_prob
        additive = [k for k in ranges.kinds if k not in ("footprint", "gain")]
        w = {k: float(rng.uniform(0.05, 1.0)) for k in additive}
        norm = np.sqrt(sum(v * v for v in w.values())) or 1.0
        w = {k: v / norm for k, v in w.items()}
        snr = _u(rng, ranges.snr_db)
        coherent = tuple((peak_cycles * float(rng.uniform(0.6, 1.2)), _u(rng, ranges.coherent_slope) * float(rng.choice([-1, 1])),
                          float(rng.uniform(-0.3, 0.3)), float(rng.uniform(0, 2 * np.pi)))
                         for _ in range(int(rng.integers(1, 4))))
        foot = None
        if "footprint" in ranges.kinds:
            foot = (_u(rng, ranges.footprint_period), _u(rng, ranges.footprint_depth), float(rng.uniform(0, 2 * np.pi)),
                    int(rng.integers(1, 3)))
        spikes, amp = _u(rng, ranges.spike_density), _u(rng, ranges.spike_amplitude)
        dead, noisy = _u(rng, ranges.dead_traces), _u(rng, ranges.noisy_traces)
        sigma = _u(rng, ranges.lateral_sigma)
        # drawn from a generator of its own, so that volumes without "gain" keep their random streams
        gain = _u(np.random.default_rng(seeds[3] ^ 0x6A17), ranges.trace_gain) if "gain" in ranges.kinds else 0.0
        if clean:
            return cls({}, 0.0, seeds, sigma, (), None, 0.0, 0.0, 0.0, 0.0, None)
        return cls(w if additive else {}, 10.0 ** (-snr / 20.0) if additive else 0.0, seeds, sigma, coherent, foot,
                   spikes, amp, dead, noisy, snr, gain)

    def describe(self) -> dict:
        return {"snr_db": None if self.snr_db is None else round(self.snr_db, 3),
                "mix": {k: round(v, 4) for k, v in self.weights.items()},
                "lateral_sigma": round(self.lateral_sigma, 3) if "lateral" in self.weights else None,
                "coherent_events": len(self.coherent) if "coherent" in self.weights else 0,
                "footprint": None if self.footprint is None else
                {"period": round(self.footprint[0], 3), "depth": round(self.footprint[1], 3),
                 "axis": ("inline", "xline")[self.footprint[3] - 1]},
                "trace_gain_sigma": round(self.gain_sigma, 4) if self.gain_sigma else None,
                "spike_density": self.spike_density, "dead_traces": round(self.dead, 5),
                "noisy_traces": round(self.noisy, 5)}

    # -- additive noise (unit variance mix, times `scale`) -------------------------------------------
    def additive(self, t: tuple[int, int], i: tuple[int, int], x: tuple[int, int], wavelet: np.ndarray) -> np.ndarray:
        from scipy.ndimage import convolve1d

        shape = (t[1] - t[0], i[1] - i[0], x[1] - x[0])
        out = np.zeros(shape, np.float32)
        if not self.weights:
            return out
        h = len(wavelet) // 2
        wnorm = np.float32(1.0 / np.sqrt((wavelet.astype(np.float64) ** 2).sum()))
        ta, ia, xa = np.arange(*t), np.arange(*i), np.arange(*x)
        for kind, weight in self.weights.items():
            if kind == "white":
                part = hash_noise(self.seeds[0], ta, ia, xa)
            elif kind == "trace":
                n = hash_noise(self.seeds[1], np.arange(t[0] - h, t[1] + h), ia, xa)
                part = convolve1d(n, wavelet.astype(np.float32), axis=0, mode="constant")[h:h + shape[0]] * wnorm
            elif kind == "lateral":
                r = self.halo_lateral
                k = smoothing_kernel(self.lateral_sigma, r).astype(np.float32)
                n = hash_noise(self.seeds[2], np.arange(t[0] - h, t[1] + h), np.arange(i[0] - r, i[1] + r),
                               np.arange(x[0] - r, x[1] + r))
                n = convolve1d(n, wavelet.astype(np.float32), axis=0, mode="constant")[h:h + shape[0]]
                n = convolve1d(n, k, axis=1, mode="constant")[:, r:r + shape[1]]
                n = convolve1d(n, k, axis=2, mode="constant")[:, :, r:r + shape[2]]
                part = n * (wnorm / np.float32((k.astype(np.float64) ** 2).sum()))
            else:   # coherent
                tt = ta.astype(np.float32)[:, None, None]
                ii = ia.astype(np.float32)[None, :, None]
                xx = xa.astype(np.float32)[None, None, :]
                part = np.zeros(shape, np.float32)
                for cyc, si, sx, ph in self.coherent:
                    part += np.cos(np.float32(2 * np.pi * cyc) * (tt - np.float32(si) * ii - np.float32(sx) * xx) + np.float32(ph))
                part *= np.float32(np.sqrt(2.0 / len(self.coherent)))
            out += np.float32(weight) * part
        out *= np.float32(self.scale)
        return out

    # -- artefacts on the recorded traces ----------------------------------------------------------------
    def artefacts(self, data: np.ndarray, t: tuple[int, int], i: tuple[int, int], x: tuple[int, int],
                  signal_rms: float) -> np.ndarray:
        """Footprint, trace gain, spikes, noisy and dead traces applied to `data` (modified in place, returned)."""
        ta, ia, xa = np.arange(*t), np.arange(*i), np.arange(*x)
        if self.gain_sigma > 0:
            g = hash_noise(self.seeds[4] ^ 0x6A17, np.zeros(1, np.int64), ia, xa)[0]
            data *= np.exp(np.float32(self.gain_sigma) * g)[None]
        if self.footprint is not None:
            period, depth, phase, axis = self.footprint
            coord = (ia if axis == 1 else xa).astype(np.float32)
            stripes = np.float32(1.0) + np.float32(depth) * np.cos(coord * np.float32(2 * np.pi / period) + np.float32(phase))
            data *= stripes[None, :, None] if axis == 1 else stripes[None, None, :]
        if self.spike_density > 0:
            u = hash_uniform(self.seeds[3], ta, ia, xa)
            hit = u < self.spike_density
            if hit.any():
                sign = np.where(u < self.spike_density / 2, -1.0, 1.0)
                data[hit] += (sign[hit] * self.spike_amplitude * signal_rms).astype(np.float32)
        if self.noisy > 0 or self.dead > 0:
            trace = hash_uniform(self.seeds[4], np.zeros(1, np.int64), ia, xa)[0]
            noisy = (trace >= self.dead) & (trace < self.dead + self.noisy)
            if noisy.any():
                extra = hash_noise(self.seeds[5], ta, ia, xa) * np.float32(3.0 * max(self.scale, 0.1) * signal_rms)
                data += np.where(noisy[None], extra, np.float32(0.0))
            data *= np.where(trace < self.dead, np.float32(0.0), np.float32(1.0))[None]
        return data
