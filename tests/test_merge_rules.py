"""Merge rules and the affine alignment as pure functions on tiny arrays (no MPI, no files)."""
from __future__ import annotations

import numpy as np
import pytest

from hpcfault.infer.align import pair_stats, solve
from hpcfault.infer.merge_rules import Angle, Mean, Owner, accumulator
from hpcfault.infer.taper import axis_weights


def _halves(n: int, overlap: int):
    """Two 1-D windows over [0, n) overlapping by `overlap`, with their normalized taper weights."""
    a, b = (0, (n + overlap) // 2), ((n - overlap) // 2, n)
    wa = axis_weights(a[1] - a[0], 0, overlap)
    wb = axis_weights(b[1] - b[0], overlap, 0)
    total = np.zeros(n)
    total[a[0]:a[1]] += wa
    total[b[0]:b[1]] += wb
    return [(a, (wa / total[a[0]:a[1]]).astype(np.float32)), (b, (wb / total[b[0]:b[1]]).astype(np.float32))]


def _blend(rule, values, n=24, overlap=8, **kw):
    """Blend per-window 1-D values (placed along the xline axis of a (1, 1, n) tile)."""
    acc = accumulator(rule, (1, 1, n), **kw)
    for ((lo, hi), w), v in zip(_halves(n, overlap), values):
        pred = np.asarray(v, np.float32).reshape(1, 1, hi - lo).copy()
        acc.add((slice(None), slice(None), slice(lo, hi)), pred, np.ones(1, np.float32), w[None, :])
    return acc.finish()[0, 0]


def test_mean_is_a_partition_of_unity_blend():
    got = _blend("mean", [np.full(16, 0.25), np.full(16, 0.75)])
    assert got[:8].tolist() == [0.25] * 8 and got[-8:].tolist() == [0.75] * 8
    assert np.all(np.diff(got) >= 0) and 0.25 < got[12] < 0.75
    same = _blend("mean", [np.full(16, 0.4), np.full(16, 0.4)])
    assert np.allclose(same, 0.4, atol=1e-7)


@pytest.mark.parametrize("period,value", [(180.0, 0.5), (180.0, 179.5), (360.0, 359.0), (180.0, 90.0)])
def test_a_constant_angle_stays_constant_across_the_wrap(period, value):
    """Near the wrap, one block says 0.5 and the other 179.5 + 1 = 180.5 -> 0.5: the mean of degrees
    would give 90 in the overlap; the doubled-angle vectors give the value itself."""
    acc = Angle((1, 1, 24), period)
    for k, ((lo, hi), w) in enumerate(_halves(24, 8)):
        v = np.full((1, 1, hi - lo), value if k == 0 else (value + period) % period, np.float32)
        if k == 1 and value < 1:
            v[:] = value + period       # the same direction written past the wrap
        acc.add((slice(None), slice(None), slice(lo, hi)), v, np.ones(1, np.float32), w[None, :])
    got = acc.finish()[0, 0]
    d = np.abs(got - value)
    assert np.minimum(d, period - d).max() < 1e-4
    assert got.min() >= 0 and got.max() < period


def test_angle_blend_follows_confidence():
    acc = Angle((1, 1, 4), 180.0)
    full = (slice(None), slice(None), slice(0, 4))
    ones = np.ones((1, 4), np.float32) * 0.5
    acc.add(full, np.full((1, 1, 4), 10.0, np.float32), np.ones(1, np.float32), ones, confidence=np.full((1, 1, 4), 0.9))
    acc.add(full, np.full((1, 1, 4), 170.0, np.float32), np.ones(1, np.float32), ones, confidence=np.full((1, 1, 4), 0.0))
    assert np.allclose(acc.finish(), 10.0, atol=1e-4)
    empty = Angle((1, 1, 2), 180.0)
    assert empty.finish().tolist() == [[[0.0, 0.0]]]      # no weight anywhere: 0, not NaN


def test_owner_takes_the_write_region():
    acc = Owner((1, 1, 6))
    acc.add(None, np.arange(6, dtype=np.float32).reshape(1, 1, 6), None, None,
            owned=((slice(None), slice(None), slice(0, 3)), (slice(None), slice(None), slice(0, 3))))
    acc.add(None, -np.arange(6, dtype=np.float32).reshape(1, 1, 6), None, None,
            owned=((slice(None), slice(None), slice(3, 6)), (slice(None), slice(None), slice(3, 6))))
    assert acc.finish()[0, 0].tolist() == [0, 1, 2, -3, -4, -5]


def test_mean_matches_the_former_fault_merge_bit_for_bit():
    rng = np.random.default_rng(0)
    pred = rng.random((4, 5, 6), dtype=np.float32)
    wt, wi, wx = (rng.random(n).astype(np.float32) for n in (4, 5, 6))
    want = np.zeros((4, 5, 6), np.float32)
    p = pred.copy()
    p *= (wi[:, None] * wx[None, :])[None]
    p *= wt[:, None, None]
    want += p
    acc = Mean((4, 5, 6))
    acc.add((slice(None),) * 3, pred.copy(), wt, wi[:, None] * wx[None, :])
    assert np.array_equal(acc.finish(), want)


def test_affine_alignment_recovers_a_field_from_distorted_blocks():
    """Blocks of a smooth increasing field, each with its own scale and offset, come back as the
    field up to one global affine map; the overlaps agree."""
    rng = np.random.default_rng(3)
    field = np.cumsum(rng.uniform(0.5, 1.5, 200))
    field = (field - field.min()) / (field.max() - field.min())
    windows = [(0, 60), (40, 110), (90, 160), (140, 200), (20, 180)]
    s_true, o_true = rng.uniform(0.3, 3.0, len(windows)), rng.uniform(-5, 5, len(windows))
    blocks = [s * field[a:b] + o for s, o, (a, b) in zip(s_true, o_true, windows)]
    pairs = []
    for i in range(len(windows)):
        for j in range(i + 1, len(windows)):
            lo, hi = max(windows[i][0], windows[j][0]), min(windows[i][1], windows[j][1])
            if hi > lo:
                pairs.append((i, j, pair_stats(blocks[i][lo - windows[i][0]:hi - windows[i][0]],
                                               blocks[j][lo - windows[j][0]:hi - windows[j][0]])))
    s, o = solve(len(windows), pairs, [(b.min(), b.max()) for b in blocks])
    aligned = [sk * b + ok for sk, ok, b in zip(s, o, blocks)]
    assert min(a.min() for a in aligned) == pytest.approx(0.0, abs=1e-9)
    assert max(a.max() for a in aligned) == pytest.approx(1.0, abs=1e-9)
    for a, (lo, hi) in zip(aligned, windows):
        assert np.abs(a - field[lo:hi]).max() <= 1e-3      # here the global map is the identity
    single = solve(1, [], [(2.0, 5.0)])
    assert np.allclose(single[0] * 2.0 + single[1], 0) and np.allclose(single[0] * 5.0 + single[1], 1)
