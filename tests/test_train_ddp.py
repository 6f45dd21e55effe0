"""2-process gloo DDP on CPU follows the 1-process run with the same global batch.

Both launch forms are exercised on the real CLI: torchrun (RANK/WORLD_SIZE/MASTER_* variables) and
mpiexec -n 2 (PMI variables; MASTER_ADDR/PORT given), each against a 1-process run.

Why equality can hold: rank r of 2 draws cubes g = r, r + 2, ... of the run's numbered cube stream,
so each step's 2 x 2 cubes are the 1-process batch of 4; the loss is the mean of per-cube losses, so
the averaged DDP gradient is the 1-process gradient; BatchNorm sees one cube per forward pass
(micro_batch=1), so its statistics do not depend on the split (SyncBatchNorm is GPU-only in torch).
What is left is float32 summation order (~1e-7).

One caveat, tested explicitly: a convolution bias feeding a BatchNorm has an exactly zero gradient
(BN subtracts any per-channel constant), so its computed gradient is rounding noise (~1e-9) that
Adam normalises into steps of up to lr: such parameters random-walk differently in ANY two runs
that sum in another order. UNet3D has no BatchNorm and must agree on every parameter; Fault-Net must
agree on every parameter whose exact (float64) gradient is non-zero.
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


def zero_gradient_params(model_args: list[str]) -> set[str]:
    """Parameters whose exact gradient is 0 (float64 probe on the same architecture)."""
    from hpcfault.config import load_config
    from hpcfault.models.registry import build_model

    cfg = load_config(TINY, model_args)
    torch.manual_seed(0)
    model = build_model(cfg.model.name, **cfg.model.options).double().train()
    x = torch.rand(2, 1, 32, 32, 32, dtype=torch.float64)
    y = model(x)
    (y * torch.rand_like(y)).sum().backward()
    scale = max(p.grad.abs().max().item() for p in model.parameters())
    return {n for n, p in model.named_parameters() if p.grad.abs().max().item() < 1e-9 * scale}


def compare(one, two, model_args: list[str]) -> None:
    a, b = final_state(one), final_state(two)
    assert a["step"] == b["step"] == STEPS and b["world_size"] == 2
    assert [d["position"] for d in b["data"]] == [STEPS * 2, STEPS * 2]   # 2 cubes per rank per step
    names = dict(torch.nn.Module.named_parameters(_shell(a["model"], model_args)))
    skip = zero_gradient_params(model_args)
    diffs = {k: (a["model"][k].double() - b["model"][k].double()).abs().max().item() for k in names}
    checked = {k: v for k, v in diffs.items() if k not in skip}
    assert len(checked) >= len(diffs) - 3
    worst = max(checked, key=checked.get)
    assert checked[worst] <= 1e-5, f"{worst} differs by {checked[worst]:.3g}"
    assert losses(one) == pytest.approx(losses(two), abs=1e-5)


def _shell(state, model_args):
    """A model of the run's architecture holding `state` (to know which keys are parameters)."""
    from hpcfault.config import load_config
    from hpcfault.models.registry import build_model

    cfg = load_config(TINY, model_args)
    model = build_model(cfg.model.name, **cfg.model.options)
    model.load_state_dict(state)
    return model


@pytest.mark.mpi
def test_torchrun_two_processes_equal_one_unet3d(tmp_path):
    """UNet3D (no BatchNorm): every parameter agrees."""
    run_cli("train", TINY, *COMMON, *UNET, "--run-dir", tmp_path / "one", env=env1())
    cmd = [str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), "-m", "hpcfault", "train", str(TINY), *COMMON, *UNET,
           "--run-dir", str(tmp_path / "two")]
    proc = subprocess.run(cmd, env=env1(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert zero_gradient_params(UNET) == set()
    compare(tmp_path / "one", tmp_path / "two", UNET)


@pytest.mark.mpi
def test_mpiexec_two_processes_equal_one_faultnet(tmp_path):
    """Fault-Net under mpiexec -n 2 (rank from PMI_RANK, rendezvous from MASTER_ADDR/PORT)."""
    run_cli("train", TINY, *COMMON, "--run-dir", tmp_path / "one", env=env1())
    env = {**env1(), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    proc = subprocess.run([mpiexec(), "-n", "2", sys.executable, "-m", "hpcfault", "train", str(TINY), *COMMON,
                           "--run-dir", str(tmp_path / "two")], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gloo" in proc.stderr or "trained" in proc.stdout
    assert zero_gradient_params([]) == {"conv1.0.bias", "fuse_layer1.expansion_conv.bias",
                                        "fuse_layer2.expansion_conv.bias"}
    compare(tmp_path / "one", tmp_path / "two", [])


def test_global_batch_not_divisible_is_refused(tmp_path):
    env = {**env1(), "RANK": "0", "WORLD_SIZE": "3", "MASTER_PORT": str(free_port())}
    proc = run_cli("train", TINY, "batch=4", "--run-dir", tmp_path / "r", env=env, check=False)
    assert proc.returncode == 2
    assert "divisible by the number of processes (got batch=4 for 3 processes)" in proc.stderr
