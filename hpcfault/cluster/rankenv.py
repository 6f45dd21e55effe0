"""Who am I in a parallel job? One value read once from the launcher's environment variables.

Understands torchrun (RANK, WORLD_SIZE, LOCAL_RANK, ...), Open MPI (OMPI_COMM_WORLD_*),
MPICH/Hydra and PMI (PMI_RANK, PMI_SIZE, MPI_LOCALRANKID), Slurm job steps (SLURM_PROCID,
SLURM_NTASKS, SLURM_LOCALID, SLURM_JOB_NODELIST; submitit's Slurm executor runs its tasks this way),
submitit's local executor (SUBMITIT_LOCAL_GLOBALID, ...), and falls back to a single process.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from hpcfault.errors import HpcfaultError

DEFAULT_PORT = 29500
PORT_BASE, PORT_SPAN = 20000, 12000     # Slurm jobs: ports 20000-31999 (slurm_port)


@dataclass(frozen=True)
class RankEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    master_addr: str = "127.0.0.1"
    master_port: int = DEFAULT_PORT
    launcher: str = "single"   # torchrun | openmpi | mpich | slurm | submitit | single

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def under_mpi(self) -> bool:
        """True when an MPI launcher (mpiexec or srun with a PMI plugin) started this process."""
        return self.launcher in ("openmpi", "mpich") or (self.launcher == "slurm" and self.world_size > 1)


def gpu_index(local_rank: int, visible: int) -> int:
    """This task's GPU among the `visible` ones: local rank modulo the count. With one task per
    node's GPUs all visible it is the local rank; with per-task binding (--gpus-per-task=1,
    --gpu-bind=single|closest, a site default) each task sees only its own GPU: index 0."""
    if visible < 1:
        raise HpcfaultError(f"no GPU is visible to this task (got {visible}); use the CPU or ask Slurm for GPUs")
    return local_rank % visible


def expand_nodelist(text: str) -> list[str]:
    """Expand a Slurm host list: 'node[01-03,07],gpu5' -> ['node01', 'node02', 'node03', 'node07', 'gpu5']
    (every form: hpcfault.cluster.hostlist)."""
    from hpcfault.cluster.hostlist import expand_hostlist

    return expand_hostlist(text)


def _int(env: Mapping[str, str], *names: str, default: int | None = None) -> int | None:
    for n in names:
        if env.get(n, "") != "":
            try:
                return int(env[n])
            except ValueError:
                raise HpcfaultError(f"environment variable {n} must be an integer (got {env[n]!r})") from None
    return default


def _slurm_master(env: Mapping[str, str]) -> str:
    # the step's nodes: rank 0 of `srun` runs on the first node of its step, which need not be the job's
    nodes = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST") or ""
    hosts = expand_nodelist(nodes) if nodes else []
    return hosts[0] if hosts else "127.0.0.1"


def _port(env: Mapping[str, str], local_launcher: bool = False, parent: int | None = None) -> int:
    port = _int(env, "MASTER_PORT")
    if port is not None:
        return port
    job = _int(env, "SLURM_JOB_ID")
    if job is None:
        if local_launcher:   # mpiexec on one node: its ranks share their parent, the launcher's proxy
            return launcher_port(os.getppid() if parent is None else parent)
        return DEFAULT_PORT
    return slurm_port(job, _int(env, "SLURM_STEP_ID", default=0) or 0)


def launcher_port(parent_pid: int) -> int:
    """The rendezvous port of an mpiexec job outside Slurm: from the pid of the ranks' common parent
    (MPICH's hydra proxy, Open MPI's daemon), so two jobs on one machine (or a job and a torchrun
    on 29500) do not meet. The master address is then this node (set MASTER_ADDR/PORT for others)."""
    return PORT_BASE + (parent_pid * 7919) % PORT_SPAN


def slurm_port(job: int, step: int) -> int:
    """The rendezvous port of a Slurm job step: jobs (and steps of one job) sharing a node get
    different ports unless their ids are PORT_SPAN apart. The range lies below Linux's ephemeral
    ports (32768-60999), so no outgoing connection of another job holds it."""
    return PORT_BASE + (job + 4099 * step) % PORT_SPAN


def read_rank_env(env: Mapping[str, str] | None = None) -> RankEnv:
    env = os.environ if env is None else env
    addr = env.get("MASTER_ADDR")
    if "RANK" in env and "WORLD_SIZE" in env:  # torchrun, or set by hand
        return RankEnv(_int(env, "RANK"), _int(env, "WORLD_SIZE"), _int(env, "LOCAL_RANK", default=0),
                       _int(env, "LOCAL_WORLD_SIZE", default=1), addr or "127.0.0.1", _port(env), "torchrun")
    if "OMPI_COMM_WORLD_RANK" in env:
        return RankEnv(_int(env, "OMPI_COMM_WORLD_RANK"), _int(env, "OMPI_COMM_WORLD_SIZE"),
                       _int(env, "OMPI_COMM_WORLD_LOCAL_RANK", default=0),
                       _int(env, "OMPI_COMM_WORLD_LOCAL_SIZE", default=1),
                       addr or (_slurm_master(env) if "SLURM_JOB_NODELIST" in env else "127.0.0.1"),
                       _port(env, local_launcher=True), "openmpi")
    # inside srun; but MPICH's mpiexec run inside a job step (e.g. a script started with srun) passes
    # that step's variables on to ranks it started itself: then PMI's world is not the step's
    hydra_in_step = "PMI_RANK" in env and _int(env, "PMI_SIZE", default=1) != _int(
        env, "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS", default=1)
    if "SLURM_PROCID" in env and "SLURM_STEP_ID" in env and not hydra_in_step:
        ntasks = _int(env, "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS", default=1)
        # '2(x3),1' means 2 tasks on each of 3 nodes, then 1: the first count is this layout's norm
        per_node = (env.get("SLURM_STEP_TASKS_PER_NODE") or env.get("SLURM_TASKS_PER_NODE") or "1")
        per_node = per_node.split("(")[0].split(",")[0]
        local_n = int(per_node) if per_node.isdigit() else 1
        return RankEnv(_int(env, "SLURM_PROCID"), ntasks, _int(env, "SLURM_LOCALID", default=0), local_n,
                       addr or _slurm_master(env), _port(env), "slurm")
    if "PMI_RANK" in env:  # MPICH / Hydra
        return RankEnv(_int(env, "PMI_RANK"), _int(env, "PMI_SIZE", default=1),
                       _int(env, "MPI_LOCALRANKID", default=0), _int(env, "MPI_LOCALNRANKS", default=1),
                       addr or "127.0.0.1", _port(env, local_launcher=True), "mpich")
    if "SUBMITIT_LOCAL_GLOBALID" in env:  # submitit's local executor: one process per task, one node
        n = _int(env, "SUBMITIT_LOCAL_NTASKS", default=1)
        port = _int(env, "MASTER_PORT")
        if port is None:  # tasks of one local job share the controller's pid as job id
            port = DEFAULT_PORT + (_int(env, "SUBMITIT_LOCAL_JOB_ID", default=0) or 0) % 1000
        return RankEnv(_int(env, "SUBMITIT_LOCAL_GLOBALID"), n, _int(env, "SUBMITIT_LOCAL_LOCALID", default=0), n,
                       addr or "127.0.0.1", port, "submitit")
    return RankEnv(master_addr=addr or "127.0.0.1", master_port=_port(env))
