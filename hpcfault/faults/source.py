"""The input of `hpcfault faults`: a volume file with fault probabilities (and maybe dip / strike).

`hpcfault predict` writes the fault task's probability in dataset `data`; a task with more outputs
writes `fault` (probability) and e.g. `fault_strike` (the fault-strike task: degrees modulo 180) or
`fault_dip` and `fault_strike` (a multi-task model) into the same file. The default dataset is
`fault` when present, else `data`.

Orientation "auto" takes a model's `fault_dip` and/or `fault_strike` when the file is such a
prediction (its probability is `fault`, or its `outputs` attribute lists them) and the structure
tensor for what is missing; "model" insists on at least one of them; "tensor" ignores them. (A
synthetic survey's `fault_dip`/`fault_strike` are labels, not a model's outputs: "auto" leaves them.)
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from hpcfault.errors import HpcfaultError
from hpcfault.geometry import check_shape3

MODEL_DATASETS = ("fault_dip", "fault_strike")


@contextlib.contextmanager
def open_input(path: str | os.PathLike, dataset: str) -> Iterator:
    """The volume file, checked (format, axis order) for `dataset`; through open_volume when it
    holds `data`, else with the same checks on the named dataset (multi-task files)."""
    import h5py

    from hpcfault.io.volume import check_volume, open_volume

    p = Path(path)
    if not p.is_file():
        raise HpcfaultError(f"volume file not found (got {str(path)!r}); pass the output of 'hpcfault predict'")
    try:
        with h5py.File(p, "r") as f:
            has_data = "data" in f
    except OSError as exc:
        raise HpcfaultError(f"{path}: not a readable HDF5 file ({exc}); is it truncated or another format?") from None
    if has_data:
        with open_volume(p) as f:
            check_volume(f, p, dataset)
            yield f
        return
    with h5py.File(p, "r") as f:
        check_volume(f, p, dataset)
        yield f


@dataclass(frozen=True, eq=False)
class FaultInput:
    path: str
    dataset: str
    model: tuple[str | None, str | None] | None   # (dip, strike) datasets of a model's orientation
    shape: tuple[int, int, int]
    geometry: object                     # SurveyGeometry

    @property
    def orientation_source(self) -> str:
        if self.model is None:
            return "structure tensor"
        names = [m for m in self.model if m]
        rest = "" if all(self.model) else " (dip from the structure tensor)" if self.model[1] else \
            " (strike from the structure tensor)"
        return f"model output{'s' if len(names) > 1 else ''} {'/'.join(names)}{rest}"


def resolve_input(path: str | os.PathLike, dataset: str | None, orientation: str) -> FaultInput:
    """Check the input file and choose its datasets; one-line errors before any work."""
    import h5py

    from hpcfault.io.volume import SurveyGeometry, read_geometry

    if not Path(path).is_file():
        raise HpcfaultError(f"volume file not found (got {str(path)!r}); pass the output of 'hpcfault predict'")
    try:
        with h5py.File(path, "r") as f:
            name = dataset or ("fault" if "fault" in f else "data")
    except OSError as exc:
        raise HpcfaultError(f"{path}: not a readable HDF5 file ({exc}); is it truncated or another format?") from None
    with open_input(path, name) as f:
        ds = f[name]
        shape = check_shape3(ds.shape, f"{path}:{name}")
        if ds.dtype.kind not in "fiub":
            raise HpcfaultError(f"{path}:{name} holds {ds.dtype} values, not numbers; choose the probability dataset "
                                f"with --dataset (got datasets {sorted(f.keys())})")
        have = [m if (m in f and f[m].shape == ds.shape) else None for m in MODEL_DATASETS]
        if orientation == "model" and not any(have):
            raise HpcfaultError(f"{path}: --orientation model needs dataset {' or '.join(MODEL_DATASETS)} of shape "
                                f"{shape} (got datasets {sorted(f.keys())}); use --orientation tensor")
        listed = str(f.attrs.get("outputs", ""))
        predicted = name == "fault" or any(m and m in listed for m in have)
        use = orientation == "model" or (orientation == "auto" and predicted)
        model = tuple(have) if use and any(have) else None
        geometry = read_geometry(f) if ("geometry" in f and "data" in f) else None
        if geometry is None and "geometry" in f:
            geometry = _geometry_without_data(f)
        geometry = geometry or SurveyGeometry.regular(shape, source=str(path))
    if geometry.shape != shape:
        raise HpcfaultError(f"{path}: geometry of shape {geometry.shape} does not match {name} {shape}; "
                            "the file is inconsistent - rewrite it with 'hpcfault predict'")
    return FaultInput(path=str(path), dataset=name, model=model, shape=shape, geometry=geometry)


def _geometry_without_data(f):
    """read_geometry for files without `data` (it only needs `data` when the geometry is missing)."""
    from dataclasses import replace

    from hpcfault.io.volume import SurveyGeometry

    g = f["geometry"]
    opt = (lambda n: g[n][...] if n in g else None)
    base = SurveyGeometry(inlines=g["inlines"][...], xlines=g["xlines"][...], samples=g["samples"][...])
    live = opt("live")
    return replace(base, sample_interval=float(f.attrs.get("sample_interval", 1.0)),
                   sample_unit=str(f.attrs.get("sample_unit", "samples")), cdp_x=opt("cdp_x"), cdp_y=opt("cdp_y"),
                   live=None if live is None else live.astype(bool), source=str(f.attrs.get("source", "")))


def read_slab(inp: FaultInput, lo: int, hi: int) -> tuple[np.ndarray, tuple | None]:
    """Probability (float32) and the model's (dip, strike) (float32 or None each) of inlines [lo, hi)."""
    with open_input(inp.path, inp.dataset) as f:
        prob = np.asarray(f[inp.dataset][:, lo:hi, :], np.float32)
        model = None
        if inp.model is not None:
            model = tuple(None if m is None else np.asarray(f[m][:, lo:hi, :], np.float32) for m in inp.model)
    return prob, model
