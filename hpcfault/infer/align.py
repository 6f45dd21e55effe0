"""Per-block affine alignment for outputs whose offset and scale are arbitrary per block (RGT).

A model that infers relative geologic time sees only its block, so each block's values are right
up to its own scale s_k and offset o_k. Before blending, one affine map per block is fitted so that
overlapping blocks agree in the least-squares sense:

    minimize  sum over overlapping pairs (a, b), over their shared voxels v:
              (s_a x_a(v) + o_a - s_b x_b(v) - o_b)**2

The sums need only six numbers per pair (n, sum x_a, sum x_b, sum x_a^2, sum x_b^2, sum x_a x_b),
which the ranks compute for their share of the pairs; rank 0 solves the small sparse normal
equations with block 0 as the anchor (s_0 = 1, o_0 = 0) and a vanishing pull of every block towards
(1, 0), so an isolated block keeps its values. Finally one global affine map takes the aligned
blocks' overall range to [0, 1]. Pure numpy/scipy; no MPI or files here.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

RIDGE = 1e-9    # relative pull of each (s, o) towards (1, 0)


def pair_stats(xa: np.ndarray, xb: np.ndarray) -> np.ndarray:
    """(n, sum a, sum b, sum a^2, sum b^2, sum ab) of two equally shaped arrays, float64. Plain
    (pairwise) sums, not BLAS dot products, whose threads would make the result depend on the
    process's thread count."""
    a = np.asarray(xa, np.float64).ravel()
    b = np.asarray(xb, np.float64).ravel()
    return np.array([a.size, a.sum(), b.sum(), (a * a).sum(), (b * b).sum(), (a * b).sum()], np.float64)


def solve(n_blocks: int, pairs: Iterable[tuple[int, int, Sequence[float]]],
          ranges: Sequence[tuple[float, float]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(scales, offsets) of every block from the overlap statistics `pairs` = (a, b, pair_stats).

    With `ranges` (each block's (min, max) of its raw values) the result is normalized so that the
    aligned values span [0, 1] overall."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    rows, cols, vals = [], [], []
    total = 0.0

    def put(i: int, j: int, v: float) -> None:
        rows.append(i)
        cols.append(j)
        vals.append(v)

    for a, b, st in pairs:
        n, sa, sb, saa, sbb, sab = (float(v) for v in st)
        if n == 0 or a == b:
            continue
        total += n
        # E = sum (s_a x_a + o_a - s_b x_b - o_b)^2; unknowns z = (s_0, o_0, s_1, o_1, ...)
        sA, oA, sB, oB = 2 * a, 2 * a + 1, 2 * b, 2 * b + 1
        terms = {(sA, sA): saa, (oA, oA): n, (sB, sB): sbb, (oB, oB): n,
                 (sA, oA): sa, (sA, sB): -sab, (sA, oB): -sa, (oA, sB): -sb, (oA, oB): -n, (sB, oB): sb}
        for (i, j), v in terms.items():
            put(i, j, v)
            if i != j:
                put(j, i, v)
    m = 2 * n_blocks
    ridge = RIDGE * max(total, 1.0)
    for i in range(m):
        put(i, i, ridge)
    h = coo_matrix((vals, (rows, cols)), shape=(m, m)).tocsr()
    rhs = np.zeros(m)
    rhs[0::2] = ridge                      # the pull towards s = 1
    # anchor: block 0 fixed at (1, 0): move its columns to the right-hand side, drop its rows
    fixed = np.zeros(m)
    fixed[0] = 1.0
    rhs = rhs - h @ fixed
    keep = np.arange(2, m)
    z = np.zeros(m)
    z[0] = 1.0
    if len(keep):
        sub = h[keep][:, keep]
        z[keep] = spsolve(sub.tocsc(), rhs[keep])
    scales, offsets = z[0::2].copy(), z[1::2].copy()
    if ranges is not None:
        lo = min(min(s * r0, s * r1) + o for s, o, (r0, r1) in zip(scales, offsets, ranges))
        hi = max(max(s * r0, s * r1) + o for s, o, (r0, r1) in zip(scales, offsets, ranges))
        span = hi - lo if hi > lo else 1.0
        scales, offsets = scales / span, (offsets - lo) / span
    return scales, offsets


def overlapping_pairs(tiling) -> list[tuple[int, int]]:
    """Every pair (a, b), a < b, of blocks of the tiling whose read regions share voxels (global
    block numbers; within a view and across views)."""
    pairs = set()
    for v, plan in enumerate(tiling.views):
        first = tiling.first(v)
        for j in range(len(plan)):
            region = plan.block(j).read
            for w, other in enumerate(tiling.views):
                base = tiling.first(w)
                for i in other.touching(region):
                    a, b = first + j, base + i
                    if a < b and other.block(i).read.intersect(region).size:
                        pairs.add((a, b))
    return sorted(pairs)


def block_statistics(tiling, pairs: Sequence[tuple[int, int]], blocks: Sequence[int], read, live=None):
    """This rank's share of the alignment statistics: pair_stats of each pair in `pairs` over its
    shared live voxels, and (min, max) of each block in `blocks` over its live voxels.

    `read(k, roi)` returns block k's values of the output over `roi` (survey coordinates)."""
    def live_mask(roi) -> np.ndarray | None:
        if live is None:
            return None
        t, i, x = roi.slices
        return np.broadcast_to(np.asarray(live[i, x], bool)[None], roi.shape)

    stats = []
    for a, b in pairs:
        roi = tiling.block(a).read.intersect(tiling.block(b).read)
        xa, xb = read(a, roi), read(b, roi)
        m = live_mask(roi)
        if m is not None:
            xa, xb = xa[m], xb[m]
        stats.append(pair_stats(xa, xb))
    ranges = []
    for k in blocks:
        roi = tiling.block(k).read
        x = read(k, roi)
        m = live_mask(roi)
        if m is not None:
            x = x[m]
        ranges.append((float(x.min()), float(x.max())) if x.size else (0.0, 1.0))
    return stats, ranges
