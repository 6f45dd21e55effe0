"""Stage 2, the block plan: a pure function of integers (no MPI, no files, no torch).

Along each axis of length n, padded to P = n rounded up to a multiple of 16 (the model's size
multiple; the P - n voxels past the survey's end are reflect-padded, `Plan.pad`), the model sees
windows of `edge` voxels (a multiple of 16):

* P <= edge: one window reading the whole axis, model input P voxels; the prediction is cropped back.
* P > edge: windows start every `stride` voxels, stride = edge - overlap rounded DOWN to a multiple
  of 16 (the effective overlap is therefore >= the one asked for), and the last window is shifted
  back to end exactly at P. Every window thus starts on the model's 16-voxel downsampling grid of
  the padded survey, and `Plan.frame` tells the model where: it then resamples on the survey's
  grid (hpcfault/models/frame.py), so a block computes what a whole-survey forward of the padded
  survey computes there, up to the missing context at its borders. Reads stay inside the survey.

Each window owns (writes) the voxels up to the middle of its overlaps with its neighbours; the
write regions partition the survey and give every block its deterministic id (geometry.Block.id).
The merge blends over the full read regions with taper ramps as long as the actual overlaps
(`ramps`), see taper.py.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterator, Sequence

from hpcfault.errors import HpcfaultError
from hpcfault.geometry import Block, Roi, check_shape3

ALIGN = 16
TILING = "survey-grid-v2"   # recorded in the ledger fingerprint: windows on the padded survey's grid
OVERLAP_DIVISOR = 8


def auto_overlap(edge: int) -> int:
    """The default overlap for a block edge: edge / 8 (at least 8, below edge / 2)."""
    return min(max(8, edge // OVERLAP_DIVISOR), (edge - 1) // 2)


def round_up(n: int, m: int = ALIGN) -> int:
    return -(-int(n) // m) * m


@dataclass(frozen=True)
class AxisTiling:
    """The windows along one axis: read [start, stop), owned [wstart, wstop), ramp lengths."""

    size: int
    edge: int                              # model input length along this axis (multiple of 16)
    stride: int
    windows: tuple[tuple[int, int], ...]   # read ranges, inside [0, size); a window starts at its read start
    writes: tuple[tuple[int, int], ...]    # owned ranges, a partition of [0, size)
    ramps: tuple[tuple[int, int], ...]     # (left, right) overlap with the neighbours, 0 at the survey edge

    @property
    def padded(self) -> int:
        """The axis length of the survey grid the windows sit on (size rounded up to 16)."""
        return round_up(self.size)

    @property
    def pad(self) -> int:
        """Voxels of reflect padding after the last window's read range (0 when size is a multiple of 16)."""
        return self.edge - (self.windows[-1][1] - self.windows[-1][0])

    @property
    def overlap_text(self) -> str:
        """The overlaps of neighbouring windows, "16" or "16-48" (the last window may overlap more),
        "-" for a single window."""
        ov = sorted({right for _, right in self.ramps[:-1]})
        return "-" if not ov else str(ov[0]) if len(ov) == 1 else f"{ov[0]}-{ov[-1]}"

    def touching(self, lo: int, hi: int) -> range:
        """Indices of the windows whose read range meets [lo, hi)."""
        ks = [k for k, (a, b) in enumerate(self.windows) if a < hi and b > lo]
        return range(ks[0], ks[-1] + 1) if ks else range(0)


def tile_axis(size: int, edge: int, overlap: int, align: int = ALIGN) -> AxisTiling:
    """Windows of `edge` voxels covering [0, size) with at least `overlap` voxels shared."""
    if size < 1 or edge < align or edge % align or overlap < 0 or 2 * overlap >= edge:
        raise ValueError(f"bad tiling request (size={size}, edge={edge}, overlap={overlap}, align={align})")
    padded = round_up(size, align)
    edge_here = min(edge, padded)
    if padded <= edge_here:
        return AxisTiling(size, edge_here, edge_here, ((0, size),), ((0, size),), ((0, 0),))
    stride = (edge - overlap) // align * align or (edge - overlap)
    starts: list[int] = []
    start = 0
    while start + edge < padded:
        starts.append(start)
        start += stride
    starts.append(padded - edge)
    windows = tuple((s, min(s + edge, size)) for s in starts)
    cuts = [0] + [(windows[k][1] + windows[k + 1][0]) // 2 for k in range(len(windows) - 1)] + [size]
    writes = tuple((cuts[k], cuts[k + 1]) for k in range(len(windows)))
    ramps = tuple((windows[k - 1][1] - windows[k][0] if k else 0,
                   windows[k][1] - windows[k + 1][0] if k + 1 < len(windows) else 0)
                  for k in range(len(windows)))
    return AxisTiling(size, edge, stride, windows, writes, ramps)


@dataclass(frozen=True)
class Plan:
    """All blocks of one survey, in a fixed order (C order over the window grid)."""

    shape: tuple[int, int, int]
    edge: int                      # block edge used (after the caps)
    overlap: int                   # overlap asked for (effective one: edge - stride per axis)
    axes: tuple[AxisTiling, AxisTiling, AxisTiling]

    @property
    def grid(self) -> tuple[int, int, int]:
        return tuple(len(a.windows) for a in self.axes)  # type: ignore[return-value]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Shape of every model input (read region + reflect padding)."""
        return tuple(a.edge for a in self.axes)  # type: ignore[return-value]

    @property
    def pad(self) -> tuple[int, int, int]:
        return tuple(a.pad for a in self.axes)  # type: ignore[return-value]

    def __len__(self) -> int:
        g = self.grid
        return g[0] * g[1] * g[2]

    def index(self, k: int) -> tuple[int, int, int]:
        g = self.grid
        return (k // (g[1] * g[2]), (k // g[2]) % g[1], k % g[2])

    def block(self, k: int) -> Block:
        idx = self.index(k)
        read = [a.windows[j] for a, j in zip(self.axes, idx)]
        write = [a.writes[j] for a, j in zip(self.axes, idx)]
        return Block(read=Roi(tuple(r[0] for r in read), tuple(r[1] - r[0] for r in read)),
                     write=Roi(tuple(w[0] for w in write), tuple(w[1] - w[0] for w in write)))

    def frame(self, k: int) -> tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]] | None:
        """(offset, input shape, padded survey shape) of block k for the model's survey-grid resampling
        (hpcfault.models.Frame), or None when a window is off the 16-voxel grid (a stride below 16)."""
        offset = tuple(a.windows[j][0] for a, j in zip(self.axes, self.index(k)))
        if any(o % ALIGN for o in offset):
            return None
        return offset, self.input_shape, tuple(a.padded for a in self.axes)  # type: ignore[return-value]

    def ramps(self, k: int) -> tuple[tuple[int, int], ...]:
        return tuple(a.ramps[j] for a, j in zip(self.axes, self.index(k)))

    def blocks(self) -> Iterator[Block]:
        return (self.block(k) for k in range(len(self)))

    def touching(self, roi: Roi) -> list[int]:
        """Block numbers (ascending) whose read region meets `roi`."""
        ranges = [a.touching(o, o + s) for a, o, s in zip(self.axes, roi.offset, roi.shape)]
        g = self.grid
        return [i * g[1] * g[2] + j * g[2] + k for i, j, k in itertools.product(*ranges)]

    def params(self) -> dict:
        """What the ledger fingerprint keys on."""
        return {"shape": list(self.shape), "block": self.edge, "overlap": self.overlap,
                "input_shape": list(self.input_shape), "grid": list(self.grid), "tiling": TILING}


def make_plan(shape: Sequence[int], block: int, overlap: int | None, max_edge: int | None = None) -> Plan:
    """The plan for a survey of `shape`: edge = `block` capped by `max_edge` (memory) and the survey.

    `overlap` None picks auto_overlap(edge)."""
    shape = check_shape3(shape, "survey")
    if block < ALIGN or block % ALIGN:
        raise HpcfaultError(f"block edge must be a positive multiple of {ALIGN} (got {block}); e.g. --block 256")
    edge = block
    if max_edge is not None:
        capped = max(ALIGN, int(max_edge) // ALIGN * ALIGN)
        edge = min(edge, capped)
    edge = min(edge, round_up(max(shape)))
    if overlap is None:
        overlap = auto_overlap(edge)
    if overlap < 0 or 2 * overlap >= edge:
        raise HpcfaultError(f"overlap must be >= 0 and less than half the block edge (got overlap {overlap} "
                            f"with block edge {edge}); lower --overlap or raise --block")
    axes = tuple(tile_axis(n, edge, overlap) for n in shape)
    return Plan(shape, edge, overlap, axes)  # type: ignore[arg-type]


def merge_tiles(shape: Sequence[int], tile: int) -> list[Roi]:
    """Output tiles (a partition of the survey in boxes of at most `tile` voxels per axis), C order."""
    cuts = [list(range(0, n, tile)) + [n] for n in shape]
    return [Roi((a[0], b[0], c[0]), (a[1] - a[0], b[1] - b[0], c[1] - c[0]))
            for a, b, c in itertools.product(*[list(zip(c[:-1], c[1:])) for c in cuts])]


def share(n_items: int, ranks: int, rank: int) -> range:
    """A contiguous, balanced static share of `n_items` for `rank` (used for statistics slabs and tiles)."""
    lo = n_items * rank // ranks
    hi = n_items * (rank + 1) // ranks
    return range(lo, hi)
