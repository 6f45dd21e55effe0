"""Pure planning for streamed I/O: memory sizes, inline ranges that fit a budget, rank shares."""
from __future__ import annotations

import re

from hpcfault.errors import HpcfaultError

UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
         "t": 1000**4, "tb": 1000**4, "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}
DEFAULT_BUDGET = 256 * 1024**2


def parse_size(text: str | int) -> int:
    """'256MiB', '1.5GB', '64k', '1000000' -> bytes."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
    if not m or m.group(2).lower() not in UNITS:
        raise HpcfaultError(f"cannot read the memory size (got {text!r}); write e.g. 256MiB, 2GiB, 500MB or 1000000")
    value = int(float(m.group(1)) * UNITS[m.group(2).lower()])
    if value <= 0:
        raise HpcfaultError(f"memory size must be positive (got {text!r})")
    return value


def format_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def slab_lines(bytes_per_line: int, budget: int, align: int = 1) -> int:
    """How many lines one slab holds: as many as fit `budget`, rounded down to a multiple of `align`
    when at least `align` fit, and never fewer than one."""
    n = max(1, budget // max(1, bytes_per_line))
    if align > 1 and n >= align:
        n -= n % align
    return n


def plan_ranges(n_lines: int, per_slab: int) -> list[tuple[int, int]]:
    """Consecutive [start, stop) ranges of at most `per_slab` lines covering 0..n_lines."""
    if n_lines < 0 or per_slab < 1:
        raise ValueError(f"plan_ranges needs n_lines >= 0 and per_slab >= 1 (got {n_lines}, {per_slab})")
    return [(a, min(a + per_slab, n_lines)) for a in range(0, n_lines, per_slab)]


def owner(k: int, size: int) -> int:
    """The rank that reads range k: round robin, so every rank has work early and rank 0 writes in order."""
    return k % size


def rank_share(ranges: list[tuple[int, int]], rank: int, size: int) -> list[tuple[int, tuple[int, int]]]:
    """(index, range) pairs that `rank` reads."""
    return [(k, r) for k, r in enumerate(ranges) if owner(k, size) == rank]
