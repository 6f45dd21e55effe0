"""Writing fresh SEG-Y files and the SEG-Y constants the readers share.

`write_segy` makes a regular 3D post-stack SEG-Y from a (time, inline, xline) array: inline number at
byte 189, crossline at 193, CDP X/Y at 181/185 with their scalar at 71, IEEE float32 samples
(format code 5), big-endian. Traces whose `geometry.live` entry is False are left out, which makes
an irregular survey (used by the tests and the synthetic generator). The file is written under a
temporary name and renamed when complete.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from hpcfault.errors import HpcfaultError
from hpcfault.geometry import check_shape3
from hpcfault.io.atomic import atomic_path
from hpcfault.io.volume import SurveyGeometry

TEXT_BYTES = 3200
BINARY_BYTES = 400
TRACE_HEADER_BYTES = 240
IEEE_FLOAT = 5

# Trace header byte locations (1-based, as in the SEG-Y standard and segyio.TraceField).
INLINE_BYTE = 189            # INLINE_3D (SEG-Y rev1)
XLINE_BYTE = 193             # CROSSLINE_3D (SEG-Y rev1)
CDP_X_BYTE = 181
CDP_Y_BYTE = 185
COORD_SCALAR_BYTE = 71       # SourceGroupScalar: applies to bytes 73-88 and 181-188
DELAY_BYTE = 109             # DelayRecordingTime (ms)
# Other inline/xline locations met in practice: 9/21 (FieldRecord/CDP, common in older files),
# 5/17 (TRACE_SEQUENCE_FILE/EnergySourcePoint), 9/13 and 17/13 in some vendor exports.
KNOWN_LINE_BYTES: tuple[tuple[int, int], ...] = ((189, 193), (9, 21), (5, 17), (9, 13), (17, 13), (21, 9))


def text_header_bytes(text: str | None, lines: Sequence[str] = ()) -> bytes:
    """A 3200-byte textual header (ASCII; segyio stores it as EBCDIC) from free text."""
    rows = (text.splitlines() if text else list(lines))[:40]
    rows = [r[:80].ljust(80) for r in rows] + [" " * 80] * (40 - min(40, len(rows)))
    return "".join(rows).encode("ascii", errors="replace")


def _coord_scalar(*arrays: np.ndarray | None) -> int:
    """SEG-Y coordinate scalar: 1 for integral coordinates, else -100 (centimetre precision)."""
    for a in arrays:
        if a is not None and not np.allclose(a, np.round(a)):
            return -100
    return 1


def write_segy(path: str | os.PathLike, data: np.ndarray, geometry: SurveyGeometry | None = None, *,
               text_header: str | None = None, sample_interval_us: int = 4000) -> None:
    """Write `data` (time, inline, xline) as a regular 3D post-stack IEEE-float SEG-Y, atomically.

    `data` may be any array-like with `.shape` and `data[:, i, :]` (NumPy memmap, h5py dataset, a
    generator object): it is read one inline at a time, so large surveys need not fit in memory.

    Without `geometry`, inlines and crosslines are numbered from 1 and CDP X/Y are 25 m x index.
    With a geometry whose sample unit is "ms", its sample interval wins over `sample_interval_us`;
    the first sample time is stored as the delay recording time (byte 109).
    """
    import segyio

    t, ni, nx = check_shape3(data.shape if hasattr(data, "shape") else np.shape(data), "write_segy data")
    geom = geometry or SurveyGeometry(
        inlines=np.arange(1, ni + 1, dtype=np.int32), xlines=np.arange(1, nx + 1, dtype=np.int32),
        samples=np.arange(t, dtype=np.float64) * sample_interval_us / 1000.0,
        sample_interval=sample_interval_us / 1000.0, sample_unit="ms")
    if geom.shape != (t, ni, nx):
        raise HpcfaultError(f"geometry of shape {geom.shape} does not match the data shape {(t, ni, nx)}; "
                            "pass a SurveyGeometry made for this array")
    if geom.sample_unit == "ms" and geom.sample_interval > 0:
        sample_interval_us = int(round(geom.sample_interval * 1000))
    delay_ms = int(round(float(geom.samples[0]))) if geom.sample_unit == "ms" else 0
    ii, xx = np.meshgrid(np.arange(ni), np.arange(nx), indexing="ij")
    cdp_x = geom.cdp_x if geom.cdp_x is not None else (ii * 25.0 + 1000.0)
    cdp_y = geom.cdp_y if geom.cdp_y is not None else (xx * 25.0 + 2000.0)
    scalar = _coord_scalar(cdp_x, cdp_y)
    factor = 100.0 if scalar == -100 else 1.0
    live = np.ones((ni, nx), bool) if geom.live is None else np.asarray(geom.live, bool)
    ntraces = int(live.sum())
    if ntraces == 0:
        raise HpcfaultError("write_segy: the live mask marks no trace as live; nothing to write")

    spec = segyio.spec()
    spec.iline, spec.xline = INLINE_BYTE, XLINE_BYTE
    spec.format = IEEE_FLOAT
    spec.sorting = segyio.TraceSortingFormat.INLINE_SORTING
    spec.samples = np.arange(t, dtype=np.float64) * sample_interval_us / 1000.0
    if live.all():
        spec.ilines, spec.xlines = list(map(int, geom.inlines)), list(map(int, geom.xlines))
    else:
        spec.tracecount = ntraces
    with atomic_path(path) as tmp:
        with segyio.create(str(tmp), spec) as f:
            f.text[0] = text_header_bytes(text_header or geom.text_header or None, _default_text(geom))
            f.bin.update(hdt=sample_interval_us, dto=sample_interval_us, format=IEEE_FLOAT)
            k = 0
            for i in range(ni):
                block = np.ascontiguousarray(np.asarray(data[:, i, :], dtype=np.float32).T)  # (X, T)
                for x in np.flatnonzero(live[i]):
                    f.header[k] = {
                        segyio.TraceField.TRACE_SEQUENCE_LINE: k + 1,
                        segyio.TraceField.TRACE_SEQUENCE_FILE: k + 1,
                        segyio.TraceField.CDP: k + 1,
                        segyio.TraceField.SourceGroupScalar: scalar,
                        segyio.TraceField.CDP_X: int(round(float(cdp_x[i, x]) * factor)),
                        segyio.TraceField.CDP_Y: int(round(float(cdp_y[i, x]) * factor)),
                        segyio.TraceField.DelayRecordingTime: delay_ms,
                        segyio.TraceField.TRACE_SAMPLE_COUNT: t,
                        segyio.TraceField.TRACE_SAMPLE_INTERVAL: sample_interval_us,
                        segyio.TraceField.INLINE_3D: int(geom.inlines[i]),
                        segyio.TraceField.CROSSLINE_3D: int(geom.xlines[x]),
                    }
                    f.trace[k] = block[x]
                    k += 1


def _default_text(geom: SurveyGeometry) -> list[str]:
    return [
        "C 1 WRITTEN BY HPCFAULT (write_segy)",
        f"C 2 SOURCE {geom.source[:68]}",
        f"C 3 INLINES {int(geom.inlines[0])}-{int(geom.inlines[-1])} "
        f"XLINES {int(geom.xlines[0])}-{int(geom.xlines[-1])} SAMPLES {len(geom.samples)}",
        "C 4 INLINE BYTES 189-192  CROSSLINE BYTES 193-196",
        "C 5 CDP X BYTES 181-184  CDP Y BYTES 185-188  COORD SCALAR BYTES 71-72",
        "C 6 SAMPLE FORMAT 5 (IEEE FLOAT32) BIG-ENDIAN",
    ]
