"""Item 7 of issue 19: planning per GPU with a reserve, no CUDA blocks of 1024 and more, and
recovery from an out-of-memory error with a smaller block recorded in the work dir.

The budget and edge rules are pure. The recovery runs the real predict (1 and 2 MPI ranks) with
an out-of-memory error injected for blocks above a voxel count (HPCFAULT_TEST_OOM_ABOVE, the same
torch.cuda.OutOfMemoryError a GPU raises): it must finish with the same output as a run planned
with the smaller block from the start, and a resume must keep that tiling.
"""
import json

import h5py
import numpy as np
import pytest

from conftest import run_cli
from hpcfault.infer.oom import (CUDA_MAX_EDGE, LIMIT_FILE, RESERVE_MIN, gpu_budget, planning_dtype, read_limit,
                                shared_budget, smaller_edge, write_limit)
from hpcfault.infer.sizing import cap_edge

GiB = 2**30


def test_gpu_budget():
    assert gpu_budget(80 * GiB, 80 * GiB, 1) == 80 * GiB - int(0.08 * 80 * GiB)
    assert gpu_budget(80 * GiB, 80 * GiB, 2) == (80 * GiB - int(0.08 * 80 * GiB)) // 2
    assert gpu_budget(8 * GiB, 8 * GiB, 1) == 8 * GiB - RESERVE_MIN   # small GPU: the minimum reserve
    assert gpu_budget(GiB // 2, 8 * GiB, 1) == 0


def _rec(host, uuid, free=80 * GiB, total=80 * GiB):
    return (host, uuid, free, total)


@pytest.mark.parametrize("records, sharing", [
    ([_rec("n1", f"GPU-{i}") for i in range(4)], 1),                       # one rank per GPU
    # per-task binding: every rank sees "cuda:0", but each a different GPU
    ([_rec("n1", f"GPU-{i}") for i in range(4)] + [_rec("n2", f"GPU-{i + 4}") for i in range(4)], 1),
    ([_rec("n1", "GPU-0"), _rec("n1", "GPU-0"), _rec("n1", "GPU-1"), _rec("n1", "GPU-1")], 2),   # 2 per GPU
    ([_rec("n1", "GPU-0"), _rec("n2", "GPU-0")], 1),                       # same uuid text on two hosts
])
def test_shared_budget_counts_ranks_per_gpu(records, sharing):
    assert shared_budget(records) == gpu_budget(80 * GiB, 80 * GiB, sharing)


def test_shared_budget_takes_the_fullest_gpu():
    records = [_rec("n1", "GPU-0", free=70 * GiB), _rec("n1", "GPU-1", free=20 * GiB)]
    assert shared_budget(records) == gpu_budget(20 * GiB, 80 * GiB, 1)


@pytest.mark.parametrize("edge, nxt", [(528, 416), (1008, 800), (64, 48), (32, 16), (16, None), (20, 16)])
def test_smaller_edge(edge, nxt):
    assert smaller_edge(edge) == nxt


def test_cap_edge_and_planning_dtype(tmp_path):
    assert cap_edge(2048, tmp_path, "cuda:0") == CUDA_MAX_EDGE < 1024
    assert cap_edge(None, tmp_path, "cuda:1") == CUDA_MAX_EDGE
    assert cap_edge(2048, tmp_path, "cpu") == 2048 and cap_edge(None, tmp_path, "cpu") is None
    write_limit(tmp_path, 256, 320)
    assert cap_edge(528, tmp_path, "cpu") == 256 and cap_edge(128, tmp_path, "cpu") == 128
    assert planning_dtype("bf16", "cuda:0") == "fp32" and planning_dtype("bf16", "cpu") == "bf16"


@pytest.mark.parametrize("text", ['{"max_edge": 100}', '{"max_edge": "256"}', "not json", '{"edge": 256}'])
def test_a_bad_record_is_not_trusted(tmp_path, text):
    (tmp_path / LIMIT_FILE).write_text(text)
    assert read_limit(tmp_path) is None


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    import torch

    from hpcfault.models.checkpoint import save_checkpoint
    from hpcfault.models.registry import build_model

    d = tmp_path_factory.mktemp("oom")
    run_cli("synth", d / "s.h5", "--shape", "48", "64", "64", "--seed", "4", "--no-progress")
    torch.manual_seed(0)
    save_checkpoint(d / "m.pt", build_model("faultnet", widths=[4, 8, 8], expansion=4, blocks=1), "faultnet")
    return d


def _predict(case, out, *extra, ranks=0, env=None, check=True):
    return run_cli("predict", case / "s.h5", "-o", out, "-m", case / "m.pt", "--overlap", "8", "--no-progress",
                   "--threads", "1", *extra, ranks=ranks, env=env, check=check)


@pytest.mark.parametrize("ranks", [0, 2])
def test_out_of_memory_retries_with_a_smaller_block(case, tmp_path, ranks):
    # 48x64x64 blocks (196608 voxels) "run out of memory"; 48^3 = 110592 fit
    _predict(case, tmp_path / "ref.h5", "--block", "48")
    proc = _predict(case, tmp_path / "p.h5", "--block", "64", "--keep-workdir", ranks=ranks,
                    env={"HPCFAULT_TEST_OOM_ABOVE": "150000"})
    assert "out of GPU memory with 64^3 blocks: planning again with at most 48^3" in proc.stderr
    assert json.loads((tmp_path / "p.h5.work" / LIMIT_FILE).read_text())["max_edge"] == 48
    with h5py.File(tmp_path / "ref.h5") as a, h5py.File(tmp_path / "p.h5") as b:
        assert np.array_equal(a["data"][...], b["data"][...])


def test_resume_after_out_of_memory_keeps_the_smaller_tiling(case, tmp_path):
    env = {"HPCFAULT_TEST_OOM_ABOVE": "150000"}
    _predict(case, tmp_path / "ref.h5", "--block", "48")
    # first run: out of memory, re-planned, then stopped after 2 blocks (resumable)
    first = _predict(case, tmp_path / "p.h5", "--block", "64", "--max-blocks", "2", env=env, check=False)
    assert first.returncode == 3 and "2 of 4 blocks done" in first.stdout, first.stderr   # 3: partial
    assert read_limit(tmp_path / "p.h5.work") == 48
    # the resume (no injected error now) plans 48^3 from the record and reuses the 2 blocks
    proc = _predict(case, tmp_path / "p.h5", "--block", "64")
    assert "out of GPU memory" not in proc.stderr
    assert "4 blocks (2 computed, 2 from the ledger)" in proc.stdout, proc.stdout
    with h5py.File(tmp_path / "ref.h5") as a, h5py.File(tmp_path / "p.h5") as b:
        assert np.array_equal(a["data"][...], b["data"][...])
    assert not (tmp_path / "p.h5.work").exists()   # the record goes with the finished work dir
