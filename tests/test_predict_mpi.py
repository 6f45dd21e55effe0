"""`mpiexec -n 1/2/3 hpcfault predict`: the real CLI, identical outputs, kill -9 and resume.

Small surveys with 32^3 blocks so there are many blocks per rank; one thread per rank.
"""
from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest
from conftest import run_cli

from hpcfault.infer.ledger import read_ledger

pytestmark = pytest.mark.mpi
BLOCK = ["--block", "32", "--overlap", "8", "--no-progress"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import torch

    from hpcfault.io.volume import write_array
    from hpcfault.models import build_model, save_checkpoint

    root = tmp_path_factory.mktemp("mpi")
    torch.manual_seed(1)
    save_checkpoint(root / "model.pt", build_model("faultnet"), "faultnet")
    rng = np.random.default_rng(5)
    data = (np.sin(np.arange(48)[:, None, None] / 4.0) + 0.5 * rng.standard_normal((48, 64, 64))).astype(np.float32)
    write_array(root / "survey.h5", data)
    return root


def _data(path):
    with h5py.File(path, "r") as f:
        return f["data"][...]


@pytest.fixture(scope="module")
def reference(setup):
    """One rank (no MPI launcher at all: the SerialComm path), uninterrupted."""
    out = setup / "ranks0.h5"   # its work dir is kept for test_ledger_of_another_config_is_refused
    run_cli("predict", setup / "survey.h5", "-m", setup / "model.pt", "-o", out, *BLOCK, "--keep-workdir")
    return _data(out)


@pytest.mark.parametrize("ranks", [1, 2, 3])
def test_same_output_for_any_rank_count(setup, reference, ranks):
    out = setup / f"ranks{ranks}.h5"
    extras = ["--segy-out", setup / "r2.sgy", "--png", setup / "png", "--out-dtype", "float32"] if ranks == 2 else []
    proc = run_cli("predict", setup / "survey.h5", "-m", setup / "model.pt", "-o", out, *BLOCK, *extras,
                   ranks=ranks)
    assert f"on {ranks} rank{'s' if ranks > 1 else ''}\n" in proc.stdout
    got = _data(out)
    assert got.shape == (48, 64, 64) and np.array_equal(got, reference)
    summary = json.loads((setup / f"ranks{ranks}.summary.json").read_text())
    assert summary["ranks"] == ranks and summary["blocks"] == 18
    assert sum(r["blocks"] for r in summary["per_rank"]) == 18
    assert all(r["peak_rss_bytes"] > 0 for r in summary["per_rank"])
    if ranks == 2:   # a volume-file input: the SEG-Y is made from the geometry
        import segyio

        with segyio.open(setup / "r2.sgy", ignore_geometry=True) as f:
            assert f.tracecount == 64 * 64 and len(f.samples) == 48
            np.testing.assert_array_equal(f.trace[65], reference[:, 1, 1])
        assert {p.name for p in (setup / "png").iterdir()} == {
            "three-view.png", "inline-32.png", "xline-32.png", "time-24.png"}


def test_kill_9_of_one_rank_then_resume_with_another_rank_count(setup, reference):
    out = setup / "killed.h5"
    args = ("predict", setup / "survey.h5", "-m", setup / "model.pt", "-o", out, *BLOCK, "--keep-workdir")
    crashed = run_cli(*args, ranks=2, check=False, env={"HPCFAULT_TEST_CRASH_AFTER_BLOCKS": "1:3"})
    assert crashed.returncode != 0 and not out.exists()
    work = setup / "killed.h5.work"
    first, _ = read_ledger(work)
    before = {e.id for e in first}
    assert 3 <= len(before) < 18 and {e.attempt for e in first} == {"a001"}
    run_cli(*args, ranks=3)
    entries, closed = read_ledger(work)
    again = [e.id for e in entries if e.attempt == "a002"]
    assert len(again) == len(set(again)) and set(again).isdisjoint(before)
    assert before | set(again) == {e.id for e in entries} and len(before | set(again)) == 18
    assert np.array_equal(_data(out), reference)
    summary = json.loads((setup / "killed.summary.json").read_text())
    assert summary["blocks_computed"] == 18 - len(before) and summary["blocks_reused"] == len(before)


def test_ledger_of_another_config_is_refused(setup, reference):
    out = setup / "ranks0.h5"   # its work dir holds the reference run's blocks
    proc = run_cli("predict", setup / "survey.h5", "-m", setup / "model.pt", "-o", out, "--block", "48", "--overlap", "8",
                   "--no-progress", ranks=2, check=False)
    assert proc.returncode == 2
    assert "holds blocks of another run (differs in plan)" in proc.stderr and "--restart" in proc.stderr


def test_dry_run_under_mpi_prints_once(setup):
    proc = run_cli("predict", setup / "survey.h5", "-m", setup / "model.pt", "-o", setup / "dry.h5",
                   *BLOCK, "--dry-run", ranks=2)
    assert proc.stdout.count("blocks       18") == 1 and "ranks        2" in proc.stdout
    assert not os.path.exists(setup / "dry.h5")
