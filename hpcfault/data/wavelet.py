"""Wavelet and position-seeded noise for the synthetic generator. Pure numpy/scipy, no state.

Every value here is a function of global voxel coordinates and the model's parameters only, so a
sub-box rendered with enough halo equals the same box cut from a whole render.
"""
from __future__ import annotations

import numpy as np

# splitmix64 constants (Steele, Lea & Flood 2014), used as a stateless hash of (seed, t, i, x).
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_PRIME_T = np.uint64(0x8CB92BA72F3D8DD7)
_PRIME_I = np.uint64(0xD6E8FEB86659FD93)
_PRIME_X = np.uint64(0xA0761D6478BD642F)


def ricker(peak_hz: float, dt_s: float) -> np.ndarray:
    """Zero-phase Ricker wavelet sampled every `dt_s` seconds, peak 1, odd length.

    It is cut where its envelope exp(-(pi f t)^2) falls below 1e-5, so the half length is
    ceil(3.4 / (pi f dt)) samples (14 samples for 20 Hz at 4 ms).
    """
    half = int(np.ceil(3.4 / (np.pi * peak_hz * dt_s)))
    t = np.arange(-half, half + 1, dtype=np.float64) * dt_s
    a = (np.pi * peak_hz * t) ** 2
    return (1.0 - 2.0 * a) * np.exp(-a)


def ormsby(f1: float, f2: float, f3: float, f4: float, dt_s: float, half_s: float = 0.1) -> np.ndarray:
    """Zero-phase Ormsby (trapezoidal band-pass) wavelet with corners f1 < f2 <= f3 < f4 Hz, peak 1.

    Its long sidelobes are cut at +-`half_s` seconds under a Hann taper."""
    half = int(np.ceil(half_s / dt_s))
    t = np.arange(-half, half + 1, dtype=np.float64) * dt_s

    def term(f: float) -> np.ndarray:
        return np.pi * f * f * np.sinc(f * t) ** 2

    w = (term(f4) - term(f3)) / (f4 - f3) - (term(f2) - term(f1)) / (f2 - f1)
    w *= 0.5 * (1.0 + np.cos(np.pi * t / (half_s + dt_s)))
    return w / np.abs(w).max()


def minimum_phase(centre_hz: float, dt_s: float, half_s: float = 0.12) -> np.ndarray:
    """A causal (minimum-phase) band-pass wavelet: the impulse response of a 4th-order Butterworth
    band around `centre_hz` (one octave wide), as recorded from an impulsive source. Odd length,
    zero before t = 0, peak |w| = 1."""
    from scipy.signal import butter, lfilter

    half = int(np.ceil(half_s / dt_s))
    nyq = 0.5 / dt_s
    lo, hi = centre_hz / np.sqrt(2.0), min(centre_hz * np.sqrt(2.0), 0.95 * nyq)
    b, a = butter(2, [lo / nyq, hi / nyq], btype="band")
    impulse = np.zeros(half + 1)
    impulse[0] = 1.0
    causal = lfilter(b, a, impulse)
    w = np.concatenate([np.zeros(half), causal])
    return w / np.abs(w).max()


def rotate_phase(w: np.ndarray, degrees: float) -> np.ndarray:
    """Constant phase rotation: cos(phi) w - sin(phi) H[w] (H the Hilbert transform), peak |w| = 1."""
    from scipy.signal import hilbert

    phi = np.radians(degrees)
    pad = len(w)
    analytic = hilbert(np.pad(w, pad))[pad:-pad]
    out = np.cos(phi) * w - np.sin(phi) * analytic.imag
    return out / np.abs(out).max()


def smoothing_kernel(sigma: float = 1.0, radius: int = 2) -> np.ndarray:
    """A normalised gaussian kernel of odd length 2*radius+1 (lateral correlation of the noise)."""
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _mix(z: np.ndarray) -> np.ndarray:
    z = z ^ (z >> np.uint64(30))
    z = z * _MIX1
    z = z ^ (z >> np.uint64(27))
    z = z * _MIX2
    return z ^ (z >> np.uint64(31))


def _hash(seed: int, t: np.ndarray, i: np.ndarray, x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        base = np.uint64(seed & 0xFFFFFFFFFFFFFFFF) * _GOLDEN
        tt = (np.asarray(t, np.int64).astype(np.uint64) * _PRIME_T)[:, None, None]
        ii = (np.asarray(i, np.int64).astype(np.uint64) * _PRIME_I)[None, :, None]
        xx = (np.asarray(x, np.int64).astype(np.uint64) * _PRIME_X)[None, None, :]
        return _mix(((tt + ii) + xx) + base)


def hash_uniform(seed: int, t: np.ndarray, i: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) values at integer global coordinates (broadcast 1D arrays), float64, a hash
    of (seed, t, i, x) like hash_noise (53 bits of it)."""
    return (_hash(seed, t, i, x) >> np.uint64(11)).astype(np.float64) * (1.0 / 2.0 ** 53)


def hash_noise(seed: int, t: np.ndarray, i: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Unit-variance, zero-mean white noise at integer global coordinates (broadcast 1D arrays).

    Each value is a hash of (seed, t, i, x): the same voxel always gets the same value whatever
    box it is rendered in. Values are a sum of four 16-bit uniforms (Irwin-Hall), scaled to unit
    variance; band-limiting afterwards makes them gaussian for all practical purposes.
    """
    z = _hash(seed, t, i, x)
    mask = np.uint64(0xFFFF)
    total = np.zeros(z.shape, np.float32)
    for shift in (0, 16, 32, 48):
        total += ((z >> np.uint64(shift)) & mask).astype(np.float32)
    # each 16-bit uniform has mean 32767.5 and variance (65536^2 - 1) / 12
    return (total - np.float32(4 * 32767.5)) * np.float32(1.0 / (np.sqrt(4 * (65536.0 ** 2 - 1) / 12)))
