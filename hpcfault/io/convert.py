"""Streamed conversion of a survey (SEG-Y, .npy, .dat, HDF5) into a volume file, serial or under MPI.

The survey is cut into inline ranges sized so that the slab buffers stay within `memory_budget`
(rounded to whole HDF5 chunks when they fit). Ranges go round robin to the ranks. Each rank reads
its ranges; ordinary h5py has no MPI driver, so rank 0 is the only writer: it writes its own slabs
and receives the others' in range order (one slab in flight per rank, blocking MPI Send/Recv), so
memory stays bounded and the file is the same, value for value, for any number of ranks. The output
is created under a temporary name and renamed when complete.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpcfault.fmt import plural
from hpcfault.io.slabs import DEFAULT_BUDGET, format_size, owner, plan_ranges, rank_share, slab_lines
from hpcfault.io.sources import Source, open_source, source_kind
from hpcfault.io.volume import create_volume, default_chunks

log = logging.getLogger(__name__)

# Buffers per slab: the float32 (T, k, X) slab and one copy in the file's dtype/layout while reading.
SLAB_COPIES = 2


@dataclass(frozen=True)
class ConvertReport:
    shape: tuple[int, int, int]
    ranges: int
    inlines_per_range: int
    missing_traces: int
    value_min: float
    value_max: float
    nonfinite: int
    seconds: float
    bytes_written: int


def slab_plan(shape: tuple[int, int, int], memory_budget: int, chunk_inlines: int) -> list[tuple[int, int]]:
    t, i, x = shape
    per = slab_lines(SLAB_COPIES * t * x * 4, memory_budget, align=chunk_inlines)
    return plan_ranges(i, per)


def check_output(dst: str | os.PathLike, inputs: tuple = (), label: str = "output") -> None:
    """Fail early, with one line, when `dst` cannot be written or would replace an input
    (hpcfault.io.paths.check_paths: `inputs` are (label, path) pairs)."""
    from hpcfault.io.paths import arg, check_paths

    check_paths([arg(k, v) for k, v in inputs], [arg(label, dst)])


def _open(src: Any, comm: Any, source_opts: dict) -> Source:
    """Open the input on every rank; SEG-Y headers are scanned once on rank 0 and broadcast."""
    from hpcfault.cluster.mpi import rank0_first

    if source_kind(src) == "segy":
        from hpcfault.io.segy_scan import scan_segy

        keys = ("iline", "xline", "endian", "min_live")
        scan_opts = {k: v for k, v in source_opts.items() if k in keys and v is not None}
        layout = rank0_first(comm, lambda: scan_segy(src, **scan_opts))
        return open_source(src, layout=layout, **{k: v for k, v in source_opts.items() if k not in keys})
    return open_source(src, **source_opts)


def convert(src: str | os.PathLike, dst: str | os.PathLike, *, comm: Any = None,
            memory_budget: int = DEFAULT_BUDGET, progress: bool = True, chunks: tuple[int, int, int] | None = None,
            **source_opts: Any) -> ConvertReport | None:
    """Convert `src` into the volume file `dst`. Returns the report on rank 0, None on other ranks.

    `source_opts` go to `open_source` (iline, xline, endian, axes, shape, dtype, dataset, min_live).
    """
    from hpcfault.cluster.mpi import get_comm

    comm = comm or get_comm()
    t0 = time.perf_counter()
    from hpcfault.cluster.mpi import rank0_first

    rank0_first(comm, lambda: check_output(dst, (("INPUT", src),), "OUTPUT"))
    with _open(src, comm, source_opts) as source:
        shape = source.shape
        chunks = tuple(chunks) if chunks else default_chunks(shape)
        ranges = slab_plan(shape, memory_budget, chunks[1])
        if comm.rank == 0:
            log.info("%s: %s (T, I, X) in %s of up to %s (%s per slab), %s%s",
                     src, shape, plural(len(ranges), "inline range"), plural(ranges[0][1] - ranges[0][0], "inline"),
                     format_size(SLAB_COPIES * shape[0] * shape[2] * 4 * (ranges[0][1] - ranges[0][0])),
                     plural(comm.size, "rank"),
                     f", {plural(source.missing, 'missing trace')} filled with zeros" if source.missing else "")
        try:
            if comm.rank == 0:
                stats = _write_all(source, dst, ranges, chunks, comm, progress)
            else:
                _send_all(source, ranges, comm)
                return None
        except Exception as exc:
            if comm.size > 1:  # a rank blocked in Send/Recv would wait forever: stop the whole job
                log.error("convert failed on rank %d: %s", comm.rank, exc)
                comm.Abort(2)
            raise
    lo, hi, bad = stats
    return ConvertReport(shape=shape, ranges=len(ranges), inlines_per_range=ranges[0][1] - ranges[0][0],
                         missing_traces=source.missing, value_min=lo, value_max=hi, nonfinite=bad,
                         seconds=time.perf_counter() - t0, bytes_written=int(np.prod(shape)) * 4)


def _send_all(source: Source, ranges: list[tuple[int, int]], comm: Any) -> None:
    for k, (a, b) in rank_share(ranges, comm.rank, comm.size):
        slab = source.read(slice(None), slice(a, b), slice(None))
        comm.Send(np.ascontiguousarray(slab, dtype=np.float32), dest=0, tag=k)


def _write_all(source: Source, dst: Any, ranges: list[tuple[int, int]], chunks: tuple[int, int, int],
               comm: Any, progress: bool) -> tuple[float, float, int]:
    from tqdm import tqdm

    t, _, x = source.shape
    lo, hi, bad = np.inf, -np.inf, 0
    with create_volume(dst, source.shape, "float32", geometry=source.geometry, chunks=chunks,
                       attrs=source.attrs()) as f:
        data = f["data"]
        bar = tqdm(total=source.shape[1], unit="inline", desc="convert", disable=None if progress else True,
                   dynamic_ncols=True)   # disable=None: no bar unless stderr is a terminal
        with bar:
            for k, (a, b) in enumerate(ranges):
                if owner(k, comm.size) == 0:
                    slab = source.read(slice(None), slice(a, b), slice(None))
                else:
                    slab = np.empty((t, b - a, x), dtype=np.float32)
                    comm.Recv(slab, source=owner(k, comm.size), tag=k)
                data[:, a:b, :] = slab
                finite = np.isfinite(slab)
                if not finite.all():
                    bad += int(slab.size - np.count_nonzero(finite))
                    slab = slab[finite]
                if slab.size:
                    lo, hi = min(lo, float(slab.min())), max(hi, float(slab.max()))
                del slab
                bar.update(b - a)
        if lo > hi:   # not a single finite sample
            lo = hi = float("nan")
        f.attrs["value_min"], f.attrs["value_max"], f.attrs["nonfinite"] = lo, hi, bad
    return lo, hi, bad
