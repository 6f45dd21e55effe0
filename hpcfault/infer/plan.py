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

2D section models (a model mapping a section to a section) are applied to every section along a
`section_axis` (1 = inline: sections (time, xline); 2 = xline: sections (time, inline)). Their
blocks are slabs of whole sections along that axis: windows of `slab` sections without overlap
(no context crosses sections), tiled as usual along the two axes of the section. A `Tiling` holds
one Plan per view (a 3D model: one view; a 2D model: one per direction, averaged in the merge)
and numbers all their blocks 0, 1, 2, ...; block ids carry the view ("il-"/"xl-") so views never
collide.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from numbers import Integral
from typing import Iterator, Sequence

from hpcfault.errors import HpcfaultError
from hpcfault.geometry import Block, Roi, check_shape3

ALIGN = 16
TILING = "survey-grid-v2"   # recorded in the ledger fingerprint: windows on the padded survey's grid
OVERLAP_DIVISOR = 8
VIEW_TAGS = {1: "il", 2: "xl"}
SECTION_AXES = {"inline": 1, "xline": 2}


def auto_overlap(edge: int, model_overlap: int | None = None) -> int:
    """The default overlap for a block edge: the model's own (measured: the smallest overlap that
    keeps a tiled prediction equal to a whole-volume one, see models/catalog.py) up to a quarter of
    the edge, so that a block still owns at least half its edge per axis; else edge / 8; at least 8
    and below edge / 2."""
    want = edge // OVERLAP_DIVISOR if model_overlap is None else min(int(model_overlap), edge // 4)
    return min(max(8, want), (edge - 1) // 2)


def round_up(n: int, m: int = ALIGN) -> int:
    return -(-int(n) // m) * m


@dataclass(frozen=True)
class AxisTiling:
    """The windows along one axis: read [start, stop), owned [wstart, wstop), ramp lengths."""

    size: int
    edge: int                              # model input length along this axis (multiple of `align`)
    stride: int
    windows: tuple[tuple[int, int], ...]   # read ranges, inside [0, size); a window starts at its read start
    writes: tuple[tuple[int, int], ...]    # owned ranges, a partition of [0, size)
    ramps: tuple[tuple[int, int], ...]     # (left, right) overlap with the neighbours, 0 at the survey edge
    align: int = ALIGN

    @property
    def padded(self) -> int:
        """The axis length of the survey grid the windows sit on (size rounded up to `align`)."""
        return round_up(self.size, self.align)

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
        return AxisTiling(size, edge_here, edge_here, ((0, size),), ((0, size),), ((0, 0),), align)
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
    return AxisTiling(size, edge, stride, windows, writes, ramps, align)


@dataclass(frozen=True)
class Plan:
    """All blocks of one survey, in a fixed order (C order over the window grid)."""

    shape: tuple[int, int, int]
    edges: tuple[int, int, int]    # block edge per axis used (after the caps); equal for a cube
    overlap: int                   # overlap asked for (effective one: edge - stride per axis)
    axes: tuple[AxisTiling, AxisTiling, AxisTiling]
    section_axis: int | None = None   # 2D section models: 1 (inline) or 2 (xline); None for 3D models

    @property
    def edge(self) -> int:
        """The block edge of a cube; of a column of whole-time blocks, its lateral edge."""
        return self.edges[1]

    @property
    def block_text(self) -> str:
        """"128" for a cube, "256x128x128" (time x inline x xline) otherwise."""
        return block_text(self.edges)

    @property
    def tag(self) -> str:
        """The view's prefix of block ids ("" for 3D models)."""
        return VIEW_TAGS[self.section_axis] + "-" if self.section_axis else ""

    def block_id(self, k: int) -> str:
        return self.tag + self.block(k).id

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
        if self.section_axis or any(a.align != ALIGN for a in self.axes):   # frames are on the 16-grid
            return None
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
        p = {"shape": list(self.shape), "block": self.edge if is_cube(self.edges) else list(self.edges),
             "overlap": self.overlap,
             "input_shape": list(self.input_shape), "grid": list(self.grid), "tiling": TILING}
        if self.section_axis:
            p["sections"] = {1: "inline", 2: "xline"}[self.section_axis]
        if any(a.align != ALIGN for a in self.axes):
            p["align"] = [a.align for a in self.axes]
        return p


def block_edges(block: int | Sequence[int]) -> tuple[int, int, int]:
    """A block given as one edge (a cube) or as (time, inline, xline) edges, as three edges."""
    if isinstance(block, Integral):
        return (int(block),) * 3
    edges = tuple(int(e) for e in block)
    if len(edges) != 3:
        raise HpcfaultError(f"a block is one edge or three (time, inline, xline) (got {list(edges)}); "
                            "e.g. --block 128 or --block 256,128,128")
    return edges  # type: ignore[return-value]


def is_cube(edges: Sequence[int]) -> bool:
    return len(set(edges)) == 1


def block_text(edges: Sequence[int]) -> str:
    return str(edges[0]) if is_cube(edges) else "x".join(str(int(e)) for e in edges)


def make_plan(shape: Sequence[int], block: int | Sequence[int], overlap: int | None, max_edge: int | None = None, *,
              align: int = ALIGN, section_axis: int | None = None, slab: int | None = None,
              default_overlap: int | None = None) -> Plan:
    """The plan for a survey of `shape`: `block` (one edge, a cube, or (time, inline, xline) edges, e.g.
    a column of whole traces) capped per axis by `max_edge` (memory) and the survey.

    `overlap` None picks auto_overlap of the smallest edge with `default_overlap`. `align` is the
    model's size multiple. With a `section_axis` (2D section models) that axis is cut into slabs of
    `slab` sections (default the block edge) without overlap."""
    shape = check_shape3(shape, "survey")
    edges = asked = block_edges(block)
    for e in edges:
        if e < align or e % align:
            raise HpcfaultError(f"block edge must be a positive multiple of {align} (got {block_text(edges)}); "
                                "e.g. --block 256")
    if section_axis not in (None, 1, 2):
        raise HpcfaultError(f"section axis must be 1 (inline) or 2 (xline) (got {section_axis})")
    if max_edge is not None:
        capped = max(align, int(max_edge) // align * align)
        edges = tuple(min(e, capped) for e in edges)
    top = round_up(max(n for a, n in enumerate(shape) if a != section_axis), align)
    edges = tuple(min(e, top) for e in edges)
    tiled = [e for a, e in enumerate(edges) if a != section_axis]
    if overlap is None:
        overlap = auto_overlap(min(tiled), default_overlap)
    if overlap < 0 or 2 * overlap >= min(tiled):
        raise HpcfaultError(f"overlap must be >= 0 and less than half the block edge (got overlap {overlap} "
                            f"with block edge {min(tiled)}); lower --overlap or raise --block")
    slab = int(slab or asked[section_axis or 0])
    if slab < 1:
        raise HpcfaultError(f"sections per block must be >= 1 (got {slab})")
    axes = tuple(tile_axis(n, slab, 0, align=1) if a == section_axis else tile_axis(n, e, overlap, align)
                 for a, (n, e) in enumerate(zip(shape, edges)))
    return Plan(shape, edges, overlap, axes, section_axis)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Tiling:
    """Every block of a run: the blocks of each view (Plan) in turn, numbered 0, 1, 2, ..."""

    views: tuple[Plan, ...]

    def __post_init__(self) -> None:
        if not self.views or len({v.shape for v in self.views}) != 1:
            raise HpcfaultError(f"a tiling needs views of one survey shape (got {[v.shape for v in self.views]})")

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.views[0].shape

    def __len__(self) -> int:
        return sum(len(v) for v in self.views)

    def locate(self, k: int) -> tuple[int, int]:
        """(view number, block number within the view) of global block k."""
        for v, plan in enumerate(self.views):
            if k < len(plan):
                return v, k
            k -= len(plan)
        raise IndexError(k)

    def first(self, v: int) -> int:
        return sum(len(p) for p in self.views[:v])

    def plan_of(self, k: int) -> tuple[Plan, int]:
        v, j = self.locate(k)
        return self.views[v], j

    def block(self, k: int) -> Block:
        plan, j = self.plan_of(k)
        return plan.block(j)

    def block_id(self, k: int) -> str:
        plan, j = self.plan_of(k)
        return plan.block_id(j)

    def input_voxels(self, blocks) -> int:
        """Model input voxels of the given blocks (reads + reflect padding)."""
        total = 0
        for k in blocks:
            shape = self.plan_of(k)[0].input_shape
            total += shape[0] * shape[1] * shape[2]
        return total

    def params(self) -> dict:
        if len(self.views) == 1:
            return self.views[0].params()
        return {"shape": list(self.shape), "views": [v.params() for v in self.views]}


def make_tiling(shape: Sequence[int], block: int | Sequence[int], overlap: int | None, max_edge: int | None = None, *,
                align: int = ALIGN, sections: Sequence[str] = (), slab: int | None = None,
                default_overlap: int | None = None) -> Tiling:
    """One view for a 3D model (`sections` empty); one per direction for a 2D section model."""
    if not sections:
        return Tiling((make_plan(shape, block, overlap, max_edge, align=align, default_overlap=default_overlap),))
    bad = [s for s in sections if s not in SECTION_AXES]
    if bad or len(set(sections)) != len(sections):
        raise HpcfaultError(f"section directions must be inline and/or xline, each once (got {list(sections)}); "
                            "e.g. --axes-2d inline,xline")
    return Tiling(tuple(make_plan(shape, block, overlap, max_edge, align=align, section_axis=SECTION_AXES[s],
                                  slab=slab, default_overlap=default_overlap) for s in sections))


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
