"""A run killed (SIGKILL) or stopped (SIGUSR1) mid-way resumes from its last checkpoint and ends
bit-identical to an uninterrupted run (CPU, fixed seed, one thread), with one continuous log."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import BIN, REPO, run_cli

TINY = REPO / "configs" / "train-tiny.yaml"
ARGS = ["steps=8", "checkpoint_every=3", "validation.every=4"]


def env1(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "OMPI_", "PMI_", "SUBMITIT_"))}
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    return {**env, "OMP_NUM_THREADS": "1", "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", **extra}


def records(run_dir) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def start(run_dir, env=None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "hpcfault", "train", str(TINY), *ARGS, "--run-dir", str(run_dir)]
    return subprocess.Popen(cmd, env=env or env1(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_step(proc: subprocess.Popen, run_dir, step: int, timeout: float = 120) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if any(r["kind"] == "train" and r["step"] >= step for r in records(run_dir)):
            return
        if proc.poll() is not None:
            pytest.fail(f"training ended before step {step}: {proc.communicate()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"no step {step} within {timeout} s")


def assert_same_run(a, b) -> None:
    sa = torch.load(a / "checkpoints" / "last.pt", weights_only=True)
    sb = torch.load(b / "checkpoints" / "last.pt", weights_only=True)
    assert sa["step"] == sb["step"] == 8
    for k in sa["model"]:
        assert torch.equal(sa["model"][k], sb["model"][k]), k
    for pid, st in sa["optimizer"]["state"].items():
        for k, v in st.items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(sb["optimizer"]["state"][pid][k])), (pid, k)
    assert sa["data"] == sb["data"]
    ra, rb = records(a), records(b)
    steps = [r["step"] for r in rb if r["kind"] == "train"]
    assert steps == list(range(1, 9))       # continuous: each step logged once, none missing
    strip = (lambda rs: [{k: v for k, v in r.items() if k not in ("time", "cubes_per_s", "seconds")} for r in rs])
    assert strip(ra) == strip(rb)            # same losses and validation scores, bit for bit


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run = tmp_path_factory.mktemp("full") / "run"
    run_cli("train", TINY, *ARGS, "--run-dir", run, env=env1())
    return run


def test_sigkill_then_resume_is_bit_identical(uninterrupted, tmp_path):
    run = tmp_path / "run"
    proc = start(run)
    wait_for_step(proc, run, 4)      # the checkpoint at step 3 is written; step 4 is logged
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["step"] in (3, 6)
    again = run_cli("train", TINY, *ARGS, "--run-dir", run, env=env1())
    assert "resumed" in again.stderr and "trained" in again.stdout
    assert_same_run(uninterrupted, run)


def test_sigusr1_checkpoints_requeues_and_resumes(uninterrupted, tmp_path):
    """SIGUSR1 inside an sbatch job: finish the step, checkpoint, `scontrol requeue $SLURM_JOB_ID`, exit 0.
    A stand-in `scontrol` on PATH records the call (the real one is exercised by the slurm tests)."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "scontrol").write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path / 'scontrol.args'}\n")
    (fake / "scontrol").chmod(0o755)
    run = tmp_path / "run"
    env = env1(SLURM_JOB_ID="4242")
    env["PATH"] = f"{fake}{os.pathsep}{env['PATH']}"
    proc = start(run, env)
    wait_for_step(proc, run, 2)
    proc.send_signal(signal.SIGUSR1)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    stopped = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["step"]
    assert f"stopped at step {stopped} on a signal" in out and "requeued" in out
    assert 2 <= stopped < 8
    assert max(r["step"] for r in records(run)) == stopped  # logged up to the checkpoint, not beyond
    assert (tmp_path / "scontrol.args").read_text().split() == ["requeue", "4242"]
    run_cli("train", TINY, *ARGS, "--run-dir", run, env=env1())
    assert_same_run(uninterrupted, run)


def test_resume_refuses_another_config(uninterrupted):
    proc = run_cli("train", TINY, *ARGS, "optim.lr=0.01", "--run-dir", uninterrupted, env=env1(), check=False)
    assert proc.returncode == 2
    assert "different config" in proc.stderr and "optim.lr: 0.001 -> 0.01" in proc.stderr
    done = run_cli("train", TINY, *ARGS, "--run-dir", uninterrupted, env=env1())
    assert "is complete at step 8" in done.stdout
