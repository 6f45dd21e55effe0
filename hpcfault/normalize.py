"""Input scaling for the models: whole-survey min-max to [0, 1], computed once, never per block.

The published Fault-Net weights were trained on volumes scaled by their own minimum and maximum
to [0, 1]. Scaling every block by its own range (as the reference script does) changes the input
from block to block and leaves seams, so the engine computes the survey's statistics once,
distributed, and every block is scaled with the same `Normalizer(lo, hi)`.

Statistics are mergeable partial sums (`Stats`): each rank reads its slabs, and the partial results
are reduced over MPI. Robust percentiles take two passes:

1. min, max, sum, sum of squares, count of finite samples and of NaN/Inf samples;
2. a fixed-bin histogram (`bins` equal bins over [min, max]) summed over slabs and ranks.

A percentile q is read from the summed histogram as the value at rank k = floor(q/100 * (n - 1))
of the sorted finite samples (numpy's method='lower'), interpolated linearly inside the bin that
holds that rank: the result is within one bin width, (max - min) / bins, of
`np.percentile(x, q, method="lower")`. Integer histograms make the result independent of how the
survey was cut into slabs and of the number of ranks.

`Normalizer.apply` behaviour:
- NaN and +-Inf samples are treated as amplitude 0 before scaling (dead or missing samples);
- values are scaled by (x - lo) / (hi - lo) and clipped to [0, 1] (percentile clipping puts the
  extreme tails at 0 or 1); the output is float32 and never NaN;
- a constant survey (hi <= lo, also a survey without a single finite sample) maps to 0.5
  everywhere: the mid-grey that the reference code also pads with;
- a range near float32's limits (|lo|, |hi| or hi - lo above max/4, e.g. amplitudes of 1e38) is
  scaled in float64, where float32 would overflow to inf and clip every sample to 0 or 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np

from hpcfault.errors import HpcfaultError

DEFAULT_BINS = 65536
CHUNK = 1 << 20          # samples per chunk inside stats_of / histogram (bounds temporaries)
CONSTANT_VALUE = 0.5
F32_SAFE = float(np.finfo(np.float32).max) / 4    # beyond this, x - lo may overflow float32
F32_TINY = float(np.finfo(np.float32).tiny)        # below this, 1 / (hi - lo) loses precision in float32


@dataclass(frozen=True, eq=False)
class Stats:
    """Partial statistics of the finite samples of some part of a survey; `merge` adds parts."""

    count: int = 0                 # finite samples
    nonfinite: int = 0             # NaN / +-Inf samples
    min: float = math.inf
    max: float = -math.inf
    sum: float = 0.0
    sumsq: float = 0.0
    hist: np.ndarray | None = field(default=None, repr=False)   # int64 counts over [hist_lo, hist_hi]
    hist_lo: float = 0.0
    hist_hi: float = 0.0

    @property
    def mean(self) -> float:
        return self.sum / self.count if self.count else 0.0

    @property
    def std(self) -> float:
        if not self.count:
            return 0.0
        return math.sqrt(max(0.0, self.sumsq / self.count - self.mean ** 2))

    def merge(self, other: "Stats") -> "Stats":
        if self.hist is not None and other.hist is not None:
            if (self.hist.size, self.hist_lo, self.hist_hi) != (other.hist.size, other.hist_lo, other.hist_hi):
                raise HpcfaultError(
                    f"cannot merge histograms over different ranges (got {self.hist.size} bins over "
                    f"[{self.hist_lo}, {self.hist_hi}] and {other.hist.size} over [{other.hist_lo}, "
                    f"{other.hist_hi}]); compute pass 2 with the global min/max of pass 1")
            hist = self.hist + other.hist
        else:
            hist = self.hist if other.hist is None else other.hist
        lo, hi = (self.hist_lo, self.hist_hi) if self.hist is not None else (other.hist_lo, other.hist_hi)
        return Stats(count=self.count + other.count, nonfinite=self.nonfinite + other.nonfinite,
                     min=min(self.min, other.min), max=max(self.max, other.max),
                     sum=self.sum + other.sum, sumsq=self.sumsq + other.sumsq,
                     hist=hist, hist_lo=lo, hist_hi=hi)

    def percentile(self, q: float) -> float:
        """The q-th percentile (0..100) from the histogram, within one bin width (see module doc)."""
        if self.hist is None:
            raise HpcfaultError("these statistics carry no histogram; compute them with percentiles=True")
        if not 0.0 <= q <= 100.0:
            raise HpcfaultError(f"percentile must lie in [0, 100] (got {q})")
        n = int(self.hist.sum())
        if n == 0 or self.hist_hi <= self.hist_lo:
            return float(self.hist_lo)
        rank = math.floor(q / 100.0 * (n - 1))             # 0-based rank of the wanted sample
        cum = np.cumsum(self.hist)
        j = int(np.searchsorted(cum, rank, side="right"))  # bin holding that rank
        before = int(cum[j - 1]) if j else 0
        width = (self.hist_hi - self.hist_lo) / self.hist.size
        frac = (rank - before + 0.5) / int(self.hist[j])
        return float(min(self.hist_hi, self.hist_lo + (j + frac) * width))

    def to_dict(self, percentiles: Sequence[float] = (0.5, 1.0, 99.0, 99.5)) -> dict[str, Any]:
        """A JSON-ready summary (stored with the prediction)."""
        out: dict[str, Any] = {"count": self.count, "nonfinite": self.nonfinite,
                               "min": _finite(self.min), "max": _finite(self.max),
                               "mean": self.mean, "std": self.std}
        if self.hist is not None:
            out["histogram_bins"] = int(self.hist.size)
            out["percentiles"] = {f"{q:g}": self.percentile(q) for q in percentiles}
        return out


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _chunks(flat: np.ndarray, size: int = CHUNK) -> Any:
    for start in range(0, flat.size, size):
        yield flat[start:start + size]


def stats_of(x: np.ndarray, hist_range: tuple[float, float] | None = None,
             bins: int = DEFAULT_BINS) -> Stats:
    """Statistics of one array (any shape). With `hist_range`, also its histogram over that range.

    Works through the array in chunks of CHUNK samples, so the float64 temporaries stay small.
    """
    flat = np.asarray(x).reshape(-1)
    st = Stats()
    count = nonfinite = 0
    lo, hi, total, total_sq = math.inf, -math.inf, 0.0, 0.0
    hist = None if hist_range is None else np.zeros(bins, np.int64)
    for part in _chunks(flat):
        finite = np.isfinite(part)
        n_ok = int(np.count_nonzero(finite))
        vals = part if n_ok == part.size else part[finite]
        nonfinite += part.size - n_ok
        if n_ok:
            v64 = vals.astype(np.float64)
            count += n_ok
            lo, hi = min(lo, float(v64.min())), max(hi, float(v64.max()))
            total += float(v64.sum())
            total_sq += float(np.dot(v64, v64))
            if hist is not None:
                hist += histogram(v64, hist_range, bins)  # type: ignore[arg-type]
    st = Stats(count=count, nonfinite=nonfinite, min=lo, max=hi, sum=total, sumsq=total_sq)
    if hist is None:
        return st
    return replace(st, hist=hist, hist_lo=float(hist_range[0]), hist_hi=float(hist_range[1]))  # type: ignore[index]


def histogram(vals: np.ndarray, hist_range: tuple[float, float], bins: int) -> np.ndarray:
    """Counts of the finite `vals` in `bins` equal bins over [lo, hi] (outside: the end bins)."""
    lo, hi = float(hist_range[0]), float(hist_range[1])
    if bins < 1:
        raise HpcfaultError(f"histogram bins must be >= 1 (got {bins})")
    out = np.zeros(bins, np.int64)
    if hi <= lo:
        out[0] = int(np.count_nonzero(np.isfinite(vals)))
        return out
    for part in _chunks(np.asarray(vals).reshape(-1)):
        finite = np.isfinite(part)
        if not finite.all():
            part = part[finite]
        idx = np.floor((part.astype(np.float64) - lo) * (bins / (hi - lo)))
        np.clip(idx, 0, bins - 1, out=idx)
        out += np.bincount(idx.astype(np.int64), minlength=bins)
    return out


@dataclass(frozen=True)
class Normalizer:
    """Scale amplitudes with the survey's range [lo, hi] to float32 in [0, 1] (see module doc)."""

    lo: float
    hi: float

    @property
    def constant(self) -> bool:
        return not (self.hi > self.lo and math.isfinite(1.0 / (float(self.hi) - float(self.lo))))

    @property
    def wide(self) -> bool:
        """A range float32 arithmetic cannot take (x - lo or 1 / (hi - lo) would overflow/underflow)."""
        return (max(abs(float(self.lo)), abs(float(self.hi))) > F32_SAFE or float(self.hi) - float(self.lo) > F32_SAFE
                or 1.0 / (float(self.hi) - float(self.lo)) < F32_TINY)

    def apply(self, x: np.ndarray) -> np.ndarray:
        if self.constant:
            return np.full(np.shape(x), CONSTANT_VALUE, np.float32)
        if self.wide:   # survey ranges near float32's limits: the same formula in float64
            x64 = np.asarray(x, dtype=np.float64)
            out64 = np.clip((x64 - float(self.lo)) / (float(self.hi) - float(self.lo)), 0.0, 1.0)
            zero = min(max((0.0 - float(self.lo)) / (float(self.hi) - float(self.lo)), 0.0), 1.0)
            out64[~np.isfinite(x64)] = zero
            return out64.astype(np.float32)
        lo, scale = np.float32(self.lo), np.float32(1.0 / (float(self.hi) - float(self.lo)))
        bad = ~np.isfinite(x)                          # NaN / Inf samples count as amplitude 0
        out = np.subtract(x, lo, dtype=np.float32)     # the only full-size array (bad samples aside)
        out *= scale
        np.minimum(out, np.float32(1.0), out=out)
        np.maximum(out, np.float32(0.0), out=out)
        if bad.any():
            out[bad] = min(max((np.float32(0.0) - lo) * scale, 0.0), 1.0)
        return out

    def to_dict(self) -> dict[str, float]:
        return {"lo": float(self.lo), "hi": float(self.hi)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Normalizer":
        return cls(float(d["lo"]), float(d["hi"]))


def normalizer_from(stats: Stats, clip_percentile: float | None = None) -> Normalizer:
    """Min-max (clip_percentile=None) or [p, 100 - p] percentile range (e.g. 0.5 -> 0.5..99.5)."""
    if stats.count == 0:
        return Normalizer(0.0, 0.0)
    if clip_percentile is None or clip_percentile == 0:
        return Normalizer(float(stats.min), float(stats.max))
    p = float(clip_percentile)
    if not 0.0 < p < 50.0:
        raise HpcfaultError(f"clip percentile must lie in (0, 50) (got {p}); e.g. 0.5 clips to 0.5..99.5")
    return Normalizer(stats.percentile(p), stats.percentile(100.0 - p))


def fit_normalizer(x: np.ndarray, clip_percentile: float | None = None, bins: int = DEFAULT_BINS) -> Normalizer:
    """The Normalizer of one in-memory array (a training cube, a held-out volume, a subsample), made
    by the same two passes (min/max, then the histogram for percentiles) that compute_stats makes
    over a whole survey, so training and inference scale their inputs the same way."""
    st = stats_of(x)
    if clip_percentile and st.count:
        st = stats_of(x, (st.min, st.max), bins)
    return normalizer_from(st, clip_percentile)


def compute_stats(read_fn: Callable[[Any], np.ndarray], slabs: Sequence[Any], comm: Any = None, *,
                  percentiles: bool = True, bins: int = DEFAULT_BINS, distribute: bool = True,
                  progress: Callable[[int], None] | None = None) -> Stats:
    """Whole-survey statistics, computed by every rank over its share of `slabs` and reduced.

    `read_fn(slab)` returns the samples of one slab (any shape; return only live samples to leave
    dead traces out). With `distribute=True`, `slabs` is the whole list and rank r reads
    slabs[r::size]; with `distribute=False` each rank passes its own list. Every rank returns the
    same global Stats. With `percentiles=True` a second pass builds the histogram (module doc).
    `comm=None` uses hpcfault.cluster.mpi.get_comm() (a one-rank SerialComm outside MPI).
    """
    from hpcfault.cluster.mpi import allreduce, get_comm

    comm = get_comm() if comm is None else comm
    mine = list(slabs)[comm.rank::comm.size] if distribute else list(slabs)
    part = Stats()
    for slab in mine:
        part = part.merge(stats_of(read_fn(slab)))
        if progress is not None:
            progress(1)
    total = Stats(count=allreduce(comm, part.count, "sum"), nonfinite=allreduce(comm, part.nonfinite, "sum"),
                  min=allreduce(comm, part.min, "min"), max=allreduce(comm, part.max, "max"),
                  sum=allreduce(comm, part.sum, "sum"), sumsq=allreduce(comm, part.sumsq, "sum"))
    if not percentiles:
        return total
    rng = (total.min, total.max) if total.count else (0.0, 0.0)
    hist = np.zeros(bins, np.int64)
    for slab in mine:
        hist += histogram(np.asarray(read_fn(slab)), rng, bins)
        if progress is not None:
            progress(1)
    hist = np.asarray(allreduce(comm, hist, "sum"), dtype=np.int64)
    return replace(total, hist=hist, hist_lo=float(rng[0]), hist_hi=float(rng[1]))
