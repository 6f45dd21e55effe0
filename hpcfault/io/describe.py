"""What `hpcfault info` reports about a SEG-Y, volume or array file, as ordered (key, value) rows."""
from __future__ import annotations

import json

import os
from pathlib import Path
from typing import Any

import numpy as np

from hpcfault.io.slabs import DEFAULT_BUDGET, format_size, plan_ranges, slab_lines
from hpcfault.io.sources import Source, open_source, source_kind


def value_range(source: Source, memory_budget: int = DEFAULT_BUDGET) -> dict[str, Any]:
    """min, max, mean, rms and non-finite count of a source, read inline range by inline range."""
    t, i, x = source.shape
    lo, hi, total, sq, count, bad = np.inf, -np.inf, 0.0, 0.0, 0, 0
    for a, b in plan_ranges(i, slab_lines(2 * t * x * 4, memory_budget)):
        slab = source.read(slice(None), slice(a, b), slice(None))
        finite = slab[np.isfinite(slab)]
        bad += slab.size - finite.size
        if finite.size:
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
            total += float(finite.sum(dtype=np.float64))
            sq += float(np.square(finite, dtype=np.float64).sum())
            count += finite.size
    mean = total / count if count else float("nan")
    return {"min": lo, "max": hi, "mean": mean, "rms": (sq / count) ** 0.5 if count else float("nan"),
            "nonfinite": bad}


def _lines(values: np.ndarray) -> str:
    v = np.asarray(values)
    if len(v) == 0:
        return "none"
    steps = np.unique(np.diff(v)) if len(v) > 1 else np.array([1])
    step = f" step {steps[0]:g}" if len(steps) == 1 else f" steps {steps.min():g}..{steps.max():g}"
    return f"{len(v)} ({v[0]:g}..{v[-1]:g}{step})"


def _geometry_rows(source: Source) -> list[tuple[str, Any]]:
    g = source.geometry
    rows: list[tuple[str, Any]] = [
        ("inlines", _lines(g.inlines)), ("xlines", _lines(g.xlines)),
        ("samples", f"{len(g.samples)} ({g.samples[0]:g}..{g.samples[-1]:g} {g.sample_unit}, "
                    f"interval {g.sample_interval:g} {g.sample_unit})"),
    ]
    if g.iline_byte is not None:
        rows.append(("line bytes", f"inline {g.iline_byte}, crossline {g.xline_byte}"))
    if g.live is not None:
        rows.append(("live traces", f"{int(np.count_nonzero(g.live))} of {g.live.size} ({source.missing} missing)"))
    if g.cdp_x is not None and g.cdp_y is not None:
        live = g.live if g.live is not None else np.ones(g.cdp_x.shape, bool)
        if live.any():
            cx, cy = g.cdp_x[live], g.cdp_y[live]
            rows.append(("cdp x", f"{cx.min():g}..{cx.max():g}"))
            rows.append(("cdp y", f"{cy.min():g}..{cy.max():g}"))
    return rows


def describe(path: str | os.PathLike, *, values: bool = True, memory_budget: int = DEFAULT_BUDGET,
             **source_opts: Any) -> list[tuple[str, Any]]:
    """Rows for `hpcfault info`: file kind, shape, axes, geometry, storage, value range."""
    kind = source_kind(path)
    rows: list[tuple[str, Any]] = [("file", str(path)), ("size", format_size(Path(path).stat().st_size))]
    with open_source(path, **source_opts) as src:
        rows += [("kind", kind), ("shape", "(time, inline, xline) = " + str(src.shape)),
                 ("axes", "time,inline,xline")]
        if kind == "segy":
            lay = src.layout  # type: ignore[attr-defined]
            rows += [("sample format", f"{lay.format_code} ({lay.format_name}), {lay.endian}-endian"),
                     ("traces", f"{lay.n_traces}, {lay.ext_headers} extended textual headers")]
        elif kind == "hdf5":
            rows += _hdf5_rows(path)
        else:
            rows += [("stored", f"{src.stored_dtype}, axes {src.attrs().get('source_axes')}")]
        rows += _geometry_rows(src)
        if values:
            r = value_range(src, memory_budget)
            rows.append(("values", f"min {r['min']:g}, max {r['max']:g}, mean {r['mean']:g}, rms {r['rms']:g}"
                                   + (f", {r['nonfinite']} non-finite" if r["nonfinite"] else "")))
    return rows


def _hdf5_rows(path: str | os.PathLike) -> list[tuple[str, Any]]:
    import h5py

    rows: list[tuple[str, Any]] = []
    with h5py.File(path, "r") as f:
        rows.append(("format", str(f.attrs.get("format", "(not a volume file)"))))
        if "task" in f.attrs:
            rows.append(("task", f"{f.attrs['task']}: outputs {', '.join(json.loads(f.attrs['outputs']))}"))
        for name, ds in f.items():
            if isinstance(ds, h5py.Dataset):
                what = ""
                if "kind" in ds.attrs:
                    unit = str(ds.attrs.get("unit", ""))
                    what = (f"; {ds.attrs['kind']}" + (f" in {unit}" if unit else "")
                            + f", range {json.loads(ds.attrs.get('range', 'null'))}, merged by {ds.attrs.get('merge')}")
                rows.append((f"dataset {name}", f"{ds.shape} {ds.dtype}, chunks {ds.chunks}, "
                                                f"compression {ds.compression or 'none'}{what}"))
        for key in ("source", "source_format", "missing_traces"):
            if key in f.attrs:
                rows.append((key, f.attrs[key]))
    return rows
