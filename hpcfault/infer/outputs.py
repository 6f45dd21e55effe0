"""Extra outputs of `hpcfault predict`: --segy-out (SEG-Y) and --png (slices with the overlay)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class _SourceView:
    """Lets viz.save_slices index a Source like an array (one slice at a time)."""

    def __init__(self, source: Any) -> None:
        self.source, self.shape = source, source.shape

    def __getitem__(self, index: tuple) -> np.ndarray:
        sl = [slice(i, i + 1) if isinstance(i, int) else i for i in index]
        a = self.source.read(*sl)
        return a[tuple(0 if isinstance(i, int) else slice(None) for i in index)]


def segy_paths(segy_out: str, names: tuple[str, ...]) -> list[str]:
    """--segy-out for a task's outputs: the path itself for one output, else OUT-<name>.sgy each."""
    if len(names) == 1:
        return [str(segy_out)]
    p = Path(segy_out)
    return [str(p.with_name(f"{p.stem}-{n}{p.suffix or '.sgy'}")) for n in names]


def write_extras(out: str, survey: str, source: Any, task: Any, *, segy_out: str | None = None,
                 png: str | None = None, iline: int = 189, xline: int = 193) -> list[str]:
    """--segy-out and --png (rank 0, once the output volume file exists); returns the files written.

    One SEG-Y per output (segy_paths). The PNGs are the three central slices together
    (three-view.png) and one by one, named by the survey numbers their titles show (inline-1250.png,
    xline-880.png, time-1200ms.png); a task with several outputs prefixes each output's pictures
    with its name. Probabilities are drawn over the seismic, other outputs on their own in the
    task's colormap (diverging for images, sequential for RGT, cyclic for angles)."""
    written: list[str] = []
    from hpcfault.io.volume import open_volume

    names = task.output_names
    if segy_out:
        from hpcfault.io.sources import source_kind

        for name, path in zip(names, segy_paths(segy_out, names)):
            if source_kind(survey) == "segy":
                from hpcfault.io.export import export_segy

                export_segy(out, survey, path, dataset=name, iline=iline, xline=xline)
            else:
                from hpcfault.io.segy import write_segy

                with open_volume(out) as f:   # streamed one inline at a time
                    write_segy(path, f[name], source.geometry)
            written.append(str(path))
    if png:
        from hpcfault.viz import output_style, save_slices, slice_name

        png_dir = Path(png)
        png_dir.mkdir(parents=True, exist_ok=True)
        geom = source.geometry
        t, i, x = (n // 2 for n in source.shape)
        with open_volume(out) as f:
            for o in task.outputs:
                prefix = "" if len(names) == 1 else f"{o.name}-"
                if o.colormap == "overlay":
                    quantity = "fault" if o.name == "data" else o.name.replace("_", " ")
                    args, kw = (_SourceView(source), f[o.name]), {"what": quantity}
                    what = f"{quantity} probability"
                else:
                    args, kw = (f[o.name], None), output_style(f[o.name], o.name)
                    what = o.name.replace("_", " ")
                written.append(str(save_slices(*args, png_dir / f"{prefix}three-view.png", geometry=geom,
                                               title=f"{Path(survey).name}: {what}", **kw)))
                for view, k in (("inline", i), ("xline", x), ("time", t)):
                    name = png_dir / f"{prefix}{slice_name(view, k, geom)}.png"
                    written.append(str(save_slices(*args, name, geometry=geom, **{view: k}, **kw)))
    return written
