"""Array indices -> survey numbers: inline and crossline numbers, sample times, CDP X/Y, north strike."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpcfault.faults.orientation import MapFrame


@dataclass(frozen=True, eq=False)
class SurveyAxes:
    inlines: np.ndarray
    xlines: np.ndarray
    samples: np.ndarray
    sample_unit: str
    cdp_x: np.ndarray | None
    cdp_y: np.ndarray | None
    live: np.ndarray | None
    frame: MapFrame | None

    @classmethod
    def from_geometry(cls, geom) -> "SurveyAxes":
        frame = MapFrame.from_geometry(geom)
        keep = (lambda a: None if frame is None or a is None else np.asarray(a, np.float64))
        return cls(inlines=np.asarray(geom.inlines), xlines=np.asarray(geom.xlines),
                   samples=np.asarray(geom.samples, np.float64), sample_unit=geom.sample_unit,
                   cdp_x=keep(geom.cdp_x), cdp_y=keep(geom.cdp_y),
                   live=None if geom.live is None or frame is None else np.asarray(geom.live, bool), frame=frame)

    @property
    def has_xy(self) -> bool:
        return self.frame is not None

    def inline(self, i) -> np.ndarray:
        return np.interp(np.asarray(i, np.float64), np.arange(len(self.inlines)), self.inlines.astype(np.float64))

    def xline(self, x) -> np.ndarray:
        return np.interp(np.asarray(x, np.float64), np.arange(len(self.xlines)), self.xlines.astype(np.float64))

    def time(self, t) -> np.ndarray:
        return np.interp(np.asarray(t, np.float64), np.arange(len(self.samples)), self.samples)

    def xy(self, i, x) -> tuple[np.ndarray, np.ndarray]:
        """CDP X/Y at (fractional) indices: bilinear between the four traces around, or the fitted
        affine grid where one of them is dead; NaN without coordinates."""
        i, x = np.atleast_1d(np.asarray(i, np.float64)), np.atleast_1d(np.asarray(x, np.float64))
        if self.frame is None:
            return np.full(i.shape, np.nan), np.full(i.shape, np.nan)
        ni, nx = self.cdp_x.shape
        i0 = np.clip(np.floor(i).astype(np.int64), 0, max(ni - 2, 0))
        x0 = np.clip(np.floor(x).astype(np.int64), 0, max(nx - 2, 0))
        i1, x1 = np.minimum(i0 + 1, ni - 1), np.minimum(x0 + 1, nx - 1)
        fi, fx = i - i0, x - x0
        out = []
        for arr in (self.cdp_x, self.cdp_y):
            v = (arr[i0, x0] * (1 - fi) * (1 - fx) + arr[i1, x0] * fi * (1 - fx)
                 + arr[i0, x1] * (1 - fi) * fx + arr[i1, x1] * fi * fx)
            out.append(v)
        if self.live is not None:
            dead = ~(self.live[i0, x0] & self.live[i1, x0] & self.live[i0, x1] & self.live[i1, x1])
            if dead.any():
                ax, ay = self.frame.xy(i[dead], x[dead])
                out[0][dead], out[1][dead] = ax, ay
        return out[0], out[1]

    def strike_north(self, strike) -> np.ndarray:
        strike = np.asarray(strike, np.float64)
        return np.full(strike.shape, np.nan) if self.frame is None else self.frame.strike_north(strike)
