"""Scan a post-stack 3D SEG-Y once: its layout and geometry from the headers, without reading traces.

`scan_segy` checks the file before handing it to segyio (size, text-only, byte order, sample format)
so that every bad input ends in one `HpcfaultError` line, then reads the inline/crossline numbers,
offsets, coordinates and coordinate scalar of every trace header and builds the survey grid:
sorted inline and crossline axes, and a (I, X) table of trace indices with -1 for missing traces.
The result is a plain value (`SegyLayout`) that rank 0 computes and broadcasts.

Where the line numbers live: SEG-Y rev1 puts them at bytes 189 (inline) and 193 (crossline); older
files often use 9/21 (field record / CDP) or 5/17. `hpcfault info FILE --scan-bytes` tries the usual
pairs and says which one spans a full grid.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpcfault.errors import HpcfaultError
from hpcfault.io.segy import KNOWN_LINE_BYTES, TEXT_BYTES, TRACE_HEADER_BYTES

HEADER_BYTES = 3600
FORMAT_OFFSET = 3224           # binary header bytes 3225-3226: sample format code
EXT_OFFSET = 3504              # bytes 3505-3506: number of extended textual headers
# format code -> (name, bytes per sample) for the formats segyio reads
FORMATS: dict[int, tuple[str, int]] = {
    1: ("IBM float32", 4), 2: ("int32", 4), 3: ("int16", 2), 5: ("IEEE float32", 4),
    6: ("IEEE float64", 8), 8: ("int8", 1), 9: ("int64", 8), 10: ("uint32", 4),
    11: ("uint16", 2), 12: ("uint64", 8), 16: ("uint8", 1),
}
MIN_LIVE = 0.5                 # below this share of live grid positions the bytes are likely wrong
FIND_BYTES = "find them with 'hpcfault info FILE --scan-bytes'"


@dataclass(frozen=True, eq=False)
class SegyLayout:
    """Everything convert, info and export need to know about a post-stack SEG-Y file."""

    path: str
    endian: str                    # "big" | "little"
    iline_byte: int
    xline_byte: int
    format_code: int
    n_samples: int
    n_traces: int
    ext_headers: int
    sample_interval_us: int
    samples: np.ndarray            # (T,) ms
    inlines: np.ndarray            # (I,)
    xlines: np.ndarray             # (X,)
    trace_index: np.ndarray        # (I, X) int64, -1 where no trace
    cdp_x: np.ndarray              # (I, X) float64, scalar applied, 0 where no trace
    cdp_y: np.ndarray
    text_header: str

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.n_samples, len(self.inlines), len(self.xlines))

    @property
    def live(self) -> np.ndarray:
        return self.trace_index >= 0

    @property
    def missing(self) -> int:
        return int(self.trace_index.size - self.n_traces)

    @property
    def data_offset(self) -> int:
        return HEADER_BYTES + TEXT_BYTES * self.ext_headers

    @property
    def trace_bytes(self) -> int:
        return TRACE_HEADER_BYTES + self.n_samples * FORMATS[self.format_code][1]

    @property
    def format_name(self) -> str:
        return FORMATS[self.format_code][0]


def _int16(raw: bytes, offset: int, endian: str) -> int:
    return int.from_bytes(raw[offset:offset + 2], "big" if endian == "big" else "little", signed=True)


def check_file(path: str | os.PathLike, endian: str) -> int:
    """Reject what segyio would misread or fail on, with the reason and what to do; return the format code."""
    p = Path(path)
    if endian not in ("big", "little"):
        raise HpcfaultError(f"unknown byte order (got {endian!r}); use --endian big or --endian little")
    if not p.is_file():
        raise HpcfaultError(f"SEG-Y file not found (got {str(p)!r}); check the path")
    size = p.stat().st_size
    if size < HEADER_BYTES:
        raise HpcfaultError(f"{p}: only {size} bytes, shorter than the 3600-byte SEG-Y headers; "
                            "the file is truncated or not SEG-Y")
    with open(p, "rb") as fh:
        head = fh.read(HEADER_BYTES)
    code = _int16(head, FORMAT_OFFSET, endian)
    other = "little" if endian == "big" else "big"
    if code not in FORMATS:
        if _int16(head, FORMAT_OFFSET, other) in FORMATS:
            raise HpcfaultError(
                f"{p}: sample format code reads {code} as {endian}-endian but "
                f"{_int16(head, FORMAT_OFFSET, other)} as {other}-endian; the file is {other}-endian - "
                f"pass --endian {other}")
        raise HpcfaultError(f"{p}: sample format code {code} (binary header bytes 3225-3226) is not one segyio "
                            f"reads (valid: {sorted(FORMATS)}); the file is damaged or not SEG-Y")
    if size == HEADER_BYTES + TEXT_BYTES * max(0, _int16(head, EXT_OFFSET, endian)):
        raise HpcfaultError(f"{p}: the file holds only its textual and binary headers, no traces "
                            "(a text-only SEG-Y); there is no survey to read")
    return code


def detect_endian(path: str | os.PathLike) -> str:
    """The byte order whose binary header names a known sample format ("big" when both do)."""
    try:
        check_file(path, "big")
        return "big"
    except HpcfaultError as exc:
        if "pass --endian little" in str(exc):
            return "little"
        raise


def open_segy(path: str | os.PathLike, endian: str):
    """segyio file handle (no geometry interpretation) after `check_file`; errors are one line."""
    import segyio

    check_file(path, endian)
    try:
        return segyio.open(str(path), "r", ignore_geometry=True, endian=endian)
    except (RuntimeError, OSError, IndexError, ValueError) as exc:
        hint = ("the file is truncated or its traces are not all the length the binary header declares "
                "(or it uses SEG-Y rev2 trace header extensions segyio cannot read)")
        if "inconsistent with file size" in str(exc):
            raise HpcfaultError(f"{path}: file size does not fit whole traces ({exc}); {hint}") from None
        raise HpcfaultError(f"{path}: segyio cannot open it ({exc}); {hint}") from None


def line_axis(values: np.ndarray) -> np.ndarray:
    """Sorted line numbers of an axis; a gap in an evenly stepped numbering becomes a dead line.

    The numbers present are kept when filling the gaps would more than double the axis.
    """
    uniq = np.unique(values)
    if len(uniq) < 3:
        return uniq
    step = int(np.gcd.reduce(np.diff(uniq).astype(np.int64)))
    full = (int(uniq[-1]) - int(uniq[0])) // step + 1
    if step > 0 and full != len(uniq) and full <= 2 * len(uniq):
        return np.arange(int(uniq[0]), int(uniq[-1]) + 1, step, dtype=uniq.dtype)
    return uniq


def build_grid(il: np.ndarray, xl: np.ndarray, offsets: np.ndarray | None = None, *, iline_byte: int = 189,
               xline_byte: int = 193, min_live: float = MIN_LIVE, what: str = "file"):
    """Inline axis, crossline axis and the (I, X) trace-index table from per-trace line numbers.

    Raises for prestack data (several traces per position with different offsets), files without
    geometry (every trace on one position), and grids mostly empty (probably the wrong bytes).
    """
    n = len(il)
    bytes_ = f"bytes {iline_byte}/{xline_byte}"
    inlines, xlines = line_axis(il), line_axis(xl)
    ni, nx = len(inlines), len(xlines)
    if n > 1 and ni == 1 and nx == 1:
        off = "" if offsets is None or len(np.unique(offsets)) < 2 else \
            f", offsets (byte 37) {int(offsets.min())}..{int(offsets.max())}"
        raise HpcfaultError(
            f"{what}: no 3D geometry at {bytes_}: all {n} traces have inline {int(il[0])} and crossline "
            f"{int(xl[0])}{off} (a gather or a file without line numbers); pass the right --iline/--xline "
            f"bytes ({FIND_BYTES}) or give a post-stack 3D survey")
    if n < min_live * ni * nx:
        raise HpcfaultError(
            f"{what}: the line numbers at {bytes_} spread {n} traces over a {ni} x {nx} grid "
            f"({100.0 * n / (ni * nx):.0f}% filled); these are probably not the inline/crossline bytes - "
            f"{FIND_BYTES} and pass --iline/--xline")
    ii = np.searchsorted(inlines, il)
    xx = np.searchsorted(xlines, xl)
    key = ii.astype(np.int64) * nx + xx
    counts = np.bincount(key, minlength=ni * nx)
    if counts.max() > 1:
        dup = int(np.argmax(counts))
        where = f"inline {int(inlines[dup // nx])} crossline {int(xlines[dup % nx])} holds {int(counts[dup])} traces"
        if offsets is not None and len(np.unique(offsets)) > 1:
            raise HpcfaultError(
                f"{what}: prestack data ({where}, offsets at byte 37 take {len(np.unique(offsets))} values); "
                "convert reads post-stack 3D surveys - stack the gathers first")
        raise HpcfaultError(
            f"{what}: several traces share an inline/crossline position at {bytes_} ({where}); "
            f"a 2D line, gather or wrong byte locations - {FIND_BYTES}")
    table = np.full(ni * nx, -1, dtype=np.int64)
    table[key] = np.arange(n, dtype=np.int64)
    return inlines, xlines, table.reshape(ni, nx)


def _scaled(values: np.ndarray, scalar: np.ndarray) -> np.ndarray:
    s = scalar.astype(np.float64)
    factor = np.where(s < 0, -1.0 / np.where(s == 0, 1, s), np.where(s == 0, 1.0, s))
    return values.astype(np.float64) * factor


def scan_segy(path: str | os.PathLike, *, iline: int = 189, xline: int = 193, endian: str = "big",
              min_live: float = MIN_LIVE) -> SegyLayout:
    """Read every trace header once (not the traces) and return the survey layout."""
    import segyio

    for name, b in (("--iline", iline), ("--xline", xline)):
        if not 1 <= int(b) <= TRACE_HEADER_BYTES - 3:
            raise HpcfaultError(f"{name} byte must be within the 240-byte trace header (got {b}); "
                                "common choices: 189/193, 9/21, 5/17")
    code = check_file(path, endian)
    with open_segy(path, endian) as f:
        n = f.tracecount
        if n == 0:
            raise HpcfaultError(f"{path}: no traces after the headers (a text-only SEG-Y); there is no survey to read")
        il = np.asarray(f.attributes(int(iline))[:], dtype=np.int64)
        xl = np.asarray(f.attributes(int(xline))[:], dtype=np.int64)
        offsets = np.asarray(f.attributes(segyio.TraceField.offset)[:])
        inlines, xlines, table = build_grid(il, xl, offsets, iline_byte=iline, xline_byte=xline,
                                            min_live=min_live, what=str(path))
        scalar = np.asarray(f.attributes(segyio.TraceField.SourceGroupScalar)[:])
        cx = _scaled(np.asarray(f.attributes(segyio.TraceField.CDP_X)[:]), scalar)
        cy = _scaled(np.asarray(f.attributes(segyio.TraceField.CDP_Y)[:]), scalar)
        live = table >= 0
        cdp_x = np.zeros(table.shape)
        cdp_y = np.zeros(table.shape)
        cdp_x[live], cdp_y[live] = cx[table[live]], cy[table[live]]
        interval = int(f.bin[segyio.BinField.Interval]) or int(f.header[0][segyio.TraceField.TRACE_SAMPLE_INTERVAL])
        text = bytes(f.text[0]).decode("ascii", errors="replace")
        return SegyLayout(
            path=str(path), endian=endian, iline_byte=int(iline), xline_byte=int(xline),
            format_code=code, n_samples=len(f.samples),
            n_traces=n, ext_headers=int(f.ext_headers), sample_interval_us=interval,
            samples=np.asarray(f.samples, dtype=np.float64), inlines=inlines, xlines=xlines, trace_index=table,
            cdp_x=cdp_x, cdp_y=cdp_y,
            text_header="\n".join(text[k:k + 80].rstrip() for k in range(0, len(text), 80)))


def scan_bytes(path: str | os.PathLike, *, endian: str = "big",
               pairs: tuple[tuple[int, int], ...] = KNOWN_LINE_BYTES) -> list[dict]:
    """For each candidate (inline byte, crossline byte): distinct values, ranges and whether they grid."""
    rows = []
    with open_segy(path, endian) as f:
        n = f.tracecount
        cache: dict[int, np.ndarray] = {}
        for ib, xb in pairs:
            for b in (ib, xb):
                if b not in cache:
                    cache[b] = np.asarray(f.attributes(b)[:], dtype=np.int64)
            il, xl = cache[ib], cache[xb]
            ni, nx = len(line_axis(il)), len(line_axis(xl))
            pairs_distinct = len(np.unique(il * (int(xl.max()) - int(xl.min()) + 1) + (xl - xl.min()))) if n else 0
            rows.append({
                "iline_byte": ib, "xline_byte": xb, "inlines": ni, "xlines": nx,
                "iline_range": (int(il.min()), int(il.max())) if n else None,
                "xline_range": (int(xl.min()), int(xl.max())) if n else None,
                "fill": n / max(1, ni * nx),
                "fits": bool(n > 0 and pairs_distinct == n and (n == 1 or ni * nx > 1) and n >= MIN_LIVE * ni * nx),
            })
    return rows
