"""Volume file -> SEG-Y that reuses the headers of an original survey (`hpcfault export`).

The output keeps the original textual header (and extended textual headers), the binary header
with the sample format code set to 5 (IEEE float32), and every trace header byte for byte, in the
original trace order and byte order; the samples are the volume's values as IEEE float32. Traces
are written by inline ranges sized by a memory budget, into a temporary file renamed when complete.
Traces missing from the original survey stay missing (their volume values are not exported).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from hpcfault.errors import HpcfaultError
from hpcfault.io.atomic import atomic_path
from hpcfault.io.convert import check_output
from hpcfault.io.segy import IEEE_FLOAT, TRACE_HEADER_BYTES
from hpcfault.io.segy_scan import FORMAT_OFFSET, FORMATS, SegyLayout, detect_endian, scan_segy
from hpcfault.io.slabs import DEFAULT_BUDGET, plan_ranges, slab_lines
from hpcfault.io.volume import open_volume, read_geometry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportReport:
    traces: int
    shape: tuple[int, int, int]
    ranges: int
    bytes_written: int


def _check_match(volume: str, ds_shape: tuple, geom_inlines, geom_xlines, layout: SegyLayout) -> None:
    if tuple(ds_shape) != layout.shape:
        raise HpcfaultError(
            f"{volume}: volume shape (T, I, X) = {tuple(ds_shape)} does not match the survey {layout.path} "
            f"({layout.shape}); export with the SEG-Y the volume was converted from")
    if geom_inlines is not None and not (np.array_equal(geom_inlines, layout.inlines)
                                         and np.array_equal(geom_xlines, layout.xlines)):
        raise HpcfaultError(
            f"{volume}: inline/crossline numbers ({int(geom_inlines[0])}.., {int(geom_xlines[0])}..) differ from "
            f"{layout.path} ({int(layout.inlines[0])}.., {int(layout.xlines[0])}..); export with the SEG-Y the "
            "volume was converted from, and the same --iline/--xline bytes")


def export_segy(volume_path: str | os.PathLike, like_segy: str | os.PathLike, out_path: str | os.PathLike, *,
                dataset: str | None = None, iline: int | None = None, xline: int | None = None,
                endian: str | None = None, memory_budget: int = DEFAULT_BUDGET,
                progress: bool = False) -> ExportReport:
    """Write `volume_path[dataset]` (None: its primary dataset) as a SEG-Y with the headers of `like_segy`.

    iline/xline default to the byte locations stored in the volume file, else 189/193; the byte
    order defaults to the one of `like_segy`.
    """
    from tqdm import tqdm

    check_output(out_path, (("VOLUME", volume_path), ("--like", like_segy)), "-o")
    with open_volume(volume_path) as f:
        if dataset is None:
            from hpcfault.io.volume import primary_dataset

            dataset = primary_dataset(f)
        if dataset not in f:
            raise HpcfaultError(f"{volume_path}: no dataset {dataset!r} (got {sorted(f.keys())}); pass --dataset")
        ds = f[dataset]
        stored = lambda k: int(f.attrs.get(k, -1)) if int(f.attrs.get(k, -1)) > 0 else None  # noqa: E731
        iline = iline or stored("iline_byte") or 189
        xline = xline or stored("xline_byte") or 193
        layout = scan_segy(like_segy, iline=iline, xline=xline, endian=endian or detect_endian(like_segy))
        geom = read_geometry(f) if "geometry" in f else None
        _check_match(str(volume_path), ds.shape, None if geom is None else geom.inlines,
                     None if geom is None else geom.xlines, layout)
        t, ni, nx = layout.shape
        big = layout.endian == "big"
        rec = np.dtype([("h", f"V{TRACE_HEADER_BYTES}"), ("s", (">f4" if big else "<f4"), (t,))])
        src_rec = np.dtype([("h", f"V{TRACE_HEADER_BYTES}"), ("s", f"V{t * FORMATS[layout.format_code][1]}")])
        like = np.memmap(like_segy, dtype=src_rec, mode="r", offset=layout.data_offset, shape=(layout.n_traces,))
        with open(like_segy, "rb") as fh:
            head = bytearray(fh.read(layout.data_offset))
        head[FORMAT_OFFSET:FORMAT_OFFSET + 2] = IEEE_FLOAT.to_bytes(2, "big" if big else "little", signed=True)
        ranges = plan_ranges(ni, slab_lines(2 * t * nx * 4, memory_budget))
        total = layout.data_offset + layout.n_traces * rec.itemsize
        with atomic_path(out_path) as tmp:
            with open(tmp, "wb") as out:
                out.write(bytes(head))
                out.truncate(total)
                fd = out.fileno()
                for a, b in tqdm(ranges, desc="export", unit="range", disable=None if progress else True):
                    slab = np.asarray(ds[:, a:b, :], dtype=np.float32).reshape(t, -1)
                    _write_traces(fd, slab, layout.trace_index[a:b].ravel(), like, rec, layout.data_offset)
                out.flush()
                os.fsync(fd)
    log.info("exported %s -> %s (%d traces, IEEE float32, %s-endian)", volume_path, out_path, layout.n_traces,
             layout.endian)
    return ExportReport(traces=layout.n_traces, shape=layout.shape, ranges=len(ranges), bytes_written=total)


def _write_traces(fd: int, slab: np.ndarray, table: np.ndarray, like: np.ndarray, rec: np.dtype,
                  data_offset: int) -> None:
    """Write the live traces of one slab ((T, k*X) values, (k*X,) trace indices) as runs of records."""
    pos = np.flatnonzero(table >= 0)
    traces = table[pos]
    order = np.argsort(traces, kind="stable")
    traces, pos = traces[order], pos[order]
    bounds = np.concatenate(([0], np.flatnonzero(np.diff(traces) != 1) + 1, [len(traces)]))
    for start, stop in zip(bounds[:-1], bounds[1:]):
        if stop <= start:
            continue
        run = np.empty(stop - start, dtype=rec)
        run["h"] = like["h"][traces[start]:traces[stop - 1] + 1]
        run["s"] = slab[:, pos[start:stop]].T
        os.pwrite(fd, run.tobytes(), data_offset + int(traces[start]) * rec.itemsize)
