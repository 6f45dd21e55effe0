"""Horizons from relative geologic time: iso-RGT surfaces as (inline, xline) -> time grids.

A horizon of value v is, on every trace, the time where RGT first reaches v going down: between the
samples k - 1 and k with rgt[k - 1] < v <= rgt[k], at k - 1 + (v - rgt[k - 1]) / (rgt[k] - rgt[k - 1])
(linear interpolation; exactly k when rgt[k] = v). A trace that never reaches v (v above its
top or below its bottom value, or a dead trace) has no point (NaN). Where RGT steps up across an
unconformity, values inside the step land on the unconformity.

`extract` reads the RGT dataset of a volume file in inline slabs (traces are independent, so any
slab size gives the same grids) and writes, atomically, one HDF5 file with a (values, inline,
xline) float32 dataset `time` in samples, `time_ms` in the survey's time unit and the geometry, and
one ASCII file per value with a line `inline xline x y time` per trace that has a point (time in the
survey's unit), the column layout interpretation software imports.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from hpcfault.errors import HpcfaultError


def iso_times(rgt: np.ndarray, values: Sequence[float]) -> np.ndarray:
    """(len(values), I, X) float32 sample positions of the iso-surfaces of `rgt` (T, I, X); NaN
    where a trace does not reach the value (see the module doc)."""
    r = np.asarray(rgt, np.float32)
    nt = r.shape[0]
    out = np.full((len(values), *r.shape[1:]), np.nan, np.float32)
    finite = np.isfinite(r).all(axis=0)
    for n, v in enumerate(values):
        v = np.float32(v)
        reached = r >= v
        k = np.argmax(reached, axis=0)                     # first sample at or past v
        hit = reached.any(axis=0) & finite
        k0 = np.clip(k - 1, 0, nt - 1)
        lo = np.take_along_axis(r, k0[None], 0)[0]
        hi = np.take_along_axis(r, k[None], 0)[0]
        step = hi - lo
        frac = np.where((k > 0) & (step > 0), (v - lo) / np.where(step > 0, step, 1), 0.0)
        t = np.where(k > 0, k0 + frac, 0.0).astype(np.float32)
        top_only = (k == 0) & (r[0] > v)                   # the trace starts below v: v is above it
        out[n] = np.where(hit & ~top_only, t, np.nan)
    return out


def check_values(values: Sequence[float]) -> list[float]:
    vals = [float(v) for v in values]
    if not vals or any(not np.isfinite(v) for v in vals) or len(set(vals)) != len(vals):
        raise HpcfaultError(f"horizon values must be distinct finite numbers (got {list(values)}); "
                            "e.g. --values 0.2 0.4 0.6 0.8")
    return vals


def extract(path: str | os.PathLike, values: Sequence[float], out_dir: str | os.PathLike, *,
            dataset: str = "rgt", slab: int = 32, name: str = "horizons") -> list[Path]:
    """Horizons of `values` from dataset `dataset` of the volume file `path` into `out_dir`
    (module doc); returns the files written."""
    from hpcfault.io.atomic import atomic_path
    from hpcfault.io.volume import check_volume, open_volume, read_geometry

    vals = check_values(values)
    if slab < 1:
        raise HpcfaultError(f"--slab must be >= 1 inline (got {slab})")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise HpcfaultError(f"the output must be a folder (got the file {str(out_dir)!r}); give a new or existing folder")
    targets = [out_dir / f"{name}.h5"] + [out_dir / f"{name}-{v:g}.txt" for v in vals]
    for t in targets:
        if t.resolve() == Path(path).resolve():
            raise HpcfaultError(f"a horizon file would replace the input (got {t}); choose another folder or --name")
        if t.exists() and not t.is_file():
            raise HpcfaultError(f"{t} exists and is not a regular file (got a {'folder' if t.is_dir() else 'special file'}); "
                                "remove it or choose another folder")
    with open_volume(path) as f:
        ds = check_volume(f, path, dataset)
        geom = read_geometry(f)
        nt, ni, nx = ds.shape
        times = np.full((len(vals), ni, nx), np.nan, np.float32)
        for i0 in range(0, ni, slab):
            i1 = min(ni, i0 + slab)
            times[:, i0:i1] = iso_times(ds[:, i0:i1, :], vals)
    if geom.live is not None:
        times[:, ~np.asarray(geom.live, bool)] = np.nan          # dead traces have no horizon
    samples = np.asarray(geom.samples, np.float64)
    ms = np.interp(times, np.arange(nt), samples, left=np.nan, right=np.nan).astype(np.float32)
    ms[np.isnan(times)] = np.nan
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    import h5py

    h5 = targets[0]
    with atomic_path(h5) as tmp:
        with h5py.File(tmp, "w") as g:
            g.create_dataset("values", data=np.asarray(vals, np.float64))
            g.create_dataset("time", data=times)
            g.create_dataset("time_ms", data=ms)
            g.create_dataset("inlines", data=np.asarray(geom.inlines))
            g.create_dataset("xlines", data=np.asarray(geom.xlines))
            if geom.cdp_x is not None:
                g.create_dataset("cdp_x", data=np.asarray(geom.cdp_x, np.float64))
                g.create_dataset("cdp_y", data=np.asarray(geom.cdp_y, np.float64))
            g.attrs.update({"axes": "value,inline,xline", "source": str(path), "dataset": dataset,
                            "time_unit": "samples (time); " + str(geom.sample_unit or "") + " (time_ms)"})
    written.append(h5)
    il = np.asarray(geom.inlines)[:, None].repeat(nx, 1)
    xl = np.asarray(geom.xlines)[None, :].repeat(ni, 0)
    cx = np.asarray(geom.cdp_x, np.float64) if geom.cdp_x is not None else np.zeros((ni, nx))
    cy = np.asarray(geom.cdp_y, np.float64) if geom.cdp_y is not None else np.zeros((ni, nx))
    for n, v in enumerate(vals):
        txt = targets[1 + n]
        ok = ~np.isnan(ms[n])
        rows = np.stack([il[ok], xl[ok], cx[ok], cy[ok], ms[n][ok]], 1)
        with atomic_path(txt) as tmp:
            with open(tmp, "w", encoding="ascii") as fh:
                fh.write(f"# iso-RGT horizon {v:g} of {path}:{dataset}; columns: inline xline x y time "
                         f"({geom.sample_unit or 'samples'})\n")
                np.savetxt(fh, rows, fmt=["%d", "%d", "%.2f", "%.2f", "%.3f"])
        written.append(txt)
    return written
