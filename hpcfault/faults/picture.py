"""Pictures of fault objects: seismic slices with every fault in its own colour (PNG, Agg).

`show_fault_ids` is what `hpcfault show VOLUME --faults-ids fault-ids.h5` draws: the inline, crossline
and time slices (the central ones, or those asked for by survey numbers), each fault object's ridge
voxels in a colour of its own (the same fault keeps its colour in every panel), optionally the fault
sticks of an `hpcfault faults` output folder that lie on the drawn inline or crossline. Only the drawn
slices are read.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from hpcfault.errors import HpcfaultError

PANEL_INCHES = 4.0
DPI = 100
VIEWS = ("inline", "xline", "time")


def fault_colours(n: int) -> np.ndarray:
    """(n + 1, 4) RGBA colours: 0 transparent, faults 1..n cycling through 20 distinct hues."""
    from matplotlib import colormaps

    base = colormaps["tab20"](np.arange(20))
    base = np.concatenate([base[0::2], base[1::2]])          # strong colours first
    out = np.zeros((n + 1, 4))
    if n:
        out[1:] = base[(np.arange(n)) % 20]
        out[1:, 3] = 1.0
    return out


def _slice(ds, view: str, k: int) -> np.ndarray:
    index = {"inline": (slice(None), k, slice(None)), "xline": (slice(None), slice(None), k),
             "time": (k, slice(None), slice(None))}[view]
    return np.asarray(ds[index])


def _extent(view: str, geom) -> tuple[list[float], str, str]:
    il, xl, t = (np.asarray(a, np.float64) for a in (geom.inlines, geom.xlines, geom.samples))
    half = (lambda a: (a[1] - a[0]) / 2 if len(a) > 1 else 0.5)
    unit = geom.sample_unit
    tlabel = "sample" if unit == "samples" else f"time/depth ({unit})"
    if view == "inline":
        return [xl[0] - half(xl), xl[-1] + half(xl), t[-1] + half(t), t[0] - half(t)], "crossline", tlabel
    if view == "xline":
        return [il[0] - half(il), il[-1] + half(il), t[-1] + half(t), t[0] - half(t)], "inline", tlabel
    return [xl[0] - half(xl), xl[-1] + half(xl), il[-1] + half(il), il[0] - half(il)], "crossline", "inline"


def _sticks(folder: Path | None, view: str, number: float) -> list[tuple[str, np.ndarray]]:
    """(fault name, (m, 2) drawing coordinates) of the sticks on this inline/crossline section."""
    if folder is None or view == "time":
        return []
    from hpcfault.faults.formats import read_charisma

    out = []
    for s in read_charisma(folder / "sticks" / "charisma.txt"):
        col = 0 if view == "inline" else 1
        on = np.abs(s.nodes[:, col] - number) < 0.5
        if on.all():
            out.append((s.name, s.nodes[:, [1 - col, 4]]))
    return out


def show_fault_ids(volume: str | os.PathLike, ids_path: str | os.PathLike, out_png: str | os.PathLike, *,
                   dataset: str = "data", inline: float | None = None, xline: float | None = None,
                   time: float | None = None, sticks_from: str | os.PathLike | None = None,
                   title: str | None = None) -> Path:
    """Seismic slices of `volume` with the fault objects of `ids_path` (an int fault-id volume) on top."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from hpcfault.io.atomic import atomic_path
    from hpcfault.io.volume import check_volume, open_volume, read_geometry
    from hpcfault.viz import index_of_number, index_of_sample

    with contextlib.ExitStack() as stack:
        f = stack.enter_context(open_volume(volume))
        seis = check_volume(f, volume, dataset)
        geom = read_geometry(f)
        g = stack.enter_context(open_volume(ids_path))
        ids = check_volume(g, ids_path, "data")
        if ids.shape != seis.shape:
            raise HpcfaultError(f"{ids_path} has shape {ids.shape}, the volume {seis.shape}; "
                                "draw the fault ids made from this survey's prediction")
        if ids.dtype.kind not in "iu":
            raise HpcfaultError(f"{ids_path}: fault ids must be integers (got {ids.dtype}); "
                                "pass the fault-ids.h5 of an 'hpcfault faults' output")
        asked = {"inline": None if inline is None else index_of_number(geom.inlines, inline, "inline"),
                 "xline": None if xline is None else index_of_number(geom.xlines, xline, "xline"),
                 "time": None if time is None else index_of_sample(geom.samples, time, geom.sample_unit)}
        if all(v is None for v in asked.values()):
            asked = {"inline": seis.shape[1] // 2, "xline": seis.shape[2] // 2, "time": seis.shape[0] // 2}
        views = [(v, k) for v, k in asked.items() if k is not None]
        panels = [(v, k, _slice(seis, v, k).astype(np.float32), _slice(ids, v, k).astype(np.int64)) for v, k in views]
        top = max([int(p[3].max()) for p in panels] + [0])
        colours = fault_colours(max(top, int(g.attrs.get("fault_count", 0))))
        amp = np.concatenate([p[2].ravel() for p in panels])
        lo, hi = np.percentile(amp, [1, 99]) if amp.size else (0.0, 1.0)
        fig = Figure(figsize=(PANEL_INCHES * len(views), PANEL_INCHES), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, len(views), squeeze=False)[0]
        shown: set[int] = set()
        for ax, (view, k, img, lab) in zip(axes, panels):
            extent, xlabel, ylabel = _extent(view, geom)
            ax.imshow(img, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1, extent=extent, aspect="auto",
                      interpolation="nearest")
            ax.imshow(colours[lab], extent=extent, aspect="auto", interpolation="nearest")
            shown |= set(np.unique(lab[lab > 0]).tolist())
            number = {"inline": geom.inlines, "xline": geom.xlines}.get(view)
            for name, line in _sticks(Path(sticks_from) if sticks_from else None, view,
                                      float(number[k]) if number is not None else 0.0):
                ax.plot(line[:, 0], line[:, 1], "-o", color="white", lw=1.2, ms=2.5, mec="black", mew=0.5)
            label = {"inline": f"inline {geom.inlines[k]}", "xline": f"crossline {geom.xlines[k]}",
                     "time": f"time {geom.samples[k]:g} {'' if geom.sample_unit == 'samples' else geom.sample_unit}"}
            ax.set_title(label[view].strip(), fontsize=10)
            ax.set_xlabel(xlabel, fontsize=9)
            ax.set_ylabel(ylabel, fontsize=9)
            ax.tick_params(labelsize=8)
        if title:
            fig.suptitle(f"{title} ({len(shown)} fault{'s' if len(shown) != 1 else ''} on these slices"
                         + (", sticks in white)" if sticks_from else ")"), fontsize=11)
        out = Path(out_png)
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format="png", dpi=DPI)
    return out


def show_faults_cli(args) -> Path:
    """`hpcfault show VOLUME --faults-ids FILE`: sticks are drawn when FILE sits in an `hpcfault faults`
    output folder."""
    folder = Path(args.faults_ids).parent
    sticks = folder if (folder / "sticks" / "charisma.txt").is_file() else None
    return show_fault_ids(args.volume, args.faults_ids, args.output, dataset=args.dataset or "data",
                          inline=args.inline, xline=args.xline, time=args.time, sticks_from=sticks,
                          title=Path(args.volume).name)
