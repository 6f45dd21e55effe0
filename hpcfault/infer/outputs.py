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


def write_extras(out: str, survey: str, source: Any, *, segy_out: str | None = None, png: str | None = None,
                 iline: int = 189, xline: int = 193) -> list[str]:
    """--segy-out and --png (rank 0, once the output volume file exists); returns the files written.

    The PNGs are the three central slices together (three-view.png) and one by one, named by the
    survey numbers their titles show (inline-1250.png, xline-880.png, time-1200ms.png)."""
    written: list[str] = []
    from hpcfault.io.volume import open_volume

    if segy_out:
        from hpcfault.io.sources import source_kind

        if source_kind(survey) == "segy":
            from hpcfault.io.export import export_segy

            export_segy(out, survey, segy_out, iline=iline, xline=xline)
        else:
            from hpcfault.io.segy import write_segy

            with open_volume(out) as f:   # streamed one inline at a time
                write_segy(segy_out, f["data"], source.geometry)
        written.append(str(segy_out))
    if png:
        from hpcfault.viz import save_slices, slice_name

        png_dir = Path(png)
        png_dir.mkdir(parents=True, exist_ok=True)
        geom = source.geometry
        with open_volume(out) as f:
            seis, faults = _SourceView(source), f["data"]
            written.append(str(save_slices(seis, faults, png_dir / "three-view.png", geometry=geom,
                                           title=f"{Path(survey).name}: fault probability")))
            t, i, x = (n // 2 for n in source.shape)
            for view, k in (("inline", i), ("xline", x), ("time", t)):
                name = png_dir / f"{slice_name(view, k, geom)}.png"
                written.append(str(save_slices(seis, faults, name, geometry=geom, **{view: k})))
    return written
