"""Stage 1: the survey's normalization statistics, computed once over inline slabs by all ranks.

Every rank reads its share of the slabs (dead traces left out), the partial statistics are reduced
over MPI (hpcfault.normalize.compute_stats: min/max, mean/std, a histogram for robust percentiles)
and every block is then scaled with the same Normalizer: never per block, which leaves seams.
The result is kept in the work dir (a resumed run reuses it) and stored with the output. The
stored record names the input it was computed from and the clip percentile, and carries a checksum
of its content: a record that does not match (edited, torn, from another input) is recomputed.
"""
from __future__ import annotations

import hashlib
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


def _digest(record: dict) -> str:
    body = {k: v for k, v in record.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def read_cached(path: Path, identity: dict, clip_percentile: float | None) -> dict | None:
    """The stored record if it is intact and was made for this input and clip, else None (logged)."""
    if not path.is_file():
        return None
    try:
        cached = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        cached = None
    if not isinstance(cached, dict) or cached.get("sha256") != _digest(cached):
        log.warning("%s does not match its checksum (edited or damaged); the statistics are computed again", path)
        return None
    if cached.get("input") != identity or cached.get("clip_percentile") != clip_percentile:
        log.warning("%s was computed for another input or scaling; the statistics are computed again", path)
        return None
    return cached


def load_or_compute(workdir: Path, source: Any, comm: Any, clip_percentile: float | None,
                    identity: dict | None = None) -> tuple[dict, Any]:
    """(stats summary dict, Normalizer), from workdir/stats.json when a previous attempt stored them
    for the same input (`identity`: path, size, mtime, read options) and clip percentile."""
    from hpcfault.normalize import Normalizer, normalizer_from

    identity = json.loads(json.dumps(identity or {}))   # as it reads back from the file
    path = workdir / "stats.json"
    cached = read_cached(path, identity, clip_percentile) if comm.rank == 0 else None
    cached = comm.bcast(cached, root=0)
    if cached is not None:
        log.info("statistics reused from %s", path)
        return cached["stats"], Normalizer.from_dict(cached["normalizer"])
    stats = survey_stats(source, comm)
    norm = normalizer_from(stats, clip_percentile)
    summary = stats.to_dict()
    if comm.rank == 0:
        record = {"input": identity, "clip_percentile": clip_percentile, "stats": summary,
                  "normalizer": norm.to_dict()}
        record["sha256"] = _digest(record)
        write_text_atomic(path, json.dumps(record, indent=1))
    return summary, norm
