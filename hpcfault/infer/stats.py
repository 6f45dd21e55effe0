"""Stage 1: the survey's normalization statistics, computed once over inline slabs by all ranks.

Every rank reads its share of the slabs (dead traces left out), the partial statistics are reduced
over MPI (hpcfault.normalize.compute_stats: min/max, mean/std, a histogram for robust percentiles)
and every block is then scaled with the same Normalizer: never per block, which leaves seams.
The result is kept in the work dir (a resumed run reuses it) and stored with the output.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from hpcfault.io.atomic import write_text_atomic

log = logging.getLogger(__name__)
SLAB_BYTES = 64 << 20


def inline_slabs(shape: tuple[int, int, int], budget: int = SLAB_BYTES) -> list[tuple[int, int]]:
    """Inline ranges of at most `budget` float32 bytes each (at least one inline)."""
    per_inline = shape[0] * shape[2] * 4
    step = max(1, budget // max(1, per_inline))
    return [(lo, min(shape[1], lo + step)) for lo in range(0, shape[1], step)]


def survey_stats(source: Any, comm: Any, budget: int = SLAB_BYTES) -> Any:
    """Global Stats of the live samples of `source` (collective)."""
    from hpcfault.normalize import compute_stats

    live = source.geometry.live

    def read(slab: tuple[int, int]) -> np.ndarray:
        lo, hi = slab
        a = source.read(slice(None), slice(lo, hi), slice(None))
        return a if live is None else a[:, np.asarray(live[lo:hi], bool)]

    return compute_stats(read, inline_slabs(source.shape, budget), comm, percentiles=True)


def load_or_compute(workdir: Path, source: Any, comm: Any, clip_percentile: float | None) -> tuple[dict, Any]:
    """(stats summary dict, Normalizer), from workdir/stats.json when a previous attempt stored them."""
    from hpcfault.normalize import Normalizer, normalizer_from

    path = workdir / "stats.json"
    cached = None
    if comm.rank == 0 and path.is_file():
        try:
            cached = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            cached = None
    cached = comm.bcast(cached, root=0)
    if cached is not None:
        log.info("statistics reused from %s", path)
        return cached["stats"], Normalizer.from_dict(cached["normalizer"])
    stats = survey_stats(source, comm)
    norm = normalizer_from(stats, clip_percentile)
    summary = stats.to_dict()
    if comm.rank == 0:
        write_text_atomic(path, json.dumps({"stats": summary, "normalizer": norm.to_dict()}, indent=1))
    return summary, norm
