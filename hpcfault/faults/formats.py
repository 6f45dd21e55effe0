"""Fault stick and point files that interpretation software imports: writers and readers.

A stick is (fault name, stick number, nodes), each node (inline, crossline, X, Y, Z): line numbers
of the survey, CDP coordinates as scaled in the SEG-Y, Z in the survey's sample unit (ms for time).

OpendTect FaultStickSet ASCII (OpendTect's "Import FaultStickSet / Fault" ASCII layout: one node per
line, columns position (X Y, or Inl Crl), Z, stick index, optionally node index; its bulk import
takes the fault name in front): tab-separated, no header,
    single:  X  Y  Z  STICK  NODE          (or INLINE  CROSSLINE  Z  STICK  NODE without CDP X/Y)
    bulk:    NAME  X  Y  Z  STICK  NODE
Charisma fault sticks: one node per line,
    INLINE-  INLINE  CROSSLINE  X  Y  Z  NAME  STICK
whitespace-separated, fixed widths, fault names without spaces.
Point sets (CSV with a header): inline,crossline,time,x,y,dip,strike,strike_north,probability.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, TextIO

import numpy as np

from hpcfault.errors import HpcfaultError

POINT_COLUMNS = ("inline", "crossline", "time", "x", "y", "dip", "strike", "strike_north", "probability")


@dataclass(frozen=True, eq=False)
class Stick:
    name: str
    number: int
    nodes: np.ndarray        # (m, 5): inline, crossline, X, Y, Z


def _num(v: float, digits: int = 2) -> str:
    return f"{v:.{digits}f}"


def write_opendtect(out: TextIO, sticks: Iterable[Stick], *, bulk: bool, xy: bool) -> int:
    """OpendTect FaultStickSet ASCII lines for `sticks`; `xy` writes X Y, else inline crossline."""
    rows = 0
    for s in sticks:
        for k, (il, xl, x, y, z) in enumerate(s.nodes):
            pos = f"{_num(x)}\t{_num(y)}" if xy else f"{_num(il)}\t{_num(xl)}"
            out.write((f"{s.name}\t" if bulk else "") + f"{pos}\t{_num(z, 3)}\t{s.number}\t{k}\n")
            rows += 1
    return rows


def write_charisma(out: TextIO, sticks: Iterable[Stick]) -> int:
    """Charisma fault-stick lines (inline and crossline rounded to whole line numbers)."""
    rows = 0
    for s in sticks:
        if any(c.isspace() for c in s.name) or not s.name:
            raise HpcfaultError(f"Charisma fault names may not hold spaces (got {s.name!r}); name faults without them")
        for il, xl, x, y, z in s.nodes:
            out.write(f"INLINE-{int(round(il)):>10d}{int(round(xl)):>10d}{x:>15.2f}{y:>15.2f}{z:>12.3f} "
                      f"{s.name:<12s}{s.number:>6d}\n")
            rows += 1
    return rows


def write_points(out: TextIO, rows: np.ndarray, header: bool) -> None:
    """Point-set CSV rows ((n, 9) as POINT_COLUMNS; NaN X/Y/strike_north written empty)."""
    if header:
        out.write(",".join(POINT_COLUMNS) + "\n")
    if len(rows) == 0:
        return
    fmt = "%.0f,%.0f,%g,%.2f,%.2f,%.2f,%.2f,%.2f,%.4f"
    text = "\n".join(fmt % tuple(r) for r in np.asarray(rows, np.float64).tolist())
    out.write(text.replace("nan", "") + "\n")          # only a NaN prints as 'nan'


# -- readers, written from the layouts above ------------------------------------------------------
def _bad(path: str | os.PathLike, line_no: int, line: str, what: str) -> HpcfaultError:
    return HpcfaultError(f"{path}:{line_no}: {what} (got {line.strip()!r})")


def read_opendtect(path: str | os.PathLike, *, bulk: bool, xy: bool = True, name: str = "") -> list[Stick]:
    """Sticks of an OpendTect FaultStickSet ASCII file (single: named `name`; bulk: by the name
    column). Position columns are X Y (`xy`) or inline crossline; the others are left NaN."""
    nodes: dict[tuple[str, int], list[tuple[int, list[float]]]] = {}
    with open(path, encoding="ascii") as fh:
        for n, line in enumerate(fh, 1):
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            if bulk:
                fname, parts = parts[0], parts[1:]
            else:
                fname = name
            if len(parts) not in (4, 5):
                raise _bad(path, n, line, "expected position (2 columns), Z, stick index and node index")
            try:
                a, b, z = (float(v) for v in parts[:3])
                stick = int(parts[3])
                node = int(parts[4]) if len(parts) == 5 else len(nodes.get((fname, stick), []))
            except ValueError:
                raise _bad(path, n, line, "a number column does not hold a number") from None
            row = [np.nan, np.nan, a, b, z] if xy else [a, b, np.nan, np.nan, z]
            nodes.setdefault((fname, stick), []).append((node, row))
    return [Stick(fname, stick, np.array([r for _, r in sorted(rows, key=lambda p: p[0])], np.float64))
            for (fname, stick), rows in nodes.items()]


def read_charisma(path: str | os.PathLike) -> list[Stick]:
    """Sticks of a Charisma fault-stick file (nodes in file order within each stick)."""
    nodes: dict[tuple[str, int], list[list[float]]] = {}
    with open(path, encoding="ascii") as fh:
        for n, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if parts[0] != "INLINE-" or len(parts) < 8:
                raise _bad(path, n, line, "expected INLINE- inline crossline X Y Z name stick")
            try:
                il, xl, x, y, z = (float(v) for v in parts[1:6])
                stick = int(parts[-1])
            except ValueError:
                raise _bad(path, n, line, "a number column does not hold a number") from None
            nodes.setdefault((" ".join(parts[6:-1]), stick), []).append([il, xl, x, y, z])
    return [Stick(name, stick, np.array(rows, np.float64)) for (name, stick), rows in nodes.items()]


def read_points(path: str | os.PathLike) -> np.ndarray:
    """(n, 9) float array of a point-set CSV (empty cells -> NaN); the header must be POINT_COLUMNS."""
    with open(path, encoding="ascii") as fh:
        head = fh.readline().strip().split(",")
        if tuple(head) != POINT_COLUMNS:
            raise HpcfaultError(f"{path}: not a point-set CSV (got header {head}); expected {','.join(POINT_COLUMNS)}")
        rows = [[float(c) if c else np.nan for c in line.strip().split(",")] for line in fh if line.strip()]
    return np.array(rows, np.float64).reshape(-1, len(POINT_COLUMNS))
