"""The block plan and the taper weights: pure functions of integers, no MPI, files or torch."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from hpcfault.errors import HpcfaultError
from hpcfault.geometry import Roi
from hpcfault.infer.plan import auto_overlap, make_plan, merge_tiles, share, tile_axis
from hpcfault.infer.taper import axis_weights, block_weights, ramp


def test_axis_windows_stride_on_grid_and_last_shifted():
    a = tile_axis(100, 32, 8)
    assert a.edge == 32 and a.stride == 16 and a.padded == 112   # 32 - 8 = 24 rounded down to the 16-grid
    # every window starts on the 16-grid of the padded survey; the last ends at 112 and reads to 100
    assert a.windows == ((0, 32), (16, 48), (32, 64), (48, 80), (64, 96), (80, 100))
    assert all(s % 16 == 0 and 0 <= s and b <= 100 for s, b in a.windows)  # reads stay inside
    assert a.pad == 12
    assert a.writes[0][0] == 0 and a.writes[-1][1] == 100
    assert all(w1[1] == w2[0] for w1, w2 in zip(a.writes, a.writes[1:]))   # a partition
    assert all(s <= ws and we <= b for (s, b), (ws, we) in zip(a.windows, a.writes))
    assert a.ramps[0] == (0, 16) and a.ramps[-1] == (96 - 80, 0)
    assert a.overlap_text == "16" and tile_axis(128, 64, 8).overlap_text == "16-48"
    assert tile_axis(20, 32, 4).overlap_text == "-"


def test_block_frames_place_blocks_on_the_padded_survey_grid():
    plan = make_plan((100, 40, 64), 32, 8)
    for k in range(len(plan)):
        offset, block, survey = plan.frame(k)
        assert block == (32, 32, 32) and survey == (112, 48, 64)
        assert offset == plan.block(k).read.offset and all(o % 16 == 0 for o in offset)
    assert plan.params()["tiling"] == "survey-grid-v2"


def test_axis_exact_multiple_and_no_overlap():
    a = tile_axis(64, 32, 0)
    assert a.windows == ((0, 32), (32, 64)) and a.ramps == ((0, 0), (0, 0))


@pytest.mark.parametrize("size, edge, want_edge, pad", [(20, 32, 32, 12), (1, 32, 16, 15), (16, 64, 16, 0),
                                                       (47, 64, 48, 1), (32, 32, 32, 0)])
def test_axis_smaller_than_block_reads_all_and_pads(size, edge, want_edge, pad):
    a = tile_axis(size, edge, 4)
    assert a.windows == ((0, size),) and a.writes == ((0, size),)
    assert a.edge == want_edge and a.edge % 16 == 0 and a.pad == pad


@pytest.mark.parametrize("size", [17, 33, 48, 63, 100, 129, 1000])
@pytest.mark.parametrize("edge, overlap", [(16, 0), (32, 8), (48, 16), (64, 31)])
def test_axis_covers_everything(size, edge, overlap):
    a = tile_axis(size, edge, overlap)
    cover = np.zeros(size, int)
    for s, b in a.windows:
        cover[s:b] += 1
    assert cover.min() >= 1
    owned = np.zeros(size, int)
    for s, b in a.writes:
        owned[s:b] += 1
    assert (owned == 1).all()
    if len(a.windows) > 1:
        assert all(b - s == a.edge for s, b in a.windows[:-1])
        assert a.windows[-1][0] + a.edge == a.padded and a.pad == a.padded - size
        assert min(a.windows[k][1] - a.windows[k + 1][0] for k in range(len(a.windows) - 1)) >= overlap


def test_plan_blocks_ids_deterministic_and_partition():
    plan = make_plan((48, 64, 40), 32, 8)
    assert plan.grid == (2, 3, 2) and len(plan) == 12 and plan.input_shape == (32, 32, 32)
    ids = [b.id for b in plan.blocks()]
    assert ids == [b.id for b in make_plan((48, 64, 40), 32, 8).blocks()]
    assert len(set(ids)) == len(ids) and ids[0] == "b0+24_0+24_0+24"
    owned = np.zeros(plan.shape, int)
    for b in plan.blocks():
        assert b.read.contains(b.write)
        assert all(o >= 0 and e <= n for o, e, n in zip(b.read.offset, b.read.end, plan.shape))
        owned[b.write.slices] += 1
    assert (owned == 1).all()


def test_default_overlap_follows_the_edge():
    assert [auto_overlap(e) for e in (16, 32, 64, 128, 256, 528)] == [7, 8, 8, 16, 32, 66]
    assert make_plan((300, 300, 300), 128, None).overlap == 16


def test_plan_caps_and_padding():
    assert make_plan((100, 100, 100), 528, 32).edge == 112            # capped by the survey
    assert make_plan((1000, 1000, 1000), 528, 32, max_edge=200).edge == 192  # by the memory planner
    p = make_plan((10, 1, 70), 64, 8)                               # one inline thick
    assert p.input_shape == (16, 16, 64) and p.pad == (6, 15, 10) and p.grid == (1, 1, 2)


def test_a_column_of_whole_traces_cuts_no_trace():
    """A block of (time, inline, xline) edges: one window along a time axis it spans, the lateral
    axes tiled as for a cube of the lateral edge; the plan's fingerprint names the three edges
    (a cube's stays the one edge it always was)."""
    col = make_plan((100, 200, 120), (112, 64, 64), 16)
    cube = make_plan((100, 200, 120), 64, 16)
    assert col.grid[0] == 1 and col.input_shape == (112, 64, 64) and col.edges == (112, 64, 64)
    assert col.axes[1] == cube.axes[1] and col.axes[2] == cube.axes[2]
    assert col.params()["block"] == [112, 64, 64] and cube.params()["block"] == 64
    assert col.block_text == "112x64x64" and cube.block_text == "64"
    owned = np.zeros(col.shape, int)
    for b in col.blocks():
        assert b.read.shape[0] == 100
        owned[b.write.slices] += 1
    assert (owned == 1).all()
    assert make_plan((100, 200, 120), (112, 64, 64), None).overlap == auto_overlap(64)   # of the smallest edge
    assert make_plan((1000, 1000, 1000), (512, 128, 128), 32, max_edge=256).edges == (256, 128, 128)  # memory
    assert make_plan((64, 64, 64), (64, 64, 64), 8).params()["block"] == 64        # three equal edges: a cube
    with pytest.raises(HpcfaultError, match="less than half the block edge"):
        make_plan((100, 200, 120), (112, 32, 32), 16)
    with pytest.raises(HpcfaultError, match="one edge or three"):
        make_plan((100, 200, 120), (112, 64), 16)


@pytest.mark.parametrize("block, overlap", [(30, 4), (0, 0), (32, 16), (32, -1), ((64, 30, 64), 4)])
def test_plan_rejects_bad_values(block, overlap):
    with pytest.raises(HpcfaultError, match="block edge|overlap"):
        make_plan((64, 64, 64), block, overlap)


def test_touching_finds_exactly_the_intersecting_blocks():
    plan = make_plan((50, 70, 90), 32, 8)
    for roi in (Roi((0, 0, 0), (10, 10, 10)), Roi((20, 30, 40), (17, 5, 33)), Roi((0, 0, 0), plan.shape)):
        want = [k for k in range(len(plan)) if plan.block(k).read.intersect(roi).size > 0]
        assert plan.touching(roi) == want


def test_taper_is_a_partition_of_unity_over_an_overlap():
    r = ramp(16)
    assert r.min() > 0 and r.max() < 1 and (np.diff(r) > 0).all()
    np.testing.assert_allclose(r + r[::-1], 1.0, atol=1e-15)
    w = axis_weights(32, 0, 16)
    assert (w[:16] == 1).all() and w[-1] < 0.01
    wt, wi, wx = block_weights((32, 20, 32), ((8, 8), (0, 0), (0, 16)))
    assert wt.shape == (32,) and (wi == 1).all() and wx[0] == 1


def test_blend_weights_cover_the_survey():
    plan = make_plan((40, 70, 33), 32, 8)
    total = np.zeros(plan.shape)
    for k in range(len(plan)):
        b = plan.block(k)
        wt, wi, wx = block_weights(b.read.shape, plan.ramps(k))
        total[b.read.slices] += wt[:, None, None] * wi[None, :, None] * wx[None, None, :]
    assert total.min() > 0.1   # every voxel gets weight; the merge divides by the sum


def test_merge_tiles_and_share():
    tiles = merge_tiles((50, 20, 130), 64)
    assert len(tiles) == 1 * 1 * 3
    vol = np.zeros((50, 20, 130), int)
    for t in tiles:
        vol[t.slices] += 1
    assert (vol == 1).all()
    for n, ranks in itertools.product((0, 1, 7, 100), (1, 2, 3)):
        got = [list(share(n, ranks, r)) for r in range(ranks)]
        assert sum(got, []) == list(range(n))
