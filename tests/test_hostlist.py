"""Item 5 of issue 19: every Slurm host-list form, the step's first node as rendezvous, and ports
that differ between jobs and steps sharing a node. Pure functions, table-driven."""
import pytest

from hpcfault.cluster.hostlist import expand_hostlist
from hpcfault.cluster.rankenv import PORT_BASE, PORT_SPAN, read_rank_env, slurm_port
from hpcfault.errors import HpcfaultError


@pytest.mark.parametrize("text, hosts", [
    ("localhost", ["localhost"]),
    ("node[01-04,07]", ["node01", "node02", "node03", "node04", "node07"]),
    ("a1,b[2-3]", ["a1", "b2", "b3"]),
    ("gpu[8-10]-ib", ["gpu8-ib", "gpu9-ib", "gpu10-ib"]),
    ("node[08-11]", ["node08", "node09", "node10", "node11"]),
    ("n[098-101]", ["n098", "n099", "n100", "n101"]),
    ("rack[1-2]-node[01-02]", ["rack1-node01", "rack1-node02", "rack2-node01", "rack2-node02"]),
    ("r[1,3]c[1-2]n7", ["r1c1n7", "r1c2n7", "r3c1n7", "r3c2n7"]),
    ("login1,gpu[001-002],cpu[5,7-8]", ["login1", "gpu001", "gpu002", "cpu5", "cpu7", "cpu8"]),
    ("node-[1-2].cluster", ["node-1.cluster", "node-2.cluster"]),
    ("x[3]", ["x3"]),
    (" a, b ", ["a", "b"]),
    ("[1-2]n", ["1n", "2n"]),
])
def test_expand_hostlist(text, hosts):
    assert expand_hostlist(text) == hosts


@pytest.mark.parametrize("text, why", [
    ("n[a-b]", "not a list of numbers"), ("n[1-2", "'[' without ']'"), ("n1-2]", "']' without '['"),
    ("n[[1]]", "nested"), ("n[3-1]", "backwards"), ("n[]", "not a list of numbers"),
])
def test_bad_hostlists_are_one_line(text, why):
    with pytest.raises(HpcfaultError) as err:
        expand_hostlist(text)
    assert why in str(err.value) and f"(got {text!r})" in str(err.value) and "\n" not in str(err.value)


SRUN = {"SLURM_PROCID": "0", "SLURM_STEP_ID": "0", "SLURM_NTASKS": "8", "SLURM_JOB_ID": "4242"}


@pytest.mark.parametrize("extra, master", [
    ({"SLURM_JOB_NODELIST": "rack[1-2]-node[01-02]"}, "rack1-node01"),
    # a step on part of the allocation: rank 0 runs on the step's first node
    ({"SLURM_JOB_NODELIST": "gpu[01-08]", "SLURM_STEP_NODELIST": "gpu[05-06]"}, "gpu05"),
    ({"SLURM_NODELIST": "c[7,9]"}, "c7"),
    ({"SLURM_JOB_NODELIST": "gpu[01-02]", "MASTER_ADDR": "ib-gpu01"}, "ib-gpu01"),
])
def test_master_address_is_the_steps_first_node(extra, master):
    assert read_rank_env({**SRUN, **extra}).master_addr == master


def test_ports_differ_between_jobs_and_steps_on_a_node():
    ports = {slurm_port(job, step) for job in range(100000, 100000 + 400) for step in range(3)}
    assert len(ports) == 1200     # 400 consecutive jobs x 3 steps: no two share a port
    assert all(PORT_BASE <= p < PORT_BASE + PORT_SPAN < 32768 for p in ports)
    assert slurm_port(5000, 0) != slurm_port(6000, 0)   # 1000 apart: the old rule gave both 29500
    env = read_rank_env({**SRUN, "SLURM_STEP_ID": "2", "SLURM_JOB_NODELIST": "n1"})
    assert env.master_port == slurm_port(4242, 2)
    assert read_rank_env({**SRUN, "MASTER_PORT": "3000"}).master_port == 3000


def test_mpiexec_jobs_on_one_machine_get_their_own_port():
    from hpcfault.cluster.rankenv import DEFAULT_PORT, _port, launcher_port

    mpich = {"PMI_RANK": "0", "PMI_SIZE": "2"}
    assert _port(mpich, local_launcher=True, parent=4242) == launcher_port(4242) != DEFAULT_PORT
    assert launcher_port(4242) != launcher_port(4243)
    assert _port({**mpich, "MASTER_PORT": "3000"}, local_launcher=True, parent=1) == 3000
    assert _port({**mpich, "SLURM_JOB_ID": "9"}, local_launcher=True, parent=1) == slurm_port(9, 0)


def test_two_real_ranks_agree_on_the_port():
    from conftest import run_python_mpi

    out = run_python_mpi(2, "from hpcfault.cluster.mpi import get_comm; from hpcfault.cluster.rankenv import "
                            "read_rank_env; c = get_comm(); p = c.gather(read_rank_env().master_port); "
                            "print(p if c.rank == 0 else '', end='')")
    ports = eval(out.stdout)
    assert len(set(ports)) == 1 and ports[0] != 29500


@pytest.mark.parametrize("extra, launcher, world, rank", [
    ({"PMI_RANK": "1", "PMI_SIZE": "2", "MPI_LOCALRANKID": "1"}, "mpich", 2, 1),   # mpiexec inside `srun bash ...`
    ({"PMI_RANK": "3", "PMI_SIZE": "8"}, "slurm", 8, 0),   # srun --mpi=pmi2: PMI agrees with the step
])
def test_mpiexec_inside_a_job_step(extra, launcher, world, rank):
    step = {"SLURM_PROCID": "0", "SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "1", "SLURM_JOB_ID": "5",
            "SLURM_JOB_NODELIST": "n1"}
    if launcher == "slurm":
        step.update(SLURM_STEP_NUM_TASKS="8")
    env = read_rank_env({**step, **extra})
    assert (env.launcher, env.world_size, env.rank) == (launcher, world, rank)
