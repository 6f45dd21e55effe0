"""RankEnv from each launcher's variables, Slurm node lists, and the MPI serial twin (and real MPI)."""
from __future__ import annotations

import pytest

from hpcfault.cluster.mpi import SerialComm, allreduce, get_comm, rank0_first
from hpcfault.cluster.rankenv import RankEnv, expand_nodelist, read_rank_env, slurm_port
from hpcfault.errors import HpcfaultError

from conftest import run_python_mpi


@pytest.mark.parametrize("text, hosts", [
    ("node[01-04,07]", ["node01", "node02", "node03", "node04", "node07"]),
    ("a1,b[2-3]", ["a1", "b2", "b3"]),
    ("gpu[8-10]-ib", ["gpu8-ib", "gpu9-ib", "gpu10-ib"]),
    ("localhost", ["localhost"]),
])
def test_expand_nodelist(text, hosts):
    assert expand_nodelist(text) == hosts


def test_expand_nodelist_bad():
    with pytest.raises(HpcfaultError, match="node\\[01-04,07\\]"):
        expand_nodelist("n[a-b]")


def test_launchers():
    assert read_rank_env({}) == RankEnv()
    t = read_rank_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2",
                       "MASTER_ADDR": "h1", "MASTER_PORT": "1234"})
    assert (t.rank, t.world_size, t.local_rank, t.master_addr, t.master_port, t.launcher) == (3, 4, 1, "h1", 1234, "torchrun")
    o = read_rank_env({"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_RANK": "1"})
    assert (o.rank, o.world_size, o.launcher, o.under_mpi) == (1, 2, "openmpi", True)
    m = read_rank_env({"PMI_RANK": "2", "PMI_SIZE": "3", "MPI_LOCALRANKID": "2", "MPI_LOCALNRANKS": "3"})
    assert (m.rank, m.world_size, m.local_rank, m.local_world_size, m.launcher) == (2, 3, 2, 3, "mpich")
    s = read_rank_env({"SLURM_PROCID": "5", "SLURM_STEP_ID": "0", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1",
                       "SLURM_JOB_NODELIST": "node[03-06]", "SLURM_TASKS_PER_NODE": "2(x4)", "SLURM_JOB_ID": "77"})
    assert (s.rank, s.world_size, s.local_rank, s.local_world_size, s.master_addr, s.launcher) == (
        5, 8, 1, 2, "node03", "slurm")
    assert s.master_port == slurm_port(77, 0) == 20077
    # a batch script outside srun is one process, whatever the allocation
    assert read_rank_env({"SLURM_PROCID": "0", "SLURM_NTASKS": "8", "SLURM_JOB_ID": "1"}).world_size == 1


def test_bad_integer_is_named():
    with pytest.raises(HpcfaultError, match="RANK must be an integer \\(got 'x'\\)"):
        read_rank_env({"RANK": "x", "WORLD_SIZE": "2"})


def test_serial_twin():
    comm = get_comm()
    assert isinstance(comm, SerialComm) and comm.size == 1
    assert allreduce(comm, 5, "sum") == 5
    assert rank0_first(comm, lambda: 42) == 42


@pytest.mark.mpi
def test_real_mpi_three_ranks(tmp_path):
    code = ("import sys\n"
            "from hpcfault.cluster.mpi import get_comm, allreduce, rank0_first\n"
            "from hpcfault.cluster.rankenv import read_rank_env\n"
            "c = get_comm(); e = read_rank_env()\n"
            "assert (c.rank, c.size) == (e.rank, e.world_size)\n"
            "s = allreduce(c, c.rank + 1, 'sum'); m = allreduce(c, c.rank, 'max')\n"
            "v = rank0_first(c, lambda: 'from0')\n"
            "open(f'{sys.argv[1]}/rank{c.rank}.txt', 'w').write(f'{c.rank}/{c.size} {s} {m} {v}')\n")
    run_python_mpi(3, code, tmp_path)   # one file per rank: the ranks' stdout can interleave mid-line
    assert [(tmp_path / f"rank{r}.txt").read_text() for r in range(3)] == [f"{r}/3 6 2 from0" for r in range(3)]


@pytest.mark.mpi
def test_rank0_error_reaches_every_rank(tmp_path):
    code = ("import sys\n"
            "from hpcfault.cluster.mpi import get_comm, rank0_first\n"
            "c = get_comm()\n"
            "def f():\n    raise ValueError('bad input on rank 0')\n"
            "try:\n    rank0_first(c, f)\n"
            "except ValueError as e:\n    open(f'{sys.argv[1]}/rank{c.rank}.txt', 'w').write(str(e))\n")
    run_python_mpi(2, code, tmp_path)
    assert [(tmp_path / f"rank{r}.txt").read_text() for r in range(2)] == ["bad input on rank 0"] * 2
