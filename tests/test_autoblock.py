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
    # blocks that cut the time axis, then those that span it: columns of whole traces, and the cube
    # as long as the survey's time axis
    assert [c.edge for c in cands] == [64, 96, 128, 160, 192, (256, 64, 64), (256, 96, 96), (256, 128, 128),
                                       (256, 160, 160), (256, 192, 192), 256]
    assert [c.column for c in cands] == [False] * 5 + [True] * 6
    for c in cands:
        lateral = c.edge if isinstance(c.edge, int) else c.edge[1]
        plan = make_plan((256, 512, 512), c.edge, _overlap(lateral))
        assert (c.blocks, c.input_shape) == (len(plan), plan.input_shape)
        assert max(c.input_shape) <= 256                                # the memory cap holds per axis
    assert [c.edge for c in ab.candidate_plans((256, 512, 512), 192, 16, _overlap)] == [64, 96, 128, 160, 192]
    assert not any(c.column for c in ab.candidate_plans((600, 512, 512), None, 16, _overlap)
                   if c.input_shape[0] < 608)                           # no columns past COLUMN_MAX samples
    assert all(isinstance(c.edge, int) for c in ab.candidate_plans((256, 512, 512), None, 16, _overlap,
                                                                   columns=False))
    small = ab.candidate_plans((40, 48, 56), None, 16, _overlap)
    assert [c.input_shape for c in small] == [(48, 48, 64)]          # one block covers it: one candidate


def test_choice_is_the_smallest_predicted_time_counting_overlap():
    """Big blocks are faster per input voxel here, but a block's time counts once per block: the
    choice weighs speed against the overlap each block recomputes."""
    cands = ab.candidate_plans((256, 512, 512), None, 16, _overlap, columns=False)
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


def test_a_column_of_whole_traces_wins_where_speed_per_voxel_is_flat():
    """At the same speed per voxel (what this CPU measures from 128^3 to 256 x 192 x 192, within 15 %),
    the block that recomputes least wins: a column recomputes no overlap along time."""
    cands = ab.candidate_plans((256, 512, 512), 256, 16, lambda e: auto_overlap(e, 48))   # Fault-Net's overlap
    times = {ab.shape_key(c.input_shape): c.input_voxels * 4e-7 for c in cands}
    chosen = ab.choose(ab.timed(cands, times, lambda shape: 0))
    assert chosen.edge == (256, 128, 128) and chosen.column
    assert chosen.redundancy(256 * 512 * 512) == pytest.approx(1.5625)
    cube = next(c for c in ab.timed(cands, times, lambda shape: 0) if c.edge == 128)
    assert cube.redundancy(256 * 512 * 512) == pytest.approx(2.34375) and cube.predicted_s > chosen.predicted_s
    assert "block 256x128x128 (input 256x128x128)" in ab.describe(chosen, 256 * 512 * 512, True)


def test_timing_skips_what_cannot_win_on_a_cpu_and_times_everything_on_a_gpu():
    """On a CPU a candidate that would lose even 1.25 x faster per voxel than the fastest rate yet
    measured is not timed (it counts as a rise: two stop the series), so a fraction of the timing
    cost picks the column. On a GPU the series run until they rise twice."""
    cands = ab.candidate_plans((256, 512, 512), None, 16, lambda e: auto_overlap(e, 48))

    def rate(shape):          # this CPU's shape of speed: flat within 15 %, the smallest and largest slower
        v = shape[0] * shape[1] * shape[2]
        return v * (4.4e-7 if v < 300_000 else 3.8e-7 if v < 5_000_000 else 4.2e-7 if v < 10_000_000 else 5e-7)

    timed_here = []

    def timer(shape):
        timed_here.append(shape)
        return rate(shape)

    times = ab.measured_times(cands, {}, timer, "cpu")
    assert ab.choose(ab.timed(cands, times, lambda s: 0)).edge == (256, 128, 128)
    assert sum(map(rate, timed_here)) < 0.4 * sum(map(rate, [c.input_shape for c in cands]))
    assert (256, 320, 320) not in timed_here and (256, 512, 512) not in timed_here   # big, and no better
    again = []
    assert ab.measured_times(cands, times, lambda s: again.append(s) or 1.0, "cpu") == times and not again
    gpu = []
    ab.measured_times(cands, {}, lambda s: gpu.append(s) or rate(s), "cuda:0")
    assert len(gpu) > len(timed_here)


def test_cache_and_work_dir_record_make_the_choice_repeatable(tmp_path, monkeypatch):
    monkeypatch.setenv("HPCFAULT_CACHE", str(tmp_path / "cache"))
    path = ab.cache_path()
    assert path == tmp_path / "cache" / "block-times.json" and ab.load_cache(path) == {}
    ab.save_cache(path, {"k": {"64x64x64": 0.5}})
    assert ab.load_cache(path) == {"k": {"64x64x64": 0.5}}
    path.write_text("not json")
    assert ab.load_cache(path) == {}                                   # a broken cache is re-measured
    damaged = {"k": {"64x64x64": 0.5, "64x64": 1.0, "axbxc": 2.0, "32x32x32": -1, "16x16x16": "fast",
                     "48x48x48": float("nan"), "80x80x80": True}, "j": [1, 2]}
    assert ab.cached_times(damaged, "k") == {"64x64x64": 0.5} and ab.cached_times(damaged, "j") == {}
    chosen = ab.Candidate(128, 16, 75, (128, 128, 128), 0.9, 1 << 20)
    ab.record(tmp_path / "work", chosen, "key-a")
    assert ab.recorded(tmp_path / "work", "key-a") == 128
    assert ab.recorded(tmp_path / "work", "key-b") is None             # another model/device/threads
    assert json.loads((tmp_path / "work" / "autoblock.json").read_text())["choice"]["edge"] == 128
    column = ab.Candidate((256, 128, 128), 32, 25, (256, 128, 128), 1.7, 1 << 20, column=True)
    ab.record(tmp_path / "work", column, "key-a")
    assert ab.recorded(tmp_path / "work", "key-a") == (256, 128, 128)
    (tmp_path / "work" / "autoblock.json").write_text(json.dumps({"key": "key-a", "choice": {"edge": [256, 128]}}))
    assert ab.recorded(tmp_path / "work", "key-a") is None             # not a block: chosen again


def test_a_models_own_overlap_is_capped_at_a_quarter_of_the_edge():
    """Fault-Net's catalog overlap (48) holds from 256-voxel blocks on; smaller blocks still own half
    their edge; models without a measured overlap keep edge / 8."""
    from hpcfault.models.catalog import CATALOG

    assert CATALOG["faultnet"].overlap == 48
    assert [auto_overlap(e, 48) for e in (64, 128, 192, 256, 528)] == [16, 32, 48, 48, 48]
    assert [auto_overlap(e) for e in (64, 128, 528)] == [8, 16, 66]


@pytest.mark.mpi
def test_predict_chooses_its_block_and_cleans_up_for_any_rank_count(tmp_path):
    """predict without --block under mpiexec -n 2 times its candidates once (cached), records the
    choice in the work dir, removes the work dir with it after success; one rank, reusing the cache,
    picks the same block and writes the same bytes."""
    import h5py
    import numpy as np
    from conftest import run_cli

    env = {"HPCFAULT_CACHE": str(tmp_path / "cache")}
    run_cli("synth", tmp_path / "s.h5", "--shape", "48", "96", "96", "--seed", "3", "--no-progress")
    outs = []
    for ranks in (2, 1):
        out = tmp_path / f"p{ranks}.h5"
        run_cli("predict", tmp_path / "s.h5", "-o", out, "--no-progress", "--threads", "1", ranks=ranks, env=env)
        summary = json.loads(out.with_suffix(".summary.json").read_text())
        assert summary["config"]["block"] is None and summary["workdir_left"] == []
        assert not (tmp_path / f"p{ranks}.h5.work").exists()
        with h5py.File(out, "r") as f:
            outs.append((summary["plan"]["block"], f["data"][...]))
    assert (tmp_path / "cache" / "block-times.json").is_file()
    assert outs[0][0] == outs[1][0] and np.array_equal(outs[0][1], outs[1][1])


@pytest.mark.mpi
def test_a_column_block_by_hand_is_identical_for_any_rank_count(tmp_path):
    """--block T,I,X (here a column of whole traces) plans those edges, writes the same bytes on 1 and
    2 ranks, and says so in the summary; a bad edge is refused in one line before any work."""
    import h5py
    import numpy as np
    from conftest import run_cli

    run_cli("synth", tmp_path / "s.h5", "--shape", "40", "80", "72", "--seed", "4", "--no-progress")
    outs = []
    for ranks in (2, 1):
        out = tmp_path / f"c{ranks}.h5"
        run_cli("predict", tmp_path / "s.h5", "-o", out, "--block", "48,32,32", "--overlap", "8", "--no-progress",
                "--threads", "1", ranks=ranks)
        summary = json.loads(out.with_suffix(".summary.json").read_text())
        assert summary["plan"]["block"] == [48, 32, 32] and summary["plan"]["grid"][0] == 1
        with h5py.File(out, "r") as f:
            outs.append(f["data"][...])
    assert np.array_equal(outs[0], outs[1])
    bad = run_cli("predict", tmp_path / "s.h5", "-o", tmp_path / "bad.h5", "--block", "48,30,32", check=False)
    assert bad.returncode != 0 and "block edge must be a positive multiple of 16 (got 48x30x32)" in bad.stderr
    assert not (tmp_path / "bad.h5").exists() and not (tmp_path / "bad.h5.work").exists()
