"""Read any supported survey file as a (time, inline, xline) float32 source, one box at a time.

`open_source(path, ...)` picks the reader from the file name:

    .sgy .segy        post-stack 3D SEG-Y through segyio (geometry scanned once from trace headers)
    .h5 .hdf5         a volume file, or any HDF5 dataset with --dataset NAME --axes ORDER
    .npy              NumPy array, memory-mapped, axis order declared with --axes
    .dat .bin .raw    headerless array as in FaultSeg3D, --shape in file order, --axes (default
                      inline,xline,time: C order with time varying fastest, as FaultSeg3D and Mines
                      JTK write x[inline][xline][time]); little-endian float32 unless --endian/--dtype

Every source has `.shape` (T, I, X), `.geometry` (SurveyGeometry), `.read(t, i, x)` returning a
float32 (T, I, X) array, `.close()`, and is a context manager. Missing SEG-Y traces read as zeros and
are marked False in `geometry.live`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hpcfault.errors import HpcfaultError
from hpcfault.geometry import AXES, AXES_ATTR, parse_axes, to_engine_order
from hpcfault.io.segy_scan import MIN_LIVE, SegyLayout, open_segy, scan_segy
from hpcfault.io.volume import SurveyGeometry, read_geometry

SEGY_EXT = (".sgy", ".segy")
HDF5_EXT = (".h5", ".hdf5")
RAW_EXT = (".dat", ".bin", ".raw")
RAW_DEFAULT_AXES = "inline,xline,time"
MAX_RUN = 1024        # traces read by one segyio call
RUN_GAP = 8           # traces skipped inside one call rather than starting another


def source_kind(path: str | os.PathLike) -> str:
    ext = Path(path).suffix.lower()
    for kind, exts in (("segy", SEGY_EXT), ("hdf5", HDF5_EXT), ("npy", (".npy",)), ("raw", RAW_EXT)):
        if ext in exts:
            return kind
    raise HpcfaultError(f"cannot tell the file type from the name (got {str(path)!r}); use one of "
                        f"{', '.join(SEGY_EXT + HDF5_EXT + ('.npy',) + RAW_EXT)}")


class Source:
    """Base: a read-only (T, I, X) survey."""

    kind = "?"
    shape: tuple[int, int, int]
    geometry: SurveyGeometry
    stored_dtype: str = "float32"

    def read(self, t: slice, i: slice, x: slice) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        pass

    @property
    def missing(self) -> int:
        live = self.geometry.live
        return 0 if live is None else int(live.size - np.count_nonzero(live))

    def attrs(self) -> dict[str, Any]:
        """Provenance attributes a converted volume file keeps."""
        return {"source_format": self.kind, "source_dtype": self.stored_dtype, "missing_traces": self.missing}

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class SegySource(Source):
    """A post-stack SEG-Y file read trace run by trace run with segyio."""

    kind = "segy"

    def __init__(self, layout: SegyLayout):
        self.layout = layout
        self.shape = layout.shape
        self.stored_dtype = layout.format_name
        self.geometry = SurveyGeometry(
            inlines=layout.inlines, xlines=layout.xlines, samples=layout.samples,
            sample_interval=layout.sample_interval_us / 1000.0, sample_unit="ms",
            iline_byte=layout.iline_byte, xline_byte=layout.xline_byte, cdp_x=layout.cdp_x,
            cdp_y=layout.cdp_y, live=layout.live, text_header=layout.text_header, source=layout.path)
        self._f = open_segy(layout.path, layout.endian)

    def read(self, t: slice, i: slice, x: slice) -> np.ndarray:
        table = self.layout.trace_index[i, x]
        nt = len(range(*t.indices(self.shape[0])))
        out = np.zeros((nt, table.size), dtype=np.float32)
        flat = table.ravel()
        pos = np.flatnonzero(flat >= 0)
        traces = flat[pos]
        order = np.argsort(traces, kind="stable")
        traces, pos = traces[order], pos[order]
        # one segyio call per run of nearby traces; a run never spans two MAX_RUN-aligned windows
        cut = (np.diff(traces) > RUN_GAP) | (np.diff(traces // MAX_RUN) != 0)
        bounds = np.concatenate(([0], np.flatnonzero(cut) + 1, [len(traces)]))
        for start, stop in zip(bounds[:-1], bounds[1:]):
            if stop <= start:
                continue
            a, b = int(traces[start]), int(traces[stop - 1]) + 1
            block = np.atleast_2d(self._f.trace.raw[a:b])          # (b - a, T) in file dtype
            out[:, pos[start:stop]] = block[traces[start:stop] - a][:, t].T
        return out.reshape(nt, *table.shape)

    def close(self) -> None:
        self._f.close()

    def attrs(self) -> dict[str, Any]:
        lay = self.layout
        return {**super().attrs(), "segy_format_code": lay.format_code, "segy_endian": lay.endian,
                "segy_traces": lay.n_traces, "segy_ext_headers": lay.ext_headers}


F32_MAX = float(np.finfo(np.float32).max)


def check_sample_type(dtype: Any, what: str) -> np.dtype:
    """Refuse sample types that are not real numbers (complex, strings, objects, records)."""
    dt = np.dtype(dtype)
    if dt.kind == "c":
        raise HpcfaultError(f"{what}: complex samples (got {dt}); hpcfault reads real amplitudes: save the real "
                            "part or the magnitude as a real array first")
    if dt.kind not in "biuf":
        raise HpcfaultError(f"{what}: samples are not numbers (got {dt}); store the survey as a numeric array "
                            "(float32, int16, ...)")
    return dt


class ArraySource(Source):
    """An array-like (NumPy memmap or h5py dataset) with a declared axis order."""

    def __init__(self, kind: str, array: Any, axes: Sequence[str], geometry: SurveyGeometry | None,
                 source: str, handle: Any = None):
        dt = check_sample_type(array.dtype, source)
        self._wide = dt.kind == "f" and dt.itemsize > 4    # float64 may hold values float32 cannot
        self._source = source
        self.kind = kind
        self._a = array
        self._axes = tuple(axes)
        self._perm = to_engine_order(self._axes)
        self._handle = handle
        self.shape = tuple(int(array.shape[p]) for p in self._perm)  # type: ignore[assignment]
        self.stored_dtype = str(array.dtype)
        self.geometry = geometry or SurveyGeometry.regular(self.shape, source=source)
        if self.geometry.shape != self.shape:
            raise HpcfaultError(f"{source}: geometry of shape {self.geometry.shape} does not match the "
                                f"data shape {self.shape}; the file is inconsistent")

    def read(self, t: slice, i: slice, x: slice) -> np.ndarray:
        by_name = dict(zip(AXES, (t, i, x)))
        box = np.asarray(self._a[tuple(by_name[a] for a in self._axes)])
        if self._wide and box.size:
            big = float(np.max(np.abs(box), initial=0.0, where=np.isfinite(box)))
            if big > F32_MAX:
                raise HpcfaultError(f"{self._source}: values beyond float32's range (got |value| up to {big:.3g} in "
                                    f"{box.dtype}); hpcfault computes in float32: rescale the survey first")
        return np.ascontiguousarray(box.transpose(self._perm), dtype=np.float32)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def attrs(self) -> dict[str, Any]:
        return {**super().attrs(), "source_axes": ",".join(self._axes)}


def _axes(axes: str | Sequence[str] | None, what: str, default: str | None = None) -> tuple[str, str, str]:
    if axes is None:
        if default is None:
            raise HpcfaultError(f"{what} has no axis names; declare its order with --axes, "
                                "e.g. --axes time,inline,xline or --axes inline,xline,time")
        axes = default
    return parse_axes(axes if isinstance(axes, str) else ",".join(axes))


def _open_npy(path: Path, axes: Any) -> ArraySource:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise HpcfaultError(f"{path}: not a readable .npy file ({why}; got {path.stat().st_size} bytes); "
                            "save the survey with numpy.save") from None
    if arr.ndim != 3:
        raise HpcfaultError(f"{path}: a survey must be a 3D array (got shape {arr.shape}); save the 3D volume")
    return ArraySource("npy", arr, _axes(axes, f"{path} (.npy)"), None, str(path))


def _open_raw(path: Path, axes: Any, shape: Sequence[int] | None, dtype: str, endian: str | None) -> ArraySource:
    if not shape or len(shape) != 3:
        raise HpcfaultError(f"{path}: a raw .dat file needs its size (got --shape {shape}); pass --shape N0 N1 N2 "
                            f"in file order, e.g. --shape 128 128 128 for a FaultSeg3D cube")
    if min(int(n) for n in shape) < 1:
        raise HpcfaultError(f"{path}: every --shape size must be at least 1 (got --shape "
                            f"{' '.join(map(str, shape))}); give the sizes in file order, e.g. --shape 128 128 128")
    try:
        dt = np.dtype(dtype).newbyteorder(">" if endian == "big" else "<")
    except TypeError:
        raise HpcfaultError(f"unknown raw sample type (got --raw-dtype {dtype!r}); e.g. float32, float64, "
                            "int16") from None
    dt = check_sample_type(dt, str(path))
    need = int(np.prod([int(n) for n in shape], dtype=object)) * dt.itemsize
    size = path.stat().st_size
    if size != need:
        raise HpcfaultError(f"{path}: holds {size} bytes but --shape {' '.join(map(str, shape))} of {dt.name} needs "
                            f"{need}; check --shape and --raw-dtype")
    arr = np.memmap(path, dtype=dt, mode="r", shape=tuple(int(s) for s in shape))
    return ArraySource("raw", arr, _axes(axes, str(path), RAW_DEFAULT_AXES), None, str(path))


def _open_hdf5(path: Path, axes: Any, dataset: str | None) -> ArraySource:
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise HpcfaultError(f"{path}: not a readable HDF5 file ({exc}); is it truncated or another format?") from None
    try:
        from hpcfault.io.volume import FORMAT, primary_dataset

        name = dataset or primary_dataset(f)
        if name not in f or not isinstance(f[name], h5py.Dataset):
            names = []
            f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and o.ndim == 3 else None)
            raise HpcfaultError(f"{path}: no dataset {name!r} (got 3D datasets {names}); pass --dataset NAME "
                                "--axes ORDER for other HDF5 files")
        ds = f[name]
        if ds.ndim != 3:
            raise HpcfaultError(f"{path}:{name}: a survey must be a 3D array (got shape {ds.shape})")
        stored = f.attrs.get("axes", None)
        if stored is not None and (name in ("data", "labels", "mask", "fault_ids") or f.attrs.get("format") == FORMAT):
            if axes is None:
                axes = str(stored)
            elif _axes(axes, str(path)) != _axes(str(stored), str(path)):
                given = axes if isinstance(axes, str) else ",".join(axes)
                raise HpcfaultError(f"{path}: --axes {given} contradicts the axis order stored in the file (got "
                                    f"--axes {given!r}, file axes {str(stored)!r}); leave out --axes: the file's "
                                    "own order is used")
        order = _axes(axes, f"{path}:{name} (HDF5 without an 'axes' attribute)")
        first = primary_dataset(f)
        geometry = read_geometry(f) if ("geometry" in f and ",".join(order) == AXES_ATTR
                                        and first in f and f[first].shape == ds.shape) else None
        return ArraySource("hdf5", ds, order, geometry, str(path), handle=f)
    except BaseException:
        f.close()
        raise


def open_source(path: str | os.PathLike, *, iline: int = 189, xline: int = 193, endian: str | None = None,
                axes: str | Sequence[str] | None = None, shape: Sequence[int] | None = None,
                dtype: str = "float32", dataset: str | None = None, layout: SegyLayout | None = None,
                min_live: float = MIN_LIVE) -> Source:
    """Open a survey file as a (T, I, X) source. `endian` None means big for SEG-Y, little for raw.

    `layout` is a SegyLayout already scanned (e.g. by rank 0 and broadcast), to skip the header scan.
    """
    p = Path(path)
    kind = source_kind(p)
    if p.is_dir():
        raise HpcfaultError(f"the input is a folder, not a file (got {str(p)!r}); give the path of the survey file")
    if kind != "segy" and not p.is_file():
        raise HpcfaultError(f"input file not found (got {str(p)!r}); check the path")
    if kind == "segy":
        if axes is not None:
            raise HpcfaultError(f"--axes does not apply to SEG-Y (got {axes!r}); SEG-Y axes come from the "
                                "trace headers (--iline/--xline bytes)")
        lay = layout or scan_segy(p, iline=iline, xline=xline, endian=endian or "big", min_live=min_live)
        return SegySource(lay)
    if kind == "npy":
        return _open_npy(p, axes)
    if kind == "raw":
        return _open_raw(p, axes, shape, dtype, endian or "little")
    return _open_hdf5(p, axes, dataset)
