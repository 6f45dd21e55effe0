"""Stage 4: blend the blocks' outputs into seamless volumes, in parallel by output tiles.

The survey is cut into tiles (plan.merge_tiles); rank r blends a contiguous share of them. For a
tile and each of the task's outputs, every block whose read region meets the tile contributes
with its taper weight w (taper.py) through the output's merge rule (merge_rules.py: mean,
per-block affine, doubled-angle vectors weighed by a confidence output, or the owner's value).
Weights are products of per-axis weights over a grid of blocks, so the sum of the weights is the
product of per-axis sums and each axis is normalized once; the views of a 2D section model (inline,
crossline) are averaged with equal weights. Blocks are taken in ascending block number, so the
result depends only on the block outputs - not on the number of ranks nor on which rank computed
which block - and reruns are bit-identical. Probabilities are clipped to [0, 1]; dead traces
(geometry.live False) are set to 0. Each rank writes its tiles as .npy files (atomic, (K, ...)
arrays) into the work dir; rank 0 then assembles them into the output volume file, one dataset
per output (atomic: the output appears only when complete), one tile in memory at a time, and
`verify_output` reads the file back against the tiles' checksums before the work dir may be removed.
An output that rises in time (`Output.rises_in_time`, RGT) keeps, down every trace, the running
maximum of its blended values: each block's values rise down its traces, but the taper that blends
two blocks along time can dip where their aligned levels differ. Tiles come in C order (time
outermost), so rank 0 carries the last time slice of each trace from one tile to the next (one
float32 per trace of the survey).
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from hpcfault.geometry import Roi
from hpcfault.infer.ledger import Entry
from hpcfault.infer.merge_rules import accumulator
from hpcfault.infer.plan import Plan, Tiling
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


def blend_tile(tiling: Tiling, tile: Roi, done: Mapping[int, Entry], reader: ShardReader, task: Any,
               live: np.ndarray | None = None,
               affine: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None) -> np.ndarray:
    """The merged float32 outputs (K, *tile.shape) of one output tile.

    `affine` maps an output merged with the affine rule to its per-block (scales, offsets)."""
    outputs = task.outputs
    index = {o.name: n for n, o in enumerate(outputs)}
    accs = [accumulator(o.merge, tile.shape, o.period) for o in outputs]
    share = np.float32(1.0 / len(tiling.views))
    for v, plan in enumerate(tiling.views):
        weights = _normalized_weights(plan)
        first = tiling.first(v)
        for j in plan.touching(tile):
            k = first + j
            block = plan.block(j)
            inter = block.read.intersect(tile)
            src = inter.relative_to(block.read).slices
            dst = inter.relative_to(tile).slices
            wt, wi, wx = (weights[axis][i][sl] for axis, (i, sl) in enumerate(zip(plan.index(j), src)))
            if len(tiling.views) > 1:
                wt = wt * share
            w_lat = wi[:, None] * wx[None, :]
            preds = np.asarray(reader.read(done[k].shard, plan.block_id(j), src), dtype=np.float32)
            for n, (o, acc) in enumerate(zip(outputs, accs)):
                extra: dict[str, Any] = {}
                if o.confidence is not None:
                    extra["confidence"] = preds[index[o.confidence]]
                if affine is not None and o.name in affine:
                    extra["scale"], extra["offset"] = (float(a[k]) for a in affine[o.name])
                if o.merge == "owner" and v == 0:          # the first view's write regions partition the survey
                    owned = block.write.intersect(tile)    # inside inter: a block writes within what it reads
                    extra["owned"] = (owned.relative_to(tile).slices, owned.relative_to(inter).slices)
                acc.add(dst, preds[n] if len(outputs) == 1 else preds[n].copy(), wt, w_lat, **extra)
    out = np.empty((len(outputs), *tile.shape), np.float32)
    for n, (o, acc) in enumerate(zip(outputs, accs)):
        merged = acc.finish(*(o.range if o.kind == "probability" else (None, None)))
        if live is not None:
            lv = np.asarray(live[tile.slices[1], tile.slices[2]], bool)
            merged *= lv[None, :, :]
        out[n] = merged
    return out


def tile_path(workdir: Path, n: int) -> Path:
    return workdir / "merge" / f"t{n:06d}.npy"


def merge_share(tiling: Tiling, tiles: list[Roi], mine: range, done: Mapping[int, Entry], workdir: Path,
                live: np.ndarray | None, task: Any, affine: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
                progress: Any = None) -> None:
    """Blend tiles[mine] and store each as workdir/merge/tNNNNNN.npy ((K, ...) float32)."""
    (workdir / "merge").mkdir(parents=True, exist_ok=True)
    with ShardReader(workdir / "shards") as reader:
        for n in mine:
            out = blend_tile(tiling, tiles[n], done, reader, task, live, affine)
            with atomic_path(tile_path(workdir, n), durable=False) as tmp:   # scratch: a rerun merges again
                with open(tmp, "wb") as f:
                    np.save(f, out)
            if progress is not None:
                progress(1)


def assemble(out_path: Path, shape: tuple[int, int, int], tiles: list[Roi], workdir: Path, geometry: Any,
             out_dtype: str, attrs: Mapping[str, Any], task: Any) -> list[int]:
    """Rank 0: write the tiles into the output volume file (atomic), one dataset per task output
    (with its kind, unit, range and merge rule as attributes), then delete them. Returns the CRC32
    of each tile's (K, ...) values as written (for `verify_output`)."""
    from hpcfault.io.volume import create_volume

    names = task.output_names
    chunks = tuple(min(n, 64) for n in shape)
    crcs = []
    rising = {k: np.full(shape[1:], -np.inf, np.float32) for k, o in enumerate(task.outputs) if o.rises_in_time}
    attrs = {**attrs, "task": task.name, "outputs": list(names)}
    with create_volume(out_path, shape, out_dtype, geometry=geometry, chunks=chunks, name=names[0],
                       extra={n: out_dtype for n in names[1:]},
                       attrs={k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in attrs.items()}) as f:
        for o in task.outputs:
            for key, value in o.describe().items():
                f[o.name].attrs[key] = json.dumps(value) if isinstance(value, (list, dict)) or value is None else value
        for n, tile in enumerate(tiles):
            values = np.load(tile_path(workdir, n))
            for k, top in rising.items():
                values[k] = running_max_down(values[k], top[tile.slices[1:]])
                top[tile.slices[1:]] = values[k][-1]
            values = values.astype(out_dtype, copy=False)
            for ds, v in zip(names, values):
                f[ds][tile.slices] = v
            crcs.append(crc32(values))
    for n in range(len(tiles)):
        tile_path(workdir, n).unlink(missing_ok=True)
    return crcs


def running_max_down(values: np.ndarray, above: np.ndarray) -> np.ndarray:
    """The running maximum along time (axis 0) of `values`, starting from `above` (the value of each
    trace just above the tile; -inf at the top of the survey)."""
    return np.maximum.accumulate(np.concatenate([above[None], values]), axis=0)[1:]


def verify_output(out_path: Path, tiles: list[Roi], crcs: list[int], names: tuple[str, ...] = ("data",)) -> None:
    """Read the output volume file back tile by tile; every tile must match the CRC it was written with."""
    from hpcfault.io.volume import check_volume, open_volume

    with open_volume(out_path) as f:
        dsets = [check_volume(f, out_path, n) for n in names]
        for n, (tile, crc) in enumerate(zip(tiles, crcs)):
            if crc32(np.stack([ds[tile.slices] for ds in dsets])) != crc:
                raise HpcfaultError(f"{out_path} does not read back as it was merged (got another checksum in "
                                    f"tile {n} at {tile.offset}); the work dir is kept: rerun the same command")
