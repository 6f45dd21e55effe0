"""Pictures of seismic slices with fault probabilities overlaid (PNG, matplotlib's Agg renderer).

`save_slices` takes (time, inline, xline) arrays or h5py datasets and reads only the slices it
draws, so it works on surveys far larger than memory; `save_comparison` draws labels | prediction
side by side. Slice positions are array indices there; `show_volume` (`hpcfault show`) takes survey
inline/xline numbers and sample times from the volume file's geometry.

What an interpreter needs to trust the overlay: the seismic stays visible under it (each voxel's
opacity grows with its probability, from OVERLAY_ALPHA[0] at the threshold to OVERLAY_ALPHA[1] at 1,
so reflector offsets across a fault remain readable), its colours come from a perceptually uniform
map chosen to contrast with the seismic map (OVERLAY), and both have a colorbar (amplitude clipped
at the 1st/99th percentile of the drawn slices, symmetric about 0; probability from the threshold to 1).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hpcfault.errors import HpcfaultError

VIEWS = ("inline", "xline", "time")
SEISMIC_CMAPS = ("gray", "seismic")
# seismic map -> (overlay map, the part of it spanning threshold..1): magenta-orange over gray;
# green-yellow over red-white-blue, where a red or blue overlay would read as amplitude
OVERLAY = {"gray": ("plasma", 0.3, 0.8), "seismic": ("viridis", 0.5, 0.9)}
OVERLAY_ALPHA = (0.2, 0.65)
PANEL_INCHES = 4.0
COLORBAR_INCHES = 0.9
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


def _axes_values(shape: Sequence[int], geometry: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    if geometry is None:
        return np.arange(shape[0]), np.arange(shape[1]), np.arange(shape[2]), "samples"
    return geometry.samples, geometry.inlines, geometry.xlines, geometry.sample_unit


def _extent(view: str, shape: Sequence[int], geometry: Any) -> tuple[list[float], str, str, bool]:
    """imshow extent (pixel edges), x label, y label, and whether the y axis holds whole numbers."""
    smp, il, xl, unit = _axes_values(shape, geometry)
    tlabel = "sample" if unit == "samples" else f"time/depth ({unit})"

    def edges(a: np.ndarray) -> tuple[float, float]:
        step = float(a[1] - a[0]) if len(a) > 1 else 1.0
        return float(a[0]) - step / 2, float(a[-1]) + step / 2
    whole_t = bool(np.all(np.mod(np.asarray(smp, np.float64), 1) == 0))
    if view == "inline":
        (x0, x1), (y0, y1) = edges(xl), edges(smp)
        return [x0, x1, y1, y0], "xline", tlabel, whole_t
    if view == "xline":
        (x0, x1), (y0, y1) = edges(il), edges(smp)
        return [x0, x1, y1, y0], "inline", tlabel, whole_t
    (x0, x1), (y0, y1) = edges(xl), edges(il)
    return [x0, x1, y1, y0], "xline", "inline", True


def _number(view: str, k: int, geometry: Any) -> tuple[str, str]:
    """The survey number of slice k and its unit: ('65', ''), ('256', 'ms'), ('12', 'sample')."""
    if geometry is None:
        return str(k), ("sample" if view == "time" else "")
    if view == "inline":
        return str(geometry.inlines[k]), ""
    if view == "xline":
        return str(geometry.xlines[k]), ""
    unit = "sample" if geometry.sample_unit == "samples" else geometry.sample_unit
    return f"{float(geometry.samples[k]):g}", unit


def slice_title(view: str, k: int, geometry: Any = None) -> str:
    """'inline 65', 'xline 1250', 'time 256 ms', 'time sample 12': what a panel's title says."""
    number, unit = _number(view, k, geometry)
    if view == "time":
        return f"time sample {number}" if unit == "sample" else f"time {number} {unit}".strip()
    return f"{view} {number}"


def slice_name(view: str, k: int, geometry: Any = None) -> str:
    """File name stem by the number shown in the title: 'inline-65', 'time-256ms', 'time-12'."""
    number, unit = _number(view, k, geometry)
    return f"{view}-{number}{'' if unit in ('', 'sample') else unit}"


def _amplitude_range(slices: list[np.ndarray]) -> tuple[float, float]:
    """1st/99th percentiles of the drawn slices; symmetric about 0 when they hold both signs."""
    vals = np.concatenate([s[np.isfinite(s)].ravel() for s in slices])
    if vals.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(vals, [1.0, 99.0]))
    if lo < 0 < hi:
        lo, hi = -max(-lo, hi), max(-lo, hi)
    if hi <= lo:
        lo, hi = float(vals.min()) - 0.5, float(vals.max()) + 0.5
    return lo, hi


def _overlay_rgba(prob: np.ndarray, cmap: str, threshold: float) -> np.ndarray:
    """RGBA image of the probabilities: transparent below the threshold, opacity growing with p."""
    from matplotlib import colormaps

    name, c0, c1 = OVERLAY[cmap]
    p = np.nan_to_num(prob, nan=0.0, posinf=1.0, neginf=0.0)
    u = np.clip((p - threshold) / max(1.0 - threshold, 1e-9), 0.0, 1.0)
    rgba = colormaps[name](c0 + (c1 - c0) * u)
    a0, a1 = OVERLAY_ALPHA
    rgba[..., 3] = np.where(p >= threshold, a0 + (a1 - a0) * u, 0.0)
    return rgba


def _overlay_colorbar_map(cmap: str):
    """The overlay's colours as seen over the seismic map's middle colour (0 amplitude)."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    name, c0, c1 = OVERLAY[cmap]
    u = np.linspace(0.0, 1.0, 256)
    rgb = colormaps[name](c0 + (c1 - c0) * u)[:, :3]
    alpha = (OVERLAY_ALPHA[0] + (OVERLAY_ALPHA[1] - OVERLAY_ALPHA[0]) * u)[:, None]
    under = np.asarray(colormaps[cmap](0.5)[:3])[None, :]
    return ListedColormap(alpha * rgb + (1 - alpha) * under)


def _figure(rows: int, cols: int, panel_inches: float, dpi: int, colorbars: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(panel_inches * cols + COLORBAR_INCHES * colorbars, panel_inches * rows), dpi=dpi,
                 layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, squeeze=False)


def _panel(ax: Any, img: np.ndarray, prob: np.ndarray | None, extent: list[float], xlabel: str, ylabel: str,
           whole_y: bool, title: str, cmap: str, vrange: tuple[float, float], threshold: float) -> Any:
    from matplotlib.ticker import MaxNLocator

    shown = ax.imshow(np.ma.masked_invalid(img), cmap=cmap, vmin=vrange[0], vmax=vrange[1], extent=extent,
                      aspect="auto", interpolation="nearest")
    if prob is not None:
        ax.imshow(_overlay_rgba(prob, cmap, threshold), extent=extent, aspect="auto", interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # line numbers: no 112.5
    if whole_y:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(labelsize=8)
    return shown


def _colorbars(fig: Any, axes: Any, amplitude: Any, cmap: str, threshold: float, overlay: bool,
               label: str = "amplitude (clipped at 1st/99th pct)", what: str = "fault") -> None:
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    width = 0.12 / (fig.get_figwidth() - COLORBAR_INCHES * (1 + overlay))   # ~0.12 inch wide bars
    fig.colorbar(amplitude, ax=axes, shrink=0.8, fraction=width, pad=0.01, label=label)
    if overlay:
        sm = ScalarMappable(norm=Normalize(threshold, 1.0), cmap=_overlay_colorbar_map(cmap))
        fig.colorbar(sm, ax=axes, shrink=0.8, fraction=width, pad=0.01,
                     label=f"{what} probability (< {threshold:g} not drawn)")


def _check(seismic: Any, others: Sequence[Any], cmap: str, any_cmap: bool = False) -> tuple[int, ...]:
    if not any_cmap and cmap not in SEISMIC_CMAPS:
        raise HpcfaultError(f"unknown seismic colormap (got {cmap!r}); valid: {', '.join(SEISMIC_CMAPS)}")
    shape = tuple(seismic.shape)
    if len(shape) != 3:
        raise HpcfaultError(f"seismic must be a 3D (time, inline, xline) array (got shape {shape})")
    for other in others:
        if other is not None and tuple(other.shape) != shape:
            raise HpcfaultError(f"fault volume shape {tuple(other.shape)} differs from the seismic's {shape}; "
                                "overlay the prediction made from this survey")
    return shape


def _save(fig: Any, out_png: str | os.PathLike, dpi: int) -> Path:
    from hpcfault.io.atomic import atomic_path

    out = Path(out_png)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return out


def save_slices(seismic: Any, faults: Any, out_png: str | os.PathLike, *, dpi: int = DPI, **kw: Any) -> Path:
    """Write a PNG of slices of `seismic` (T, I, X) with `faults` (probabilities, or None) on top
    (see `slices_figure` for the keywords). Written atomically; returns the path."""
    return _save(slices_figure(seismic, faults, dpi=dpi, **kw), out_png, dpi)


def save_comparison(seismic: Any, labels: Any, faults: Any, out_png: str | os.PathLike, *, dpi: int = DPI,
                    **kw: Any) -> Path:
    """Write a PNG of labels | prediction side by side (see `comparison_figure`); returns the path."""
    return _save(comparison_figure(seismic, labels, faults, dpi=dpi, **kw), out_png, dpi)


def slices_figure(seismic: Any, faults: Any, *, inline: int | None = None, xline: int | None = None,
                  time: int | None = None, cmap: str = "gray", threshold: float = 0.5, geometry: Any = None,
                  title: str | None = None, dpi: int = DPI, panel_inches: float = PANEL_INCHES,
                  label: str | None = None, vrange: tuple[float, float] | None = None, what: str = "fault") -> Any:
    """Slices of `seismic` with `faults` on top, as a matplotlib Figure.

    inline/xline/time are array indices; give one for a single slice, several for several panels,
    none for the three central slices. Each panel is `panel_inches * dpi` pixels square; the
    colorbars add COLORBAR_INCHES each. `geometry` (SurveyGeometry) labels the axes and titles with
    survey numbers. With `label`, `seismic` is any attribute (a model output drawn on its own): any
    matplotlib colormap, the colorbar named `label`, the colour range `vrange` (default percentiles).
    `what` names the overlaid probability on its colorbar ("fault", "salt").
    """
    shape = _check(seismic, [faults], cmap, any_cmap=label is not None)
    views = _views(shape, inline, xline, time)
    seis = [_slice(seismic, v, k) for v, k in views]
    vrange = _amplitude_range(seis) if vrange is None else vrange
    fig, axes = _figure(1, len(views), panel_inches, dpi, 1 + (faults is not None))
    shown = None
    for ax, (view, k), img in zip(axes[0], views, seis):
        extent, xlabel, ylabel, whole_y = _extent(view, shape, geometry)
        prob = _slice(faults, view, k) if faults is not None else None
        shown = _panel(ax, img, prob, extent, xlabel, ylabel, whole_y, slice_title(view, k, geometry), cmap,
                       vrange, threshold)
    _colorbars(fig, axes, shown, cmap, threshold, faults is not None,
               *(() if label is None else (label,)), what=what)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def comparison_figure(seismic: Any, labels: Any, faults: Any, *, inline: int | None = None,
                      xline: int | None = None, time: int | None = None, cmap: str = "gray",
                      threshold: float = 0.5, geometry: Any = None, title: str | None = None, dpi: int = DPI,
                      panel_inches: float = PANEL_INCHES, what: str = "fault") -> Any:
    """Labels | prediction side by side: one row per slice, the same seismic under both columns."""
    shape = _check(seismic, [labels, faults], cmap)
    views = _views(shape, inline, xline, time)
    seis = [_slice(seismic, v, k) for v, k in views]
    vrange = _amplitude_range(seis)
    fig, axes = _figure(len(views), 2, panel_inches, dpi, 2)
    shown = None
    for row, (view, k), img in zip(axes, views, seis):
        extent, xlabel, ylabel, whole_y = _extent(view, shape, geometry)
        name = slice_title(view, k, geometry)
        for ax, column, vol in zip(row, ("labels", "prediction"), (labels, faults)):
            shown = _panel(ax, img, _slice(vol, view, k), extent, xlabel, ylabel, whole_y, f"{column}: {name}",
                           cmap, vrange, threshold)
    _colorbars(fig, axes, shown, cmap, threshold, True, what=what)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


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
                labels: str | os.PathLike | None = None, labels_dataset: str = "labels",
                dataset: str | None = None, inline: float | None = None, xline: float | None = None,
                time: float | None = None, cmap: str = "gray", threshold: float = 0.5) -> Path:
    """`hpcfault show`: slices of a volume file by survey inline/xline numbers and sample time;
    with `labels` (and `faults`), labels | prediction side by side. `dataset` None is the file's
    primary dataset; a model output (a dataset with a `kind` attribute, from `hpcfault predict`)
    drawn on its own takes its own colormap, range and unit."""
    import contextlib

    from hpcfault.io.volume import check_volume, open_volume, read_geometry

    if labels is not None and faults is None:
        raise HpcfaultError(f"--labels draws labels beside a prediction (got --labels {str(labels)!r} without "
                            "--faults); add --faults PRED.h5, or draw the labels alone with "
                            "--faults FILE --faults-dataset labels")
    with contextlib.ExitStack() as stack:
        f = stack.enter_context(open_volume(volume))
        seis = check_volume(f, volume, dataset)
        geom = read_geometry(f)

        def overlay(path: str | os.PathLike | None, name: str) -> Any:
            if path is None:
                return None
            same = Path(path).resolve() == Path(volume).resolve()
            ds = check_volume(f if same else stack.enter_context(open_volume(path)), path, name)
            if ds.shape != seis.shape:
                raise HpcfaultError(f"{path}:{name} has shape {ds.shape}, the volume "
                                    f"{seis.shape}; overlay a prediction of this survey")
            return ds
        fds, lds = overlay(faults, faults_dataset), overlay(labels, labels_dataset)
        k_il = None if inline is None else index_of_number(geom.inlines, inline, "inline")
        k_xl = None if xline is None else index_of_number(geom.xlines, xline, "xline")
        k_t = None if time is None else index_of_sample(geom.samples, time, geom.sample_unit)
        where = dict(inline=k_il, xline=k_xl, time=k_t, cmap=cmap, threshold=threshold, geometry=geom,
                     title=Path(volume).name, what=overlay_quantity(fds if fds is not None else lds))
        if lds is not None:
            return save_comparison(seis, lds, fds, out_png, **where)
        if fds is None and "kind" in seis.attrs:
            where.update(output_style(seis, seis.name.lstrip("/")))
        return save_slices(seis, fds, out_png, **where)


def overlay_quantity(ds: Any) -> str:
    """What an overlaid probability is of, for its colorbar: the dataset's own name when it names
    a model output ("salt", "fault"), else the file's task ("data" of a salt prediction is salt),
    else "fault"."""
    if ds is None:
        return "fault"
    name = ds.name.rsplit("/", 1)[-1]
    if name not in ("data", "labels"):
        return name
    return str(ds.file.attrs.get("task", "fault")) or "fault"


def output_style(ds: Any, name: str) -> dict[str, Any]:
    """Colormap, colorbar label and colour range of a model output drawn on its own, from the
    attributes `hpcfault predict` gives each output dataset (tasks/spec.py Output.describe)."""
    import json

    kind, unit = str(ds.attrs.get("kind", "")), str(ds.attrs.get("unit", ""))
    cmap = str(ds.attrs.get("colormap", "gray"))
    rng = json.loads(ds.attrs.get("range", "null"))
    if cmap == "overlay":               # a probability without seismic under it
        cmap = "magma"
    return {"cmap": cmap, "label": f"{name} ({unit})" if unit else name,
            "vrange": tuple(rng) if rng and kind in ("probability", "angle") else None}
