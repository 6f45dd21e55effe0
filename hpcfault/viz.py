"""Pictures of seismic slices with fault probabilities overlaid (PNG, matplotlib's Agg renderer).

`save_slices` takes (time, inline, xline) arrays or h5py datasets and reads only the slices it
draws, so it works on surveys far larger than memory. Slice positions are array indices there;
`show_volume` (used by `hpcfault show`) takes survey inline/xline numbers and sample times from the
volume file's geometry. Probabilities below `threshold` are transparent; above it they are drawn
with the 'jet' colormap over the seismic (gray or red-white-blue 'seismic').
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hpcfault.errors import HpcfaultError

VIEWS = ("inline", "xline", "time")
SEISMIC_CMAPS = ("gray", "seismic")
FAULT_CMAP = "jet"
PANEL_INCHES = 4.0
DPI = 100


def _slice(arr: Any, view: str, k: int) -> np.ndarray:
    """One 2D slice as float32: inline -> (T, X), xline -> (T, I), time -> (I, X)."""
    index = {"inline": (slice(None), k, slice(None)), "xline": (slice(None), slice(None), k),
             "time": (k, slice(None), slice(None))}[view]
    return np.asarray(arr[index], dtype=np.float32)


def _views(shape: Sequence[int], inline: int | None, xline: int | None,
           time: int | None) -> list[tuple[str, int]]:
    """(view, index) pairs to draw: the ones asked for, or the three central slices."""
    asked = {"inline": inline, "xline": xline, "time": time}
    if all(v is None for v in asked.values()):
        asked = {"inline": shape[1] // 2, "xline": shape[2] // 2, "time": shape[0] // 2}
    axis_len = {"time": shape[0], "inline": shape[1], "xline": shape[2]}
    out = []
    for view in VIEWS:
        k = asked[view]
        if k is None:
            continue
        if not 0 <= int(k) < axis_len[view]:
            raise HpcfaultError(f"{view} index out of range (got {k}); valid 0..{axis_len[view] - 1}")
        out.append((view, int(k)))
    return out


def _extent(view: str, shape: Sequence[int], geometry: Any) -> tuple[list[float], str, str]:
    """imshow extent, x label and y label of one view (survey numbers when a geometry is known)."""
    if geometry is None:
        il, xl, smp = np.arange(shape[1]), np.arange(shape[2]), np.arange(shape[0])
        unit = "sample"
    else:
        il, xl, smp = geometry.inlines, geometry.xlines, geometry.samples
        unit = geometry.sample_unit
    tlabel = "sample" if unit == "samples" else f"time/depth ({unit})"
    edges = (lambda a: (float(a[0]), float(a[-1])))
    if view == "inline":
        (x0, x1), (y0, y1) = edges(xl), edges(smp)
        return [x0, x1, y1, y0], "xline", tlabel
    if view == "xline":
        (x0, x1), (y0, y1) = edges(il), edges(smp)
        return [x0, x1, y1, y0], "inline", tlabel
    (x0, x1), (y0, y1) = edges(xl), edges(il)
    return [x0, x1, y1, y0], "xline", "inline"


def _title(view: str, k: int, geometry: Any) -> str:
    if geometry is None:
        return f"{view} {k}" if view != "time" else f"time sample {k}"
    if view == "inline":
        return f"inline {geometry.inlines[k]}"
    if view == "xline":
        return f"xline {geometry.xlines[k]}"
    return f"time {geometry.samples[k]:g} {'' if geometry.sample_unit == 'samples' else geometry.sample_unit}".strip()


def _clip_range(slices: list[np.ndarray]) -> tuple[float, float]:
    vals = np.concatenate([s[np.isfinite(s)].ravel() for s in slices])
    if vals.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(vals, [1.0, 99.0])
    if hi <= lo:
        lo, hi = float(vals.min()) - 0.5, float(vals.max()) + 0.5
    return float(lo), float(hi)


def save_slices(seismic: Any, faults: Any, out_png: str | os.PathLike, *, inline: int | None = None,
                xline: int | None = None, time: int | None = None, cmap: str = "gray",
                threshold: float = 0.5, geometry: Any = None, title: str | None = None,
                dpi: int = DPI, panel_inches: float = PANEL_INCHES) -> Path:
    """Write a PNG of slices of `seismic` (T, I, X) with `faults` (probabilities, or None) on top.

    inline/xline/time are array indices; give one for a single slice, several for several panels,
    none for the three central slices. The figure is `panel_inches * dpi` pixels high and as many
    times that wide as there are panels. `geometry` (SurveyGeometry) labels the axes with survey
    numbers. Written atomically; returns the path.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from hpcfault.io.atomic import atomic_path

    if cmap not in SEISMIC_CMAPS:
        raise HpcfaultError(f"unknown seismic colormap (got {cmap!r}); valid: {', '.join(SEISMIC_CMAPS)}")
    shape = tuple(seismic.shape)
    if len(shape) != 3:
        raise HpcfaultError(f"seismic must be a 3D (time, inline, xline) array (got shape {shape})")
    if faults is not None and tuple(faults.shape) != shape:
        raise HpcfaultError(f"fault volume shape {tuple(faults.shape)} differs from the seismic's {shape}; "
                            "overlay the prediction made from this survey")
    views = _views(shape, inline, xline, time)
    seis = [_slice(seismic, v, k) for v, k in views]
    vmin, vmax = _clip_range(seis)
    fig = Figure(figsize=(panel_inches * len(views), panel_inches), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(views), squeeze=False)[0]
    overlay = None
    for ax, (view, k), img in zip(axes, views, seis):
        extent, xlabel, ylabel = _extent(view, shape, geometry)
        ax.imshow(np.ma.masked_invalid(img), cmap=cmap, vmin=vmin, vmax=vmax, extent=extent,
                  aspect="auto", interpolation="nearest")
        if faults is not None:
            prob = _slice(faults, view, k)
            shown = np.ma.masked_where(~np.isfinite(prob) | (prob < threshold), prob)
            overlay = ax.imshow(shown, cmap=FAULT_CMAP, vmin=0.0, vmax=1.0, alpha=0.75, extent=extent,
                                aspect="auto", interpolation="nearest")
        ax.set_title(_title(view, k, geometry), fontsize=10)
        ax.set_xlabel(xlabel, fontsize=9)
        ax.set_ylabel(ylabel, fontsize=9)
        ax.tick_params(labelsize=8)
    if overlay is not None:
        fig.colorbar(overlay, ax=list(axes), shrink=0.8, label=f"fault probability (>= {threshold:g})")
    if title:
        fig.suptitle(title, fontsize=11)
    out = Path(out_png)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return out


def index_of_number(values: np.ndarray, number: float, what: str) -> int:
    """Array index of a survey inline/xline number; a clear error when it is not in the survey."""
    values = np.asarray(values)
    hits = np.flatnonzero(values == number)
    if hits.size == 0:
        step = f" step {values[1] - values[0]}" if values.size > 1 else ""
        raise HpcfaultError(f"{what} {number:g} is not in this survey (got {number:g}); "
                            f"{what}s run {values.min()}..{values.max()}{step}")
    return int(hits[0])


def index_of_sample(samples: np.ndarray, value: float, unit: str) -> int:
    """Array index of the sample nearest to `value`; an error when it is outside the trace."""
    samples = np.asarray(samples, dtype=np.float64)
    half = abs(samples[1] - samples[0]) / 2 if samples.size > 1 else 0.5
    k = int(np.argmin(np.abs(samples - value)))
    if abs(samples[k] - value) > half + 1e-9:
        raise HpcfaultError(f"time {value:g} is outside the traces (got {value:g}); samples run "
                            f"{samples.min():g}..{samples.max():g} {unit}")
    return k


def show_volume(volume: str | os.PathLike, out_png: str | os.PathLike, *,
                faults: str | os.PathLike | None = None, faults_dataset: str = "data",
                dataset: str = "data", inline: float | None = None, xline: float | None = None,
                time: float | None = None, cmap: str = "gray", threshold: float = 0.5) -> Path:
    """`hpcfault show`: slices of a volume file by survey inline/xline numbers and sample time."""
    import contextlib

    from hpcfault.io.volume import check_volume, open_volume, read_geometry

    with contextlib.ExitStack() as stack:
        f = stack.enter_context(open_volume(volume))
        seis = check_volume(f, volume, dataset)
        geom = read_geometry(f)
        fds = None
        if faults is not None:
            same = Path(faults).resolve() == Path(volume).resolve()
            ff = f if same else stack.enter_context(open_volume(faults))
            fds = check_volume(ff, faults, faults_dataset)
            if fds.shape != seis.shape:
                raise HpcfaultError(f"{faults}:{faults_dataset} has shape {fds.shape}, the volume "
                                    f"{seis.shape}; overlay a prediction of this survey")
        k_il = None if inline is None else index_of_number(geom.inlines, inline, "inline")
        k_xl = None if xline is None else index_of_number(geom.xlines, xline, "xline")
        k_t = None if time is None else index_of_sample(geom.samples, time, geom.sample_unit)
        return save_slices(seis, fds, out_png, inline=k_il, xline=k_xl, time=k_t, cmap=cmap,
                           threshold=threshold, geometry=geom, title=Path(volume).name)
