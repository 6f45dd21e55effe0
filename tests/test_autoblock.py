"""Throughput-driven block choice: candidates, predictions and the choice are pure functions of the
survey, the memory cap and the timings; a cached or recorded timing makes the choice repeatable."""
from __future__ import annotations

import json

import pytest

from hpcfault.infer import autoblock as ab
from hpcfault.infer.plan import auto_overlap, make_plan


def _overlap(edge: int) -> int:
    return auto_overlap(edge)


def test_candidates_fit_the_memory_cap_and_the_survey():
    cands = ab.candidate_plans((256, 512, 512), max_edge=256, align=16, overlap_of=_overlap)
    assert [c.edge for c in cands] == [64, 96, 128, 160, 192, 256]
    for c in cands:
        plan = make_plan((256, 512, 512), c.edge, _overlap(c.edge))
        assert (c.blocks, c.input_shape) == (len(plan), plan.input_shape)
    small = ab.candidate_plans((40, 48, 56), None, 16, _overlap)
    assert [c.input_shape for c in small] == [(48, 48, 64)]          # one block covers it: one candidate


def test_choice_is_the_smallest_predicted_time_counting_overlap():
    """Big blocks are faster per input voxel here, but a block's time counts once per block: the
    choice weighs speed against the overlap each block recomputes."""
    cands = ab.candidate_plans((256, 512, 512), None, 16, _overlap)
    per_voxel = {64: 1.0, 96: 0.8, 128: 0.6, 160: 0.65, 192: 0.7, 256: 1.2, 320: 1.3, 384: 1.4, 448: 1.5, 512: 1.6}
    times = {ab.shape_key(c.input_shape): per_voxel[c.edge] * c.input_voxels * 1e-6 for c in cands}
    timed = ab.timed(cands, times, lambda shape: 0)
    chosen = ab.choose(timed)
    # 128^3 is the fastest per input voxel, but its blocks recompute x2.34 the survey; 160^3 only x1.95
    assert chosen.edge == 160
    assert chosen.predicted_s == min(c.predicted_s for c in timed)
    by_edge = {c.edge: c for c in timed}
    assert by_edge[128].redundancy(256 * 512 * 512) > by_edge[160].redundancy(256 * 512 * 512) > 1.0
    with pytest.raises(ValueError):
        ab.choose(ab.timed(cands, {}, lambda shape: 0))


def test_cache_and_work_dir_record_make_the_choice_repeatable(tmp_path, monkeypatch):
    monkeypatch.setenv("HPCFAULT_CACHE", str(tmp_path / "cache"))
    path = ab.cache_path()
    assert path == tmp_path / "cache" / "block-times.json" and ab.load_cache(path) == {}
    ab.save_cache(path, {"k": {"64x64x64": 0.5}})
    assert ab.load_cache(path) == {"k": {"64x64x64": 0.5}}
    path.write_text("not json")
    assert ab.load_cache(path) == {}                                   # a broken cache is re-measured
    chosen = ab.Candidate(128, 16, 75, (128, 128, 128), 0.9, 1 << 20)
    ab.record(tmp_path / "work", chosen, "key-a")
    assert ab.recorded(tmp_path / "work", "key-a") == 128
    assert ab.recorded(tmp_path / "work", "key-b") is None             # another model/device/threads
    assert json.loads((tmp_path / "work" / "autoblock.json").read_text())["choice"]["edge"] == 128


def test_a_models_own_overlap_is_capped_at_a_quarter_of_the_edge():
    """Fault-Net's catalog overlap (48) holds from 256-voxel blocks on; smaller blocks still own half
    their edge; models without a measured overlap keep edge / 8."""
    from hpcfault.models.catalog import CATALOG

    assert CATALOG["faultnet"].overlap == 48
    assert [auto_overlap(e, 48) for e in (64, 128, 192, 256, 528)] == [16, 32, 48, 48, 48]
    assert [auto_overlap(e) for e in (64, 128, 528)] == [8, 16, 66]
