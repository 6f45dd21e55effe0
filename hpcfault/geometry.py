"""Axis convention and value types for regions of a volume. Pure: no I/O, no torch.

Inside the engine every 3D array is ordered (time, inline, xline): axis 0 is the trace sample
(time or depth), axis 1 the inline number, axis 2 the crossline number. The published Fault-Net
weights expect this order too. It is written here once and checked at every I/O boundary.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from hpcfault.errors import HpcfaultError

AXES: tuple[str, str, str] = ("time", "inline", "xline")
AXES_ATTR = ",".join(AXES)  # the value stored in the `axes` attribute of every volume file
AXIS_ALIASES = {
    "t": "time", "time": "time", "z": "time", "depth": "time", "sample": "time",
    "i": "inline", "il": "inline", "inline": "inline", "iline": "inline",
    "x": "xline", "xl": "xline", "xline": "xline", "crossline": "xline",
}


def parse_axes(text: str) -> tuple[str, str, str]:
    """Parse an axis order like 'inline,xline,time' or 'ixt' into canonical names."""
    raw = text.replace(" ", "")
    parts = raw.split(",") if "," in raw else list(raw)
    names = tuple(AXIS_ALIASES.get(p.lower(), "?") for p in parts)
    if len(names) != 3 or "?" in names or len(set(names)) != 3:
        raise HpcfaultError(
            f"cannot read the axis order (got {text!r}); name each of time, inline, xline once, "
            "e.g. 'time,inline,xline', 'inline,xline,time' or 'ixt'")
    return names  # type: ignore[return-value]


def to_engine_order(axes: Sequence[str]) -> tuple[int, int, int]:
    """The transpose that turns an array with `axes` into (time, inline, xline)."""
    return tuple(list(axes).index(a) for a in AXES)  # type: ignore[return-value]


def check_shape3(shape: Sequence[int], what: str) -> tuple[int, int, int]:
    """Check that `shape` is a 3D (time, inline, xline) shape with positive sizes."""
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise HpcfaultError(
            f"{what} must be a 3D (time, inline, xline) array with every size >= 1 (got shape {shape})")
    return shape  # type: ignore[return-value]


@dataclass(frozen=True)
class Roi:
    """A box of voxels: `offset` of its first voxel and its `shape`, one entry per axis."""

    offset: tuple[int, ...]
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.offset) != len(self.shape):
            raise ValueError(f"Roi offset and shape differ in length ({self.offset} vs {self.shape})")

    @property
    def end(self) -> tuple[int, ...]:
        return tuple(o + s for o, s in zip(self.offset, self.shape))

    @property
    def size(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def slices(self) -> tuple[slice, ...]:
        return tuple(slice(o, o + s) for o, s in zip(self.offset, self.shape))

    def intersect(self, other: "Roi") -> "Roi":
        lo = tuple(max(a, b) for a, b in zip(self.offset, other.offset))
        hi = tuple(min(a, b) for a, b in zip(self.end, other.end))
        return Roi(lo, tuple(max(0, h - l) for l, h in zip(lo, hi)))

    def contains(self, other: "Roi") -> bool:
        return all(a <= b for a, b in zip(self.offset, other.offset)) and all(
            a >= b for a, b in zip(self.end, other.end))

    def relative_to(self, origin: "Roi") -> "Roi":
        """This box in the coordinates of `origin`'s first voxel."""
        return Roi(tuple(o - p for o, p in zip(self.offset, origin.offset)), self.shape)


@dataclass(frozen=True)
class Block:
    """One unit of block-wise work.

    `read` is the region fed to the model (the write region plus context on every side, clipped or
    shifted to stay inside the volume); `write` is the region whose voxels this block contributes to
    the merge. The id is derived from the write region alone, so it is the same for every rank count.
    """

    read: Roi
    write: Roi

    @property
    def id(self) -> str:
        return "b" + "_".join(f"{o}+{s}" for o, s in zip(self.write.offset, self.write.shape))
