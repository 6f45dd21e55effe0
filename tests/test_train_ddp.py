"""2-process gloo DDP on CPU follows the 1-process run with the same global batch.

Both launch forms are exercised on the real CLI: torchrun (RANK/WORLD_SIZE/MASTER_* variables) and
mpiexec -n 2 (PMI variables; MASTER_ADDR/PORT given), each against a 1-process run.

Why equality can hold: rank r of 2 draws cubes g = r, r + 2, ... of the run's numbered cube stream,
so each step's 2 x 2 cubes are the 1-process batch of 4; the loss is the mean of per-cube losses, so
the averaged DDP gradient is the 1-process gradient; BatchNorm sees one cube per forward pass
(micro_batch=1), so its statistics do not depend on the split (SyncBatchNorm is GPU-only in torch).
What is left is float32 summation order (~1e-7).

Parameters with an exactly zero gradient (a conv bias feeding BatchNorm: BN removes any per-channel
constant) are frozen by the trainer (hpcfault/train/redundant.py): their computed gradient is pure
rounding noise, which Adam would turn into steps of up to lr that differ with the summation order.
With them frozen every parameter agrees, for Fault-Net (BatchNorm) and UNet3D (none).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from conftest import BIN, REPO, mpiexec, run_cli

TINY = REPO / "configs" / "train-tiny.yaml"
STEPS = 3
COMMON = [f"steps={STEPS}", "batch=4", "micro_batch=1", "validation.every=0", "checkpoint_every=100"]
UNET = ["model.name=unet3d", "model.options={filters: [4, 8, 8, 16]}"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env1() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "OMPI_", "PMI_", "SUBMITIT_"))}
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    return {**env, "OMP_NUM_THREADS": "1", "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"}


def final_state(run_dir):
    return torch.load(run_dir / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)


def losses(run_dir) -> list[float]:
    recs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in recs if r["kind"] == "train"]


def compare(one, two) -> None:
    a, b = final_state(one), final_state(two)
    assert a["step"] == b["step"] == STEPS and b["world_size"] == 2
    assert [d["position"] for d in b["data"]] == [STEPS * 2, STEPS * 2]   # 2 cubes per rank per step
    buffers = ("running_mean", "running_var", "num_batches_tracked")     # eval statistics: rank 0's
    diffs = {k: (a["model"][k].double() - b["model"][k].double()).abs().max().item()
             for k in a["model"] if not k.endswith(buffers)}
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= 1e-5, f"{worst} differs by {diffs[worst]:.3g}"
    assert losses(one) == pytest.approx(losses(two), abs=1e-5)


def test_redundant_parameters_are_the_biases_feeding_batchnorm():
    from hpcfault.models import build_model
    from hpcfault.train.redundant import zero_gradient_parameters

    tiny = build_model("faultnet", widths=[4, 8, 8], expansion=4, blocks=1)
    assert zero_gradient_parameters(tiny) == ["conv1.0.bias", "fuse_layer1.expansion_conv.bias",
                                              "fuse_layer2.expansion_conv.bias"]
    assert zero_gradient_parameters(build_model("unet3d", filters=[4, 8, 8, 16])) == []


@pytest.mark.mpi
def test_torchrun_two_processes_equal_one_unet3d(tmp_path):
    """UNet3D (no BatchNorm) under torchrun (RANK/WORLD_SIZE/MASTER_* from torchrun)."""
    run_cli("train", TINY, *COMMON, *UNET, "--run-dir", tmp_path / "one", env=env1())
    cmd = [str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), "-m", "hpcfault", "train", str(TINY), *COMMON, *UNET,
           "--run-dir", str(tmp_path / "two")]
    proc = subprocess.run(cmd, env=env1(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    compare(tmp_path / "one", tmp_path / "two")


@pytest.mark.mpi
def test_mpiexec_two_processes_equal_one_faultnet(tmp_path):
    """Fault-Net under mpiexec -n 2 (rank from PMI_RANK, rendezvous from MASTER_ADDR/PORT)."""
    run_cli("train", TINY, *COMMON, "--run-dir", tmp_path / "one", env=env1())
    env = {**env1(), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    proc = subprocess.run([mpiexec(), "-n", "2", sys.executable, "-m", "hpcfault", "train", str(TINY), *COMMON,
                           "--run-dir", str(tmp_path / "two")], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "trained" in proc.stdout and "froze 3 parameter(s)" in proc.stderr
    compare(tmp_path / "one", tmp_path / "two")


def test_global_batch_not_divisible_is_refused(tmp_path):
    env = {**env1(), "RANK": "0", "WORLD_SIZE": "3", "MASTER_PORT": str(free_port())}
    proc = run_cli("train", TINY, "batch=4", "--run-dir", tmp_path / "r", env=env, check=False)
    assert proc.returncode == 2
    assert "divisible by the number of processes (got batch=4 for 3 processes)" in proc.stderr


def test_submitit_local_two_tasks(tmp_path):
    """--submit local: submitit's local executor starts 2 tasks; rankenv reads SUBMITIT_LOCAL_* and
    the tasks form a gloo group (each of the 4 steps: 1 cube per task of the global batch 2)."""
    proc = run_cli("train", TINY, "--run-dir", tmp_path / "run", "validation.every=0", "--submit", "local",
                   "--tasks-per-node", "2", "--submit-folder", tmp_path / "jobs", env=env1(), cwd=tmp_path)
    assert "finished" in proc.stdout
    state = final_state(tmp_path / "run")
    assert state["step"] == 4 and state["world_size"] == 2
    assert [d["position"] for d in state["data"]] == [4, 4]
    log = "".join(p.read_text() for p in (tmp_path / "jobs").glob("*/*_0_log.err"))
    assert "rank 0/2 (submitit): joining gloo process group" in log


@pytest.mark.mpi
def test_batchnorm_running_statistics_are_averaged_over_ranks():
    """Each rank's running statistics follow its own cubes; checkpoints carry their average."""
    from conftest import run_python_mpi

    code = """
import os, sys, torch
from hpcfault.cluster.rankenv import read_rank_env
from hpcfault.train import ddp
d = ddp.setup(read_rank_env(), "cpu")
bn = torch.nn.Sequential(torch.nn.BatchNorm3d(3), torch.nn.Conv3d(3, 3, 1), torch.nn.BatchNorm3d(2))
for k, m in enumerate(m for m in bn.modules() if isinstance(m, torch.nn.BatchNorm3d)):
    m.running_mean.fill_(float(d.rank * 10 + k))
    m.running_var.fill_(float(d.rank + 1))
ddp.average_batchnorm_stats(d, bn)
print(d.rank, [round(float(v), 6) for m in bn.modules() if isinstance(m, torch.nn.BatchNorm3d)
                for v in (m.running_mean[0], m.running_var[-1])], file=open(sys.argv[1] + str(d.rank), "w"))
ddp.teardown(d)
"""
    import tempfile
    out = tempfile.mkdtemp() + "/rank"
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())})
    run_python_mpi(2, code, out)
    # ranks 0 and 1 had means 0 and 10 (first BN), 1 and 11 (second), variances 1 and 2
    for r in (0, 1):
        assert open(out + str(r)).read().split(None, 1)[1].strip() == "[5.0, 1.5, 6.0, 1.5]"
