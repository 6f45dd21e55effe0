"""Issue 19 on the real test cluster (tools/slurm_cluster.py): srun with the wrong MPI plugin is
refused before any work (item 2), and srun lines that restate --cpus-per-task get the job's cores
on every Slurm version (item 4; the test cluster runs Debian's Slurm 22.05, one that does not pass
sbatch's value on)."""
from __future__ import annotations

import re

import pytest

from conftest import run_cli

pytestmark = pytest.mark.slurm


def test_srun_without_mpi_plugin_is_refused_before_any_work(slurm_cluster, tmp_path):
    run_cli("synth", tmp_path / "s.h5", "--shape", "16", "32", "32", "--seed", "1", "--no-progress")
    proc = slurm_cluster.run("srun", "--mpi=none", "-n", "2", "hpcfault", "predict", tmp_path / "s.h5",
                             "-o", tmp_path / "p.h5", "--block", "32", "--no-progress", check=False, cwd=tmp_path)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "MPI sees 1 rank(s) but the launcher started 2 tasks" in proc.stderr, proc.stderr
    assert "--mpi=pmi2" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]   # no output, no work dir, no shards


def _step_cpus(slurm_cluster, tmp_path, restate: bool) -> int:
    flag = '--cpus-per-task="$SLURM_CPUS_PER_TASK" ' if restate else ""
    out = tmp_path / f"restate-{restate}.out"
    job = slurm_cluster.sbatch("--ntasks=1", "--cpus-per-task=2", f"--output={out}", "--wrap",
                               f"srun {flag}--mpi=none bash -c 'scontrol show step $SLURM_JOB_ID.$SLURM_STEP_ID'",
                               cwd=tmp_path)
    assert slurm_cluster.wait(job) == "COMPLETED", out.read_text() if out.exists() else job
    m = re.search(r"\bCPUs=(\d+)", out.read_text())
    assert m, out.read_text()
    return int(m.group(1))


def test_srun_restating_cpus_per_task_gets_the_jobs_cores(slurm_cluster, tmp_path):
    """The restated flag is accepted inside an allocation and the step holds the job's cores. (The
    test cluster runs task/none, so a bare srun step also holds 2 CPUs here: the defect shows as
    one-core binding only with task/affinity or task/cgroup, which a CI container cannot run.)"""
    assert _step_cpus(slurm_cluster, tmp_path, restate=True) == 2
