"""Stage 4: blend the blocks' predictions into one seamless volume, in parallel by output tiles.

The survey is cut into tiles (plan.merge_tiles); rank r blends a contiguous share of them. For a
tile, every block whose read region meets it contributes w * p, where w is its taper weight
(taper.py), and the tile is sum(w * p) / sum(w). Weights are products of per-axis weights over a
grid of blocks, so sum(w) is the product of per-axis sums and each axis is normalized once; the
blend is then one float32 weighted sum, taken over the blocks in ascending block number, so the
result depends only on the block predictions - not on the number of ranks nor on which rank
computed which block - and reruns are bit-identical. Dead traces
(geometry.live False) are set to 0. Each rank writes its tiles as .npy files (atomic) into the
work dir; rank 0 then assembles them into the output volume file (atomic: the output appears only
when complete), one tile in memory at a time, and `verify_output` reads the file back against the
tiles' checksums before the work dir may be removed.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from hpcfault.geometry import Roi
from hpcfault.infer.ledger import Entry
from hpcfault.infer.plan import Plan
from hpcfault.errors import HpcfaultError
from hpcfault.infer.shards import ShardReader, crc32
from hpcfault.infer.taper import axis_weights
from hpcfault.io.atomic import atomic_path


@functools.lru_cache(maxsize=4)
def _normalized_weights(plan: Plan) -> tuple[tuple[np.ndarray, ...], ...]:
    """Per axis and window, the taper weights divided by the sum of all windows' weights there.

    The blocks are the Cartesian product of the axis windows and a block's weight is the product
    of its axis weights, so the sum over blocks of the weights is the product of the per-axis sums:
    normalizing each axis once makes the blend a plain weighted sum (no 3D weight sums)."""
    out = []
    for axis in plan.axes:
        raw = [axis_weights(b - a, *ramp) for (a, b), ramp in zip(axis.windows, axis.ramps)]
        total = np.zeros(axis.size, np.float64)
        for (a, b), w in zip(axis.windows, raw):
            total[a:b] += w
        out.append(tuple((w / total[a:b]).astype(np.float32) for (a, b), w in zip(axis.windows, raw)))
    return tuple(out)


def blend_tile(plan: Plan, tile: Roi, done: Mapping[int, Entry], reader: ShardReader,
               live: np.ndarray | None = None) -> np.ndarray:
    """The merged float32 probabilities of one output tile."""
    weights = _normalized_weights(plan)
    acc = np.zeros(tile.shape, np.float32)
    for k in plan.touching(tile):
        block = plan.block(k)
        inter = block.read.intersect(tile)
        src = inter.relative_to(block.read).slices
        dst = inter.relative_to(tile).slices
        wt, wi, wx = (weights[axis][j][sl] for axis, (j, sl) in enumerate(zip(plan.index(k), src)))
        pred = np.asarray(reader.read(done[k].shard, block.id, src), dtype=np.float32)
        pred *= (wi[:, None] * wx[None, :])[None]
        pred *= wt[:, None, None]
        acc[dst] += pred
    np.clip(acc, 0.0, 1.0, out=acc)   # the weights sum to 1 up to rounding
    if live is not None:
        lv = np.asarray(live[tile.slices[1], tile.slices[2]], bool)
        acc *= lv[None, :, :]
    return acc


def tile_path(workdir: Path, n: int) -> Path:
    return workdir / "merge" / f"t{n:06d}.npy"


def merge_share(plan: Plan, tiles: list[Roi], mine: range, done: Mapping[int, Entry], workdir: Path,
                live: np.ndarray | None, progress: Any = None) -> None:
    """Blend tiles[mine] and store each as workdir/merge/tNNNNNN.npy."""
    (workdir / "merge").mkdir(parents=True, exist_ok=True)
    with ShardReader(workdir / "shards") as reader:
        for n in mine:
            out = blend_tile(plan, tiles[n], done, reader, live)
            with atomic_path(tile_path(workdir, n), durable=False) as tmp:   # scratch: a rerun merges again
                with open(tmp, "wb") as f:
                    np.save(f, out)
            if progress is not None:
                progress(1)


def assemble(out_path: Path, plan: Plan, tiles: list[Roi], workdir: Path, geometry: Any, out_dtype: str,
             attrs: Mapping[str, Any]) -> list[int]:
    """Rank 0: write the tiles into the output volume file (atomic), then delete them. Returns the
    CRC32 of each tile as written (for `verify_output`)."""
    from hpcfault.io.volume import create_volume

    chunks = tuple(min(n, 64) for n in plan.shape)
    crcs = []
    with create_volume(out_path, plan.shape, out_dtype, geometry=geometry, chunks=chunks,
                       attrs={k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in attrs.items()}) as f:
        ds = f["data"]
        for n, tile in enumerate(tiles):
            values = np.load(tile_path(workdir, n)).astype(out_dtype, copy=False)
            ds[tile.slices] = values
            crcs.append(crc32(values))
    for n in range(len(tiles)):
        tile_path(workdir, n).unlink(missing_ok=True)
    return crcs


def verify_output(out_path: Path, tiles: list[Roi], crcs: list[int]) -> None:
    """Read the output volume file back tile by tile; every tile must match the CRC it was written with."""
    from hpcfault.io.volume import check_volume, open_volume

    with open_volume(out_path) as f:
        ds = check_volume(f, out_path, "data")
        for n, (tile, crc) in enumerate(zip(tiles, crcs)):
            if crc32(ds[tile.slices]) != crc:
                raise HpcfaultError(f"{out_path} does not read back as it was merged (got another checksum in "
                                    f"tile {n} at {tile.offset}); the work dir is kept: rerun the same command")
