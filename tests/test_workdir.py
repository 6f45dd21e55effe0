"""The predict work dir is trusted only after checks (issue 15, items 4-7).

Real files throughout: a small volume file, a seeded random Fault-Net checkpoint, shards and ledger
written by real runs, damaged the way a disk, a hand or a killed process damages them. The lock is
tested with real second `hpcfault predict` processes (one paused with SIGSTOP while it holds the
work dir, one killed with SIGKILL).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from conftest import REPO, run_cli
from hpcfault.cluster.mpi import SerialComm
from hpcfault.errors import HpcfaultError
from hpcfault.infer import ledger as L
from hpcfault.infer.config import PredictConfig
from hpcfault.infer.runner import PredictJob, run_predict
from hpcfault.io.volume import write_array

SHAPE = (32, 48, 48)          # 4 blocks of 32^3
OPTS = dict(block=32, overlap=8)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import torch

    from hpcfault.models import build_model, save_checkpoint

    root = tmp_path_factory.mktemp("workdir")
    for seed, name in ((0, "m.pt"), (1, "other.pt")):
        torch.manual_seed(seed)
        save_checkpoint(root / name, build_model("faultnet"), "faultnet")
    rng = np.random.default_rng(3)
    t = np.arange(SHAPE[0])[:, None, None]
    data = (np.sin(t / 3.0 + rng.random(SHAPE[1:])[None]) + 0.3 * rng.standard_normal(SHAPE)).astype(np.float32)
    write_array(root / "s.h5", data)
    return root


def _run(files, out, model="m.pt", **job):
    """A serial predict run that keeps its work dir (these tests look into it)."""
    job.setdefault("keep_workdir", True)
    cfg = PredictConfig(model=str(files / model), threads=1, progress=False, **OPTS)
    summary = run_predict(PredictJob(str(files / "s.h5"), str(out), cfg, **job), SerialComm())
    with h5py.File(out, "r") as f:
        return f["data"][...], summary


@pytest.fixture(scope="module")
def reference(files):
    data, summary = _run(files, files / "ref.h5")
    assert summary["blocks"] == 4
    return data


def _fresh(files, tmp_path, reference):
    """A finished run in its own work dir: (output path, work dir, its ledger entries)."""
    out = tmp_path / "o.h5"
    data, summary = _run(files, out)
    assert summary["blocks_computed"] == 4 and np.array_equal(data, reference)
    entries, closed = L.read_ledger(tmp_path / "o.h5.work")
    assert len(entries) == 4 and len(closed) == 1
    return out, tmp_path / "o.h5.work", entries


def test_corrupted_block_of_a_closed_shard_is_recomputed(files, tmp_path, reference):
    """Item 4: 200 floats overwritten inside a finished run's shard (still valid HDF5)."""
    out, work, entries = _fresh(files, tmp_path, reference)
    victim = entries[1]
    with h5py.File(work / "shards" / victim.shard, "a") as f:
        ds = f[victim.id]
        block = ds[...]
        block.reshape(-1)[1000:1200] = 0.123
        ds[...] = block
    data, summary = _run(files, out)
    assert summary["blocks_computed"] == 1 and summary["blocks_reused"] == 3
    assert np.array_equal(data, reference)


@pytest.mark.parametrize("damage", ["truncate", "delete", "wrong-id", "garbage-line"])
def test_damaged_work_dir_recomputes_only_what_is_damaged(files, tmp_path, reference, damage):
    """Item 5: a truncated or deleted closed shard, a ledger line whose number and id disagree, a
    line edited into garbage: the rerun recomputes those blocks and keeps the rest."""
    out, work, entries = _fresh(files, tmp_path, reference)
    ledger = work / "ledger" / "a001-r0000.jsonl"
    shard = work / "shards" / entries[0].shard
    if damage == "truncate":
        shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 3])
        expect = 4
    elif damage == "delete":
        shard.unlink()
        expect = 4
    else:
        lines = ledger.read_text().splitlines()
        rec = json.loads(lines[2])              # line 0 is the header, line 1 block 0...
        if damage == "wrong-id":
            rec["k"] = (rec["k"] + 1) % 4       # block number and id disagree
            lines[2] = json.dumps(rec)
        else:
            lines[2] = '{"id": "b0+24_0+24_0+24", "k": "x?'
        ledger.write_text("\n".join(lines) + "\n")
        expect = 1
    data, summary = _run(files, out)
    assert summary["blocks_computed"] == expect and np.array_equal(data, reference)
    _, again = _run(files, out)                 # and the work dir is whole again
    assert again["blocks_computed"] == 0


def test_deleted_fingerprint_and_another_model_is_refused(files, tmp_path, reference):
    """Item 7: without fingerprint.json the ledger still says which model the blocks came from."""
    out, work, _ = _fresh(files, tmp_path, reference)
    (work / "fingerprint.json").unlink()
    with pytest.raises(HpcfaultError, match=r"holds blocks of another run \(differs in model_sha256\)"):
        _run(files, out, model="other.pt")
    (work / "fingerprint.json").write_text(json.dumps({"edited": True}))
    with pytest.raises(HpcfaultError, match="holds blocks of another run"):
        _run(files, out)


def test_edited_statistics_are_recomputed_not_mixed_in(files, tmp_path, reference):
    """Item 7: a hand-edited stats.json fails its checksum; the statistics are computed again, so
    the blocks (computed with the true ones) stay valid and the output is unchanged."""
    out, work, _ = _fresh(files, tmp_path, reference)
    record = json.loads((work / "stats.json").read_text())
    record["normalizer"]["hi"] *= 10
    (work / "stats.json").write_text(json.dumps(record))
    data, summary = _run(files, out)
    assert summary["blocks_computed"] == 0 and np.array_equal(data, reference)
    assert json.loads((work / "stats.json").read_text())["normalizer"]["hi"] == record["normalizer"]["hi"] / 10
    # a normalizer edited consistently (checksum recomputed) cannot mix either: the run key differs
    from hpcfault.infer.stats import _digest

    record["sha256"] = _digest(record)
    (work / "stats.json").write_text(json.dumps(record))
    data, summary = _run(files, out)
    assert summary["blocks_computed"] == 4 and summary["blocks_reused"] == 0


# ---------------------------------------------------------------- the lock (item 6), real processes

def _cli(files, out, *extra):
    return [sys.executable, "-m", "hpcfault", "predict", str(files / "s.h5"), "-m", str(files / "m.pt"),
            "-o", str(out), "--block", "32", "--overlap", "8", "--no-progress", "--threads", "1", "--keep-workdir",
            *extra]


def _env(**extra):
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), **extra}


def _wait_for(path, proc, timeout=120):
    t0 = time.monotonic()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout, f"{path} never appeared"
        time.sleep(0.05)


def _first_line(stream, timeout: float) -> str:
    """The first line a child writes to `stream` (a pipe), waiting up to `timeout` seconds."""
    import select

    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else ""


def test_second_run_is_refused_naming_the_holder_or_waits(files, tmp_path, reference):
    out = tmp_path / "o.h5"
    lock = tmp_path / "o.h5.work" / "lock"
    holder = subprocess.Popen(_cli(files, out), env=_env(SLURM_JOB_ID="4242"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lock, holder)
        os.kill(holder.pid, signal.SIGSTOP)          # holds the work dir, mid-run
        second = subprocess.run(_cli(files, out), env=_env(), capture_output=True, text=True, timeout=300)
        assert second.returncode == 2
        err = second.stderr.strip().splitlines()
        assert len(err) == 1 and "is in use by another hpcfault predict" in err[0]
        assert f"PID {holder.pid}" in err[0] and "Slurm job 4242" in err[0] and "--wait" in err[0]
        waiter = subprocess.Popen(_cli(files, out, "--wait"), env=_env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        first = _first_line(waiter.stderr, timeout=240)   # start-up may take long on a loaded machine
        assert "waiting for it (--wait)" in first and waiter.poll() is None   # waiting for the holder
        os.kill(holder.pid, signal.SIGCONT)
        h_out, h_err = holder.communicate(timeout=300)
        w_out, w_err = waiter.communicate(timeout=300)
        assert holder.returncode == 0, h_err
        assert waiter.returncode == 0, first + w_err
        assert "4 from the ledger" in w_out
        assert not lock.exists()
        with h5py.File(out, "r") as f:
            assert np.array_equal(f["data"][...], reference)
    finally:
        if holder.poll() is None:
            os.kill(holder.pid, signal.SIGCONT)
            holder.kill()
            holder.wait()


def test_stale_lock_of_a_killed_run_is_taken_over(files, tmp_path, reference):
    out = tmp_path / "o.h5"
    killed = run_cli(*_cli(files, out)[3:], check=False, env={"HPCFAULT_TEST_CRASH_AFTER_BLOCKS": "0:1"})
    assert killed.returncode != 0
    holder = json.loads((tmp_path / "o.h5.work" / "lock").read_text())   # left behind by kill -9
    proc = run_cli(*_cli(files, out)[3:])
    assert "taking over the stale lock" in proc.stderr and f"PID {holder['pid']}" in proc.stderr
    assert "3 computed, 1 from the ledger" in proc.stdout
    with h5py.File(out, "r") as f:
        assert np.array_equal(f["data"][...], reference)
