"""The volume file: HDF5 with the array in dataset `data`, axes (time, inline, xline).

Layout (format `hpcfault-volume/1`):

    /data                 float32 (or float16/uint8) array, shape (T, I, X), chunked for block reads
                          (a prediction of a task other than faults holds one dataset per output
                          instead, named by the root attribute `outputs`, the first being primary)
    /labels, /mask        optional, same shape (training volumes: fault labels and label mask)
    /geometry/inlines     (I,) inline numbers       /geometry/xlines   (X,) crossline numbers
    /geometry/samples     (T,) sample times or depths
    /geometry/cdp_x, cdp_y (I, X) trace coordinates  /geometry/live     (I, X) 1 = live trace
    root attributes       axes="time,inline,xline", format, source, text_header, sample_interval,
                          sample_unit, iline_byte, xline_byte, plus any metadata of the producer

Every reader goes through `open_volume`, which checks the format and the axis order and quotes
what it got when they are wrong.
"""
from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import h5py
import numpy as np

from hpcfault.errors import HpcfaultError
from hpcfault.geometry import AXES_ATTR, check_shape3
from hpcfault.io.atomic import atomic_path

FORMAT = "hpcfault-volume/1"
DEFAULT_CHUNK = 64


@dataclass(frozen=True, eq=False)
class SurveyGeometry:
    """Where the voxels of a (time, inline, xline) volume sit in the survey."""

    inlines: np.ndarray
    xlines: np.ndarray
    samples: np.ndarray
    sample_interval: float = 1.0
    sample_unit: str = "samples"          # "ms", "m", "ft" or "samples"
    iline_byte: int | None = None
    xline_byte: int | None = None
    cdp_x: np.ndarray | None = None      # (I, X)
    cdp_y: np.ndarray | None = None      # (I, X)
    live: np.ndarray | None = None       # (I, X) bool; None means every trace is live
    text_header: str = ""
    source: str = ""

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.samples), len(self.inlines), len(self.xlines))

    @classmethod
    def regular(cls, shape: Sequence[int], source: str = "") -> "SurveyGeometry":
        """Index geometry for arrays with no survey behind them (synthetics, .npy, .dat)."""
        t, i, x = check_shape3(shape, "volume")
        return cls(inlines=np.arange(i, dtype=np.int32), xlines=np.arange(x, dtype=np.int32),
                   samples=np.arange(t, dtype=np.float64), source=source)

    def crop(self, t: slice, i: slice, x: slice) -> "SurveyGeometry":
        sub = (lambda a: None if a is None else np.ascontiguousarray(a[i, x]))
        return replace(self, samples=self.samples[t], inlines=self.inlines[i], xlines=self.xlines[x],
                       cdp_x=sub(self.cdp_x), cdp_y=sub(self.cdp_y), live=sub(self.live))


def write_geometry(f: h5py.File, geom: SurveyGeometry) -> None:
    g = f.require_group("geometry")
    g.create_dataset("inlines", data=np.asarray(geom.inlines))
    g.create_dataset("xlines", data=np.asarray(geom.xlines))
    g.create_dataset("samples", data=np.asarray(geom.samples, dtype=np.float64))
    for name in ("cdp_x", "cdp_y"):
        arr = getattr(geom, name)
        if arr is not None:
            g.create_dataset(name, data=np.asarray(arr, dtype=np.float64))
    if geom.live is not None:
        g.create_dataset("live", data=np.asarray(geom.live, dtype=np.uint8))
    f.attrs["sample_interval"] = float(geom.sample_interval)
    f.attrs["sample_unit"] = geom.sample_unit
    f.attrs["iline_byte"] = -1 if geom.iline_byte is None else int(geom.iline_byte)
    f.attrs["xline_byte"] = -1 if geom.xline_byte is None else int(geom.xline_byte)
    f.attrs["text_header"] = geom.text_header
    f.attrs["source"] = geom.source


def read_geometry(f: h5py.File) -> SurveyGeometry:
    shape = f[primary_dataset(f)].shape
    if "geometry" not in f:
        return SurveyGeometry.regular(shape, source=str(f.attrs.get("source", "")))
    g = f["geometry"]
    opt = (lambda n: g[n][...] if n in g else None)
    byte = (lambda n: None if int(f.attrs.get(n, -1)) < 0 else int(f.attrs[n]))
    live = opt("live")
    return SurveyGeometry(
        inlines=g["inlines"][...], xlines=g["xlines"][...], samples=g["samples"][...],
        sample_interval=float(f.attrs.get("sample_interval", 1.0)),
        sample_unit=str(f.attrs.get("sample_unit", "samples")),
        iline_byte=byte("iline_byte"), xline_byte=byte("xline_byte"),
        cdp_x=opt("cdp_x"), cdp_y=opt("cdp_y"), live=None if live is None else live.astype(bool),
        text_header=str(f.attrs.get("text_header", "")), source=str(f.attrs.get("source", "")))


def default_chunks(shape: Sequence[int], edge: int = DEFAULT_CHUNK) -> tuple[int, int, int]:
    return tuple(max(1, min(int(s), edge)) for s in shape)  # type: ignore[return-value]


def primary_dataset(f: h5py.File) -> str:
    """'data', or for a task prediction without it, its first output (root attribute `outputs`)."""
    if "data" in f or "outputs" not in f.attrs:
        return "data"
    try:
        names = json.loads(f.attrs["outputs"])
    except (TypeError, ValueError):
        return "data"
    return str(names[0]) if names else "data"


def dataset_names(f: h5py.File) -> list[str]:
    """The (T, I, X) datasets of a volume file, primary first."""
    first = primary_dataset(f)
    rest = sorted(k for k in f.keys() if k != first and isinstance(f[k], h5py.Dataset) and f[k].ndim == 3)
    return [first, *rest]


def check_volume(f: h5py.File, path: str | os.PathLike, dataset: str | None = "data") -> h5py.Dataset:
    """Return `f[dataset]` (None: the primary dataset) after checking that the file is a (time,
    inline, xline) volume file."""
    if dataset is None:
        dataset = primary_dataset(f)
    if dataset not in f:
        raise HpcfaultError(
            f"{path}: no dataset '{dataset}' (got datasets {sorted(k for k in f.keys())}); "
            "volume files keep their array in 'data' - convert other files with 'hpcfault convert'")
    axes = f.attrs.get("axes", None)
    if axes is None:
        raise HpcfaultError(
            f"{path}: no 'axes' attribute (got attributes {sorted(f.attrs.keys())}); "
            "convert it with 'hpcfault convert IN OUT.h5 --axes ORDER' to declare its axis order")
    if str(axes) != AXES_ATTR:
        raise HpcfaultError(
            f"{path}: axis order is {axes!r}, the engine needs {AXES_ATTR!r}; "
            "convert it with 'hpcfault convert' which transposes to the engine order")
    ds = f[dataset]
    check_shape3(ds.shape, f"{path}:{dataset}")
    return ds


@contextlib.contextmanager
def open_volume(path: str | os.PathLike, mode: str = "r", **h5_kwargs: Any) -> Iterator[h5py.File]:
    """Open a volume file (checked) for reading; extra keywords go to h5py.File (e.g. driver)."""
    path = Path(path)
    if not path.exists():
        raise HpcfaultError(f"volume file not found (got {str(path)!r}); check the path")
    try:
        f = h5py.File(path, mode, **h5_kwargs)
    except OSError as exc:
        raise HpcfaultError(f"{path}: not a readable HDF5 file ({exc}); is it truncated or another format?") from None
    try:
        check_volume(f, path, None)
        yield f
    finally:
        f.close()


@contextlib.contextmanager
def create_volume(path: str | os.PathLike, shape: Sequence[int], dtype: Any = "float32",
                  geometry: SurveyGeometry | None = None, chunks: Sequence[int] | None = None,
                  extra: Mapping[str, Any] | None = None, attrs: Mapping[str, Any] | None = None,
                  compression: str | None = None, name: str = "data") -> Iterator[h5py.File]:
    """Create a volume file atomically and yield the open (temporary) h5py.File.

    `extra` maps further dataset names (e.g. "labels", "mask") to their dtypes; they get the shape
    and chunking of `data`. The file appears under `path` only when the block exits without error.
    """
    shape = check_shape3(shape, "volume")
    geometry = geometry or SurveyGeometry.regular(shape)
    if geometry.shape != shape:
        raise HpcfaultError(f"geometry of shape {geometry.shape} does not match the volume shape {shape}")
    chunks = tuple(chunks) if chunks else default_chunks(shape)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["axes"] = AXES_ATTR
            write_geometry(f, geometry)
            f.create_dataset(name, shape=shape, dtype=dtype, chunks=chunks, compression=compression)
            for name, dt in (extra or {}).items():
                f.create_dataset(name, shape=shape, dtype=dt, chunks=chunks, compression=compression)
            for k, v in (attrs or {}).items():
                f.attrs[k] = json.dumps(v) if isinstance(v, (dict, list)) else v
            yield f


def write_array(path: str | os.PathLike, data: np.ndarray, geometry: SurveyGeometry | None = None,
                **datasets: np.ndarray) -> None:
    """Write an in-memory array (and optional same-shape datasets) as a volume file. For small data."""
    extra = {k: v.dtype for k, v in datasets.items()}
    with create_volume(path, data.shape, data.dtype, geometry=geometry, extra=extra) as f:
        f["data"][...] = data
        for k, v in datasets.items():
            f[k][...] = v
