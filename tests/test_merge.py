"""The merge: taper-weighted blend of block predictions, by tiles, independent of who wrote what."""
from __future__ import annotations

import h5py
import numpy as np

from hpcfault.geometry import Roi
from hpcfault.infer.ledger import Entry
from hpcfault.infer.merge import assemble, blend_tile, merge_share
from hpcfault.infer.plan import Tiling, make_plan, merge_tiles
from hpcfault.infer.shards import ShardReader, ShardWriter
from hpcfault.io.volume import SurveyGeometry
from hpcfault.tasks import task_spec

FAULT = task_spec("fault")


def _shards(work, plan, field, ranks, noise=0.0):
    """Write each block's crop of `field` (plus per-block noise) to the shard of rank k % ranks."""
    rng = np.random.default_rng(0)
    done = {}
    writers = [ShardWriter(work / "shards" / f"a001-r{r:04d}.h5") for r in range(ranks)]
    for k in range(len(plan)):
        b = plan.block(k)
        pred = field[b.read.slices] + noise * rng.standard_normal(b.read.shape).astype(np.float32)
        r = (k * 7) % ranks
        crc = writers[r].write(b.id, pred[None])          # (K = 1, T, I, X): the fault task's one output
        done[k] = Entry(b.id, k, f"a001-r{r:04d}.h5", crc, r, "a001")
    for w in writers:
        w.close()
    return done


def test_blend_reproduces_a_field_every_block_agrees_on(tmp_path):
    shape = (40, 70, 33)
    plan = make_plan(shape, 32, 8)
    field = np.random.default_rng(1).random(shape, dtype=np.float32)
    done = _shards(tmp_path, plan, field, ranks=3)
    with ShardReader(tmp_path / "shards") as r:
        for tile in merge_tiles(shape, 16):
            got = blend_tile(Tiling((plan,)), tile, done, r, FAULT)
            assert got.shape == (1, *tile.shape)
            np.testing.assert_allclose(got[0], field[tile.slices], rtol=0, atol=5e-7)   # float32 weighted sum


def test_blend_is_bit_identical_whatever_rank_wrote_each_block(tmp_path):
    shape = (48, 40, 40)
    plan = make_plan(shape, 32, 8)
    field = np.random.default_rng(2).random(shape, dtype=np.float32)
    outs = []
    for ranks in (1, 2, 3):
        work = tmp_path / f"r{ranks}"
        done = _shards(work, plan, field, ranks, noise=0.05)   # blocks disagree in their overlaps
        with ShardReader(work / "shards") as r:
            outs.append(blend_tile(Tiling((plan,)), Roi((0, 0, 0), shape), done, r, FAULT))
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2])


def test_tiles_to_volume_with_dead_traces(tmp_path):
    shape = (20, 30, 25)
    plan = make_plan(shape, 16, 4)
    field = np.full(shape, 0.75, np.float32)
    done = _shards(tmp_path, plan, field, ranks=2, noise=0.0)
    live = np.ones(shape[1:], bool)
    live[3, :] = False
    live[:, 7] = False
    tiles = merge_tiles(shape, 16)
    tiling = Tiling((plan,))
    merge_share(tiling, tiles, range(0, 3), done, tmp_path, live, FAULT)     # "rank 0"
    merge_share(tiling, tiles, range(3, len(tiles)), done, tmp_path, live, FAULT)  # "rank 1"
    geom = SurveyGeometry.regular(shape)
    out = tmp_path / "out.h5"
    assemble(out, shape, tiles, tmp_path, geom, "float16", {"stats": {"min": 0.0}}, FAULT)
    with h5py.File(out, "r") as f:
        data = f["data"][...]
        assert f["data"].dtype == np.float16 and f.attrs["axes"] == "time,inline,xline"
        assert '"min"' in f.attrs["stats"]
    assert (data[:, 3, :] == 0).all() and (data[:, :, 7] == 0).all()
    expect = np.where(live[None], np.float16(0.75), np.float16(0))
    np.testing.assert_array_equal(data, np.broadcast_to(expect, shape))
    assert not list((tmp_path / "merge").iterdir())   # tiles removed once assembled
