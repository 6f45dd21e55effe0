"""The `slurm_cluster` session fixture: one real single-node Slurm cluster for all `slurm` tests.

Started once by tools/slurm_cluster.py (munge, MariaDB, slurmdbd, slurmctld, slurmd) under a pytest
temporary directory and stopped at the end of the session. Tests skip with the reason when the
machine cannot run it (not root, or the Debian packages are absent: tools/install_system_deps.sh).
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def load_cluster_tool():
    """tools/slurm_cluster.py as a module (tools/ is not a package)."""
    name = "hpcfault_tools_slurm_cluster"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "tools" / "slurm_cluster.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    return sys.modules[name]


@dataclass(frozen=True)
class SlurmCluster:
    """A running test cluster: its directory, client environment and helpers to use it."""

    root: Path
    env: dict        # full environment for sbatch/squeue/sacct and the jobs (SLURM_CONF, PATH, HPCFAULT_ENV)
    start_seconds: float

    def run(self, *cmd: str, check: bool = True, cwd=None, extra_env: dict | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd,
                              env={**self.env, **(extra_env or {})}, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def sbatch(self, *args: str, cwd, extra_env: dict | None = None) -> str:
        """Submit and return the job id (no waiting)."""
        out = self.run("sbatch", "--parsable", *args, cwd=cwd, extra_env=extra_env).stdout.strip()
        return out.split(";")[0]

    def state(self, job_id: str) -> str:
        """The job's state from accounting (COMPLETED, FAILED, ...); '' before it is recorded."""
        out = self.run("sacct", "-n", "-X", "-P", "-j", job_id, "-o", "State", check=False).stdout.split()
        return out[0] if out else ""

    def wait(self, job_id: str, timeout: float = 120) -> str:
        """Wait until the job (every task of an array) has ended; return its final state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            queued = self.run("squeue", "-h", "-j", job_id, "-o", "%T", check=False).stdout.split()
            if not queued:
                states = self.run("sacct", "-n", "-X", "-P", "-j", job_id, "-o", "State", check=False).stdout.split()
                if states and not any(s in ("PENDING", "RUNNING", "REQUEUED") for s in states):
                    return "COMPLETED" if all(s == "COMPLETED" for s in states) else ",".join(states)
            time.sleep(0.5)
        raise AssertionError(f"job {job_id} did not end within {timeout:.0f} s:\n"
                             + self.run("scontrol", "show", "job", job_id, check=False).stdout)


def cluster_skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "the Slurm test cluster starts daemons as root (not root here); run 'make test' as root"
    missing = load_cluster_tool().missing_commands()
    if missing:
        return f"Slurm test cluster needs {', '.join(missing)}: run tools/install_system_deps.sh as root"
    return None


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    reason = cluster_skip_reason()
    if reason:
        pytest.skip(reason)
    tool = load_cluster_tool()
    root = tmp_path_factory.mktemp("slurm-cluster")
    info = tool.start_cluster(root)
    env = {**os.environ, **info.env(), "OMP_NUM_THREADS": "1", "HPCFAULT_ENV": str(BIN.parent),
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    saved = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = info.slurm_conf  # submitit calls sbatch/sacct from this process
    try:
        yield SlurmCluster(Path(info.dir), env, info.start_seconds)
    finally:
        if saved is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = saved
        tool.stop_cluster(root)
