"""The multi-task input's degradation: a lateral blur and noise on the clean image (Gao 2024).

The multi-task targets are clean (the image at a higher band, relative geologic time, faults); the
network's input is the lower-band image blurred laterally by a gaussian of sigma 1.5-3 traces plus
noise of 0-50 % of the clean image's maximum amplitude. The noise is uniform (spanning +-level x
max), normal or exponential (zero mean, the uniform noise's standard deviation, level x max / sqrt 3),
optionally smoothed by a gaussian in all three directions and rescaled to keep its standard
deviation. Values are hashes of (seed, t, i, x) and smoothing/blurring uses halos, so a sub-box
equals the same box of a whole render. Drawn per volume from `DegradeRanges` (synth_config.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpcfault.data.synth_config import DegradeRanges
from hpcfault.data.wavelet import hash_noise, hash_uniform, smoothing_kernel


def _u(rng: np.random.Generator, r) -> float:
    return float(rng.uniform(r[0], r[1])) if r[1] > r[0] else float(r[0])


def _radius(sigma: float) -> int:
    return int(np.ceil(3.0 * sigma)) if sigma > 0 else 0


@dataclass(frozen=True)
class Degradation:
    blur_sigma: float            # traces; 0 = no blur
    kind: str                    # uniform | normal | exponential
    level: float                 # x the clean image's maximum |amplitude|; 0 = no noise
    smooth_sigma: float          # samples; 0 = white
    seed: int

    @classmethod
    def draw(cls, rng: np.random.Generator, ranges: DegradeRanges) -> "Degradation":
        seed = int(rng.integers(0, 2 ** 62))
        blur = _u(rng, ranges.blur_sigma) if rng.random() < ranges.blur_prob else 0.0
        noisy = rng.random() < ranges.noise_prob
        kind = str(rng.choice(list(ranges.noise_kinds)))
        level = _u(rng, ranges.noise_level)
        smooth = _u(rng, ranges.smooth_sigma) if rng.random() < ranges.smooth_prob else 0.0
        return cls(blur, kind, level if noisy else 0.0, smooth if noisy else 0.0, seed)

    @property
    def blur_halo(self) -> int:
        """Traces of context the blur needs on each side of a box."""
        return _radius(self.blur_sigma)

    def describe(self) -> dict:
        return {"blur_sigma": round(self.blur_sigma, 4), "noise": self.kind if self.level else None,
                "noise_level": round(self.level, 4), "noise_smooth_sigma": round(self.smooth_sigma, 4)}

    def blur(self, image: np.ndarray) -> np.ndarray:
        """`image` (T, I + 2h, X + 2h) with h = blur_halo traces of context -> its blurred (T, I, X) core."""
        h = self.blur_halo
        if not h:
            return image
        from scipy.ndimage import convolve1d

        k = smoothing_kernel(self.blur_sigma, h).astype(np.float32)
        out = convolve1d(image, k, axis=1, mode="constant")[:, h:-h]
        return convolve1d(out, k, axis=2, mode="constant")[:, :, h:-h]

    def noise(self, t: tuple[int, int], i: tuple[int, int], x: tuple[int, int], peak: float) -> np.ndarray:
        """The additive noise of the box [t, i, x) (float32), for a clean image of maximum |amplitude| `peak`."""
        shape = (t[1] - t[0], i[1] - i[0], x[1] - x[0])
        if self.level <= 0:
            return np.zeros(shape, np.float32)
        r = _radius(self.smooth_sigma)
        axes = [np.arange(a - r, b + r) for a, b in (t, i, x)]
        if self.kind == "normal":
            n = hash_noise(self.seed, *axes)
        else:
            u = hash_uniform(self.seed, *axes)
            if self.kind == "uniform":
                n = ((2.0 * u - 1.0) * np.sqrt(3.0)).astype(np.float32)       # unit variance
            else:
                n = (-np.log1p(-u) - 1.0).astype(np.float32)                  # exponential, centred: unit variance
        if r:
            from scipy.ndimage import convolve1d

            k = smoothing_kernel(self.smooth_sigma, r).astype(np.float32)
            for axis in range(3):
                n = np.take(convolve1d(n, k, axis=axis, mode="constant"), range(r, r + shape[axis]), axis=axis)
            n *= np.float32(1.0 / np.sqrt(float((k.astype(np.float64) ** 2).sum()) ** 3))
        n *= np.float32(self.level * peak / np.sqrt(3.0))
        return n
