"""hpcfault.faults as pure functions on tiny arrays: orientation, thinning, linking, merging, sticks,
formats. No MPI, no files (except the format round trips in tmp_path)."""
from __future__ import annotations

import io

import numpy as np
import pytest

from hpcfault.data.faults import Fault
from hpcfault.errors import HpcfaultError
from hpcfault.faults import formats, link, orientation, sticks
from hpcfault.faults.merge import SlabLinks, merge_slabs
from hpcfault.faults.plan import FaultParams, plan_slabs
from hpcfault.faults.slab import key_coords, process_slab, voxel_key
from hpcfault.faults.thin import ridge_mask, smooth, voxel_area
from hpcfault.io.volume import SurveyGeometry


def plane_band(shape, dip, strike, center, width=1.5):
    """A fault-probability band (Gaussian across the plane) of a plane with this dip and grid strike."""
    n = orientation.normals_from_dip_strike(np.array([dip]), np.array([strike]))[0]
    t, i, x = np.meshgrid(*(np.arange(s, dtype=np.float64) for s in shape), indexing="ij")
    d = (t - center[0]) * n[0] + (i - center[1]) * n[1] + (x - center[2]) * n[2]
    return np.exp(-0.5 * (d / width) ** 2).astype(np.float32), d


def one_slab(prob, params=FaultParams()):
    return process_slab(prob, 0, (0, prob.shape[1]), prob.shape, params)


def links_of(res, plan, k):
    a = plan.ranges[k][0]
    nt, _, nx = plan.shape
    first = res.keys < (a + 1) * nx * nt
    return SlabLinks(comp=res.comp, border_label=res.border_label, border_key=res.border_key,
                     border_linked=res.border_linked, touch=res.touch, first_keys=res.keys[first],
                     first_labels=res.label[first])


def run_slabs(prob, params, core):
    """The driver's compute + merge on an in-memory volume, cut into slabs of `core` inlines."""
    plan = plan_slabs(prob.shape, params.halo, 1 << 40, max_core=core)
    results = []
    for k, (a, b) in enumerate(plan.ranges):
        lo, hi = plan.read_range(k)
        results.append(process_slab(prob[:, lo:hi], lo, (a, b), prob.shape, params))
    objects = merge_slabs([links_of(r, plan, k) for k, r in enumerate(results)], params.high, params.min_area,
                          params.join)
    ids = np.zeros(prob.shape, np.int32)
    for k, r in enumerate(results):
        fid = objects.luts[k][r.label]
        c = key_coords(r.keys, prob.shape)
        ids[tuple(c[fid > 0].T)] = fid[fid > 0]
    return ids, objects


# -- orientation ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dip", [30.0, 60.0, 85.0])
@pytest.mark.parametrize("strike", [0.0, 33.9, 90.0, 200.0, 315.0])
def test_dip_strike_round_trip_and_synthetic_convention(dip, strike):
    n = orientation.normals_from_dip_strike(np.array([dip]), np.array([strike]))
    d, s = orientation.dip_strike(n)
    assert d[0] == pytest.approx(dip, abs=1e-9)
    assert float(orientation.angle_difference(s[0], strike)) == pytest.approx(0.0, abs=1e-9)
    # the synthetic generator's normal of a fault with this dip and strike is the same plane
    _, _, n_synth = Fault(1, (0, 0, 0), strike, dip, 5.0, "normal", 50.0).vectors
    assert abs(float(n[0] @ n_synth)) == pytest.approx(1.0, abs=1e-12)


def test_north_strike_follows_the_trace_coordinates():
    shape = (4, 5, 6)
    ii, xx = np.meshgrid(np.arange(5), np.arange(6), indexing="ij")
    # hpcfault synth: inline number grows to the east, crossline number to the north
    geom = SurveyGeometry(inlines=np.arange(5), xlines=np.arange(6), samples=np.arange(4.0),
                          cdp_x=1000.0 + 25 * ii, cdp_y=2000.0 + 25 * xx)
    frame = orientation.MapFrame.from_geometry(geom)
    assert frame.inline_azimuth == pytest.approx(90.0) and frame.xline_azimuth == pytest.approx(0.0)
    # grid strike 0 runs east; the fault dips towards grid strike + 90 = north (increasing crossline),
    # so by the right-hand rule its north strike is west (270)
    assert frame.strike_north(np.array([0.0, 90.0]))[0] == pytest.approx(270.0)
    # grid strike 90 runs north and dips towards decreasing inline (west): north strike 180
    assert frame.strike_north(np.array([90.0]))[0] == pytest.approx(180.0)
    # a grid rotated 30 degrees clockwise with its inline axis north: strike 0 runs along azimuth 30,
    # and the fault dips to the east of it (the grid is right-handed), so north strike = 30
    az = np.radians(30.0)
    geom2 = SurveyGeometry(inlines=np.arange(5), xlines=np.arange(6), samples=np.arange(4.0),
                           cdp_x=np.sin(az) * 10 * ii + np.cos(az) * 10 * xx,
                           cdp_y=np.cos(az) * 10 * ii - np.sin(az) * 10 * xx)
    f2 = orientation.MapFrame.from_geometry(geom2)
    assert f2.inline_azimuth == pytest.approx(30.0) and f2.strike_north(np.array([0.0]))[0] == pytest.approx(30.0)
    assert orientation.MapFrame.from_geometry(SurveyGeometry.regular(shape)) is None
    flat = SurveyGeometry(inlines=np.arange(5), xlines=np.arange(6), samples=np.arange(4.0),
                          cdp_x=np.zeros((5, 6)), cdp_y=np.zeros((5, 6)))
    assert orientation.MapFrame.from_geometry(flat) is None


def test_structure_tensor_normal_of_a_plane():
    prob, _ = plane_band((40, 40, 40), 62.0, 130.0, (20, 20, 20))
    s = smooth(prob, 2.0)
    flat = np.flatnonzero(prob.ravel() > 0.9)
    normals, planar = orientation.normals_from_tensor(orientation.structure_tensor_at(s, 2.0, flat))
    d, st = orientation.dip_strike(normals)
    inner = np.all(np.abs(np.stack(np.unravel_index(flat, prob.shape), 1) - 20) < 12, axis=1)
    assert np.abs(d[inner] - 62.0).max() < 0.5
    assert np.abs(orientation.angle_difference(st[inner], 130.0)).max() < 0.5
    assert planar[inner].min() > 0.95


# -- thinning ------------------------------------------------------------------------------------------
def test_ridge_of_a_thick_band_is_one_voxel_thick():
    prob, dist = plane_band((30, 30, 30), 90.0, 0.0, (15, 15, 15.3), width=3.0)   # vertical plane x = 15.3
    s = smooth(prob, 1.0)
    coords = np.argwhere(prob > 0.3)
    normals = np.tile([0.0, 0.0, 1.0], (len(coords), 1))
    keep = ridge_mask(s, coords, normals)
    ridge = coords[keep]
    assert set(ridge[:, 2].tolist()) == {15}                   # one voxel thick, at the band's centre
    assert len(ridge) == 30 * 30
    assert voxel_area(np.array([[0, 0, 1.0], [np.sqrt(0.5), np.sqrt(0.5), 0]])) == pytest.approx([1.0, np.sqrt(2)])


# -- linking -------------------------------------------------------------------------------------------
def test_forward_steps_cover_every_neighbour_once():
    steps = set(link.FORWARD)
    assert len(steps) == 13 and (0, 0, 0) not in steps
    both = steps | {tuple(-v for v in s) for s in steps}
    assert len(both) == 26


def test_components_are_numbered_by_their_first_node():
    lab = link.components(6, np.array([4, 0]), np.array([5, 2]))
    assert lab.tolist() == [0, 1, 0, 2, 3, 3]


def test_compatible_refuses_disagreeing_normals_and_steps_across_a_plane():
    n = np.array([[1.0, 0, 0]])
    assert link.compatible(n, n, np.array([[0.0, 1, 1]]), np.cos(np.radians(15)))[0]
    assert not link.compatible(n, n, np.array([[1.0, 1, 0]]) * 2, np.cos(np.radians(15)))[0]
    tilted = orientation.normals_from_dip_strike(np.array([20.0]), np.array([0.0]))
    assert not link.compatible(n, tilted, np.array([[0.0, 1, 0]]), np.cos(np.radians(15)))[0]


def test_two_crossing_faults_give_two_objects():
    shape = (48, 48, 48)
    a, da = plane_band(shape, 70.0, 20.0, (24, 24, 24))
    b, db = plane_band(shape, 65.0, 250.0, (24, 24, 24))
    ids, objects = run_slabs(np.maximum(a, b), FaultParams(), core=48)
    assert len(objects.faults["count"]) == 2
    d, s = orientation.dip_strike(np.array([orientation.mean_normal(t) for t in objects.faults["tensor"]]))
    found = sorted(zip(s, d))
    assert found[0] == pytest.approx((20.0, 70.0), abs=2.0) and found[1] == pytest.approx((250.0, 65.0), abs=2.0)
    # each object lies on one of the planes, each plane is one object, and both reach the crossing line
    near_a, near_b = np.abs(da) <= 1.0, np.abs(db) <= 1.0
    on = {fid: (near_a[ids == fid].mean(), near_b[ids == fid].mean()) for fid in (1, 2)}
    assert sorted(max(v) for v in on.values()) == [1.0, 1.0] and {np.argmax(v) for v in on.values()} == {0, 1}
    assert (ids > 0).sum() > 0.6 * (near_a | near_b).sum() / 2


def test_objects_do_not_depend_on_the_slab_cut():
    shape = (40, 40, 40)
    a, _ = plane_band(shape, 70.0, 20.0, (20, 20, 20))
    b, _ = plane_band(shape, 60.0, 100.0, (20, 14, 20), width=2.5)
    prob = np.maximum(a, 0.95 * b)
    whole, obj1 = run_slabs(prob, FaultParams(), core=40)
    for core in (7, 13):
        cut, obj2 = run_slabs(prob, FaultParams(), core=core)
        assert np.array_equal(whole, cut)
        assert np.array_equal(obj1.faults["count"], obj2.faults["count"])


def test_hysteresis_and_minimum_area():
    shape = (32, 32, 32)
    strong, _ = plane_band(shape, 80.0, 90.0, (16, 8, 16))
    weak, _ = plane_band(shape, 80.0, 90.0, (16, 24, 16))
    prob = np.maximum(strong, 0.5 * weak)                       # the weak fault never reaches 0.7
    ids, objects = run_slabs(prob, FaultParams(), core=32)
    assert len(objects.faults["count"]) == 1 and objects.faults["pmax"][0] > 0.99
    _, objects = run_slabs(prob, FaultParams(high=0.4), core=32)
    assert len(objects.faults["count"]) == 2
    _, objects = run_slabs(prob, FaultParams(high=0.4, min_area=5000), core=32)
    assert len(objects.faults["count"]) == 0 and objects.thin_objects == 2


def test_probabilities_outside_zero_one_are_refused():
    with pytest.raises(HpcfaultError, match=r"fault probabilities must be finite values in \[0, 1\] \(got -3"):
        one_slab(np.full((8, 8, 8), -3.0, np.float32))


# -- planning ------------------------------------------------------------------------------------------
def test_slab_plan_fits_the_budget_and_refuses_too_small_budgets():
    p = FaultParams()
    plan = plan_slabs((100, 50, 80), p.halo, 16 << 20)
    per_inline = 100 * 80 * 40
    assert (plan.core + 2 * p.halo) * per_inline <= 16 << 20 < (plan.core + 1 + 2 * p.halo) * per_inline
    assert plan.ranges[0] == (0, plan.core) and plan.ranges[-1][1] == 50
    assert plan.read_range(0) == (0, min(50, plan.core + p.halo))
    with pytest.raises(HpcfaultError, match=r"memory budget too small for this survey \(got 1\.0 MiB\).* "
                                            r"pass --memory 554MiB or more"):
        plan_slabs((500, 50, 500), p.halo, 1 << 20)
    with pytest.raises(HpcfaultError, match=r"thresholds must satisfy 0 < --low <= --high <= 1 \(got --low 0.8"):
        FaultParams(low=0.8, high=0.5)


# -- sticks --------------------------------------------------------------------------------------------
def test_sticks_follow_the_fault_along_time():
    t = np.arange(20)
    st = sticks.section_sticks(np.r_[t, t[:3] + 40], np.r_[t * 0.5 + 3, [9, 9, 9]], step=4)
    assert len(st) == 2
    assert st[0][:, 0].tolist() == [0, 4, 8, 12, 16, 19] and st[0][:, 1].tolist() == [3, 5, 7, 9, 11, 12.5]
    assert st[1][:, 0].tolist() == [40, 42]
    assert sticks.section_kind(10.0) == sticks.INLINE and sticks.section_kind(100.0) == sticks.XLINE
    coords = np.array([[tt, i, 5] for i in (0, 1, 4) for tt in range(6)])
    out = sticks.fault_sticks(coords, sticks.INLINE, every=4, step=2)
    assert [sec for sec, _ in out] == [0, 4]
    assert out[0][1][:, 1].tolist() == [0, 0, 0, 0] and out[0][1][:, 2].tolist() == [5, 5, 5, 5]


# -- formats -------------------------------------------------------------------------------------------
def _sticks():
    a = np.array([[10, 20.5, 1000.25, 2000.5, 100.0], [10, 21.0, 1000.5, 2001.0, 108.0]])
    b = np.array([[14, 19.0, 1100.0, 1990.0, 90.0], [14, 19.5, 1100.0, 1992.5, 98.0], [14, 20, 1101, 1995, 104]])
    return [formats.Stick("F0001", 0, a), formats.Stick("F0001", 1, b), formats.Stick("F0002", 0, b + 1)]


def test_opendtect_and_charisma_round_trips(tmp_path):
    sts = _sticks()
    for bulk in (False, True):
        for xy in (True, False):
            buf = io.StringIO()
            mine = sts if bulk else sts[:2]
            formats.write_opendtect(buf, mine, bulk=bulk, xy=xy)
            path = tmp_path / f"od-{bulk}-{xy}.txt"
            path.write_text(buf.getvalue())
            lines = buf.getvalue().splitlines()
            assert all(len(ln.split("\t")) == (6 if bulk else 5) for ln in lines)    # the documented columns
            back = formats.read_opendtect(path, bulk=bulk, xy=xy, name="F0001")
            assert [(s.name, s.number) for s in back] == [(s.name, s.number) for s in mine]
            cols = [2, 3, 4] if xy else [0, 1, 4]
            for s, r in zip(mine, back):
                assert np.allclose(r.nodes[:, cols], s.nodes[:, cols], atol=5e-3)
    buf = io.StringIO()
    formats.write_charisma(buf, sts)
    path = tmp_path / "charisma.txt"
    path.write_text(buf.getvalue())
    assert all(ln.startswith("INLINE-") and len(ln.split()) == 8 for ln in buf.getvalue().splitlines())
    back = formats.read_charisma(path)
    for s, r in zip(sts, back):
        assert (s.name, s.number) == (r.name, r.number)
        assert np.allclose(r.nodes[:, 2:], s.nodes[:, 2:], atol=5e-3)
        assert np.array_equal(r.nodes[:, :2], np.round(s.nodes[:, :2]))
    path.write_text("INLINE- 10 20 x 2 3 F 1\n")
    with pytest.raises(HpcfaultError, match=r"charisma.txt:1: a number column does not hold a number"):
        formats.read_charisma(path)
    with pytest.raises(HpcfaultError, match="may not hold spaces"):
        formats.write_charisma(io.StringIO(), [formats.Stick("a b", 0, sts[0].nodes)])


def test_point_csv_round_trip(tmp_path):
    rows = np.array([[10, 20, 104.0, 1000.25, 2000.5, 61.234, 33.9, 236.1, 0.875],
                     [11, 20, 108.0, np.nan, np.nan, 60.0, 30.0, np.nan, 1.0]])
    buf = io.StringIO()
    formats.write_points(buf, rows, header=True)
    path = tmp_path / "p.csv"
    path.write_text(buf.getvalue())
    back = formats.read_points(path)
    assert np.allclose(back, rows, atol=6e-3, equal_nan=True)


def test_voxel_keys_round_trip():
    shape = (7, 5, 3)
    t, i, x = np.meshgrid(np.arange(7), np.arange(5), np.arange(3), indexing="ij")
    k = voxel_key(t.ravel(), i.ravel(), x.ravel(), shape)
    assert len(np.unique(k)) == t.size
    assert np.array_equal(key_coords(k, shape), np.stack([t.ravel(), i.ravel(), x.ravel()], 1))
    order = np.lexsort((t.ravel(), x.ravel(), i.ravel()))          # inline, then crossline, then time
    assert np.array_equal(np.argsort(k), order)


def test_by_fault_accepts_a_cut_fault_as_one_object_or_one_per_piece_but_not_merged_with_another():
    from hpcfault.faults.truth import PieceMatch, by_fault

    def piece(fault, k, obj, share=1.0, fault_purity=1.0, found=1.0):
        return PieceMatch(fault=fault, piece=k, voxels=100, area=100.0, dip=70.0, strike=30.0, fit_dip=70.0,
                          fit_strike=30.0, object=obj, found=found, share=share, coverage=share, purity=0.5,
                          fault_purity=fault_purity, beyond=0.0, one_to_one=False, obj_dip=70.0, obj_strike=30.0,
                          ridge_within_1=1.0, ridge_on=1.0)

    # fault 1 cut in two pieces, both in object 7; fault 2's pieces in objects 8 and 9; fault 3 split
    got = by_fault([piece(1, 1, 7), piece(1, 2, 7), piece(2, 1, 8), piece(2, 2, 9), piece(3, 1, 10, share=0.6)])
    assert got == {1: "one object", 2: "one per piece", 3: "missed"}
    # an object holding pieces of two faults misses both; so does one with another fault's voxels
    assert by_fault([piece(1, 1, 7), piece(2, 1, 7)]) == {1: "missed", 2: "missed"}
    assert by_fault([piece(1, 1, 7, fault_purity=0.8)]) == {1: "missed"}
    assert by_fault([piece(1, 1, 7, found=0.3)]) == {1: "missed"}
    assert by_fault([piece(1, 1, 7), piece(1, 2, 7), piece(1, 3, 8)]) == {1: "mixed"}
