"""Item 2 of issue 19: MPI's world must be the launcher's, or the run stops before any work.

srun without the MPI plugin of the site's MPI starts N one-rank MPI worlds; each would predict the
whole survey into the same shards, ledger and output. The check compares COMM_WORLD's size with
the launcher's task count (hpcfault.cluster.mpi.world_mismatch). Here: the pure rule, a real MPI
singleton under Slurm's variables, and a real 2-rank mpiexec run that passes the check. The real
`srun --mpi=none -n 2` case runs on the test cluster (tests/test_slurm_gpu_ready.py).
"""
import pytest

from conftest import REPO, run_cli, run_python_mpi
from hpcfault.cluster.mpi import plugin_for, world_mismatch
from hpcfault.cluster.rankenv import read_rank_env

SRUN_2 = {"SLURM_PROCID": "0", "SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "2", "SLURM_NTASKS": "2",
          "SLURM_LOCALID": "0", "SLURM_JOB_NODELIST": "n1", "SLURM_JOB_ID": "7"}


@pytest.mark.parametrize("size, env, library, expect", [
    (2, SRUN_2, "MPICH Version: 4.2", None),
    (1, SRUN_2, "MPICH Version: 4.2", "--mpi=pmi2"),
    (1, SRUN_2, "Open MPI v5.0.3", "--mpi=pmix"),
    (4, {**SRUN_2, "SLURM_STEP_NUM_TASKS": "8"}, "", "--mpi=pmix for Open MPI, --mpi=pmi2 for MPICH"),
    (3, {"OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "3"}, "Open MPI v4.1", None),
    (1, {"PMI_RANK": "0", "PMI_SIZE": "2"}, "MPICH", "PMI_SIZE=2"),
])
def test_world_mismatch(size, env, library, expect):
    problem = world_mismatch(size, read_rank_env(env), library)
    if expect is None:
        assert problem is None
    else:
        assert expect in problem and f"COMM_WORLD size {size}" in problem and "\n" not in problem


def test_plugin_names():
    assert "pmix" in plugin_for("Open MPI v5.0.0, package: Open MPI")
    assert "pmi2" in plugin_for("MPICH Version:\t4.2.0")


def test_one_rank_world_under_two_slurm_tasks_is_refused_before_any_work(tmp_path):
    """A real MPI singleton (what srun --mpi=none starts) with Slurm saying the step has 2 tasks."""
    run_cli("synth", tmp_path / "s.h5", "--shape", "16", "32", "32", "--seed", "1", "--no-progress")
    env = {**SRUN_2, "PYTHONPATH": str(REPO)}
    proc = run_cli("predict", tmp_path / "s.h5", "-o", tmp_path / "p.h5", "--block", "32", "--no-progress",
                   check=False, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "MPI sees 1 rank(s) but the launcher started 2 tasks" in proc.stderr
    assert "--mpi=pmi2" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]   # no output, no work dir


def test_two_rank_mpiexec_world_passes_the_check():
    out = run_python_mpi(2, "from hpcfault.cluster.mpi import get_comm; c = get_comm(); "
                         "g = c.gather((c.rank, c.size)); print(g if c.rank == 0 else '', end='')")
    assert out.stdout.strip() == "[(0, 2), (1, 2)]"
