"""Small wording helpers for what the CLI prints: counts with the right plural, sizes, durations."""
from __future__ import annotations


def plural(n: int, noun: str, many: str | None = None) -> str:
    """'1 block', '27 blocks', '1 inline range', '0 missing traces'; `many` for irregular plurals."""
    return f"{n:,} {noun if n == 1 else (many or noun + 's')}"


def mvox(voxels: float) -> str:
    """A voxel count readable at any size: '262,144 voxels', '2.1 Mvox', '272 Mvox', '1.07 Gvox'."""
    if voxels < 1e6:
        return f"{int(voxels):,} voxels"
    if voxels < 1e9:
        return f"{voxels / 1e6:.{1 if voxels < 1e8 else 0}f} Mvox"
    return f"{voxels / 1e9:.2f} Gvox"


def duration(seconds: float) -> str:
    """'0.4 s', '12 s', '3.5 min', '2.1 h' (what a time estimate or a wall time needs)."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
