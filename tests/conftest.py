"""Shared fixtures: paths to ../shared data, the venv's mpiexec, and a CLI runner."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
BIN = Path(sys.executable).parent


def shared_path(*parts: str) -> Path:
    """A file under ../shared, or skip the test with the reason when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} is absent: ../shared (weights, segy-test-data) is not beside this checkout")
    return p


@pytest.fixture
def segy_data() -> Path:
    return shared_path("segy-test-data")


@pytest.fixture
def weights_dir() -> Path:
    return shared_path("weights")


def mpiexec() -> str:
    """The mpiexec that mpi4py's MPI belongs to (the mpich wheel puts it in the venv)."""
    for cand in (BIN / "mpiexec", shutil.which("mpiexec")):
        if cand and Path(cand).exists():
            return str(cand)
    pytest.skip("no mpiexec found: install requirements-cpu.txt (mpich wheel)")


def hpcfault_cmd() -> list[str]:
    return [sys.executable, "-m", "hpcfault"]


def run_cli(*args: str, ranks: int = 0, check: bool = True, timeout: float = 600,
            env: dict | None = None, cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """Run `hpcfault ARGS` as a real process; ranks > 0 runs it under `mpiexec -n ranks`."""
    cmd = hpcfault_cmd() + [str(a) for a in args]
    if ranks:
        cmd = [mpiexec(), "-n", str(ranks)] + cmd
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    full_env["PATH"] = f"{BIN}{os.pathsep}{full_env.get('PATH', '')}"
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def run_python_mpi(ranks: int, code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a Python snippet under `mpiexec -n ranks` (one thread each, this checkout importable);
    fails the test with the ranks' stderr when it exits non-zero."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([mpiexec(), "-n", str(ranks), sys.executable, "-c", code, *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def torch_one_thread():
    """Run torch on one thread for the test (the machine is small and shared), then restore."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# The session-scoped `slurm_cluster` fixture (a real single-node Slurm cluster) for tests marked slurm.
from slurm_fixtures import slurm_cluster  # noqa: E402,F401
