"""Slurm job text, built as data: resources -> sbatch directives, srun flags, submitit parameters.

Pure functions of their arguments (no Slurm needed), so `--dry-run` and the tests can show and
check exactly what would be submitted.
"""
from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass

from hpcfault.errors import HpcfaultError

#: srun's MPI plugin for MPI jobs: pmi2 works with the mpich wheel; Open MPI builds need pmix.
DEFAULT_SRUN_MPI = "pmi2"
SRUN_MPI_ENV = "HPCFAULT_SRUN_MPI"

#: MPICH 4 names its shared-memory files after the job step (mpich_shm_<hash of jobid.stepid>_<node>)
#: and leaves them in /dev/shm when a run is killed; a requeued job reruns the same step ids and would
#: map the stale files and fail in MPI_Init. Before the tasks start, remove this user's files that no
#: running process has mapped, once per node (the same lines are in slurm/*.sbatch).
MPICH_SHM_CLEANUP = (
    "srun --ntasks=\"${SLURM_JOB_NUM_NODES:-1}\" --ntasks-per-node=1 --mpi=none bash -c "
    "'for f in /dev/shm/mpich_shm_* /dev/shm/mpich_vci_*; do [ -O \"$f\" ] || continue; "
    "cat /proc/[0-9]*/maps 2>/dev/null | grep -qF \"$f\" || rm -f \"$f\"; done; true'")

_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def parse_time(text: str) -> int:
    """Slurm time limit -> whole minutes (rounded up): 'MM', 'MM:SS', 'HH:MM:SS', 'D-HH[:MM[:SS]]'."""
    m = _TIME.match(str(text).strip())
    if not m:
        raise HpcfaultError(f"cannot read the time limit (got {text!r}); use MM, HH:MM:SS or D-HH:MM:SS")
    days, a, b, c = m.groups()
    if days is not None:  # D-HH, D-HH:MM, D-HH:MM:SS
        seconds = int(days) * 86400 + int(a) * 3600 + int(b or 0) * 60 + int(c or 0)
    elif c is not None:  # HH:MM:SS
        seconds = int(a) * 3600 + int(b) * 60 + int(c)
    elif b is not None:  # MM:SS
        seconds = int(a) * 60 + int(b)
    else:  # MM
        seconds = int(a) * 60
    if seconds <= 0:
        raise HpcfaultError(f"the time limit must be positive (got {text!r})")
    return -(-seconds // 60)


@dataclass(frozen=True)
class Resources:
    """What a job asks Slurm for. Site names (partition, account) stay None unless given."""

    nodes: int = 1
    tasks_per_node: int = 1
    gpus_per_node: int = 0
    cpus_per_task: int | None = None
    partition: str | None = None
    account: str | None = None
    time: str = "01:00:00"
    mem: str | None = None
    job_name: str = "hpcfault"

    def __post_init__(self) -> None:
        for name in ("nodes", "tasks_per_node"):
            if getattr(self, name) < 1:
                raise HpcfaultError(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(self, name)})")
        if self.gpus_per_node < 0:
            raise HpcfaultError(f"--gpus-per-node must be 0 or more (got {self.gpus_per_node})")
        if self.cpus_per_task is not None and self.cpus_per_task < 1:
            raise HpcfaultError(f"--cpus-per-task must be at least 1 (got {self.cpus_per_task})")
        parse_time(self.time)

    @property
    def ntasks(self) -> int:
        return self.nodes * self.tasks_per_node

    @property
    def minutes(self) -> int:
        return parse_time(self.time)


def srun_mpi_plugin(env: dict | None = None) -> str:
    """The srun --mpi plugin: $HPCFAULT_SRUN_MPI (e.g. pmix for Open MPI) or pmi2."""
    env = os.environ if env is None else env
    return env.get(SRUN_MPI_ENV) or DEFAULT_SRUN_MPI


def slurm_srun_args(res: Resources, *, mpi: bool, plugin: str | None = None) -> list[str]:
    """Extra srun flags for a job's tasks: an MPI plugin when the tasks talk MPI (or there are several),
    and the whole step ends when one task fails (an MPI job would otherwise wait for it forever).
    --cpus-per-task is restated: Slurm 22.05-23.02 do not pass sbatch's value on to srun."""
    cpus = [f"--cpus-per-task={res.cpus_per_task}"] if res.cpus_per_task else []
    if mpi or res.ntasks > 1:
        return [f"--mpi={plugin or srun_mpi_plugin()}", *cpus, "--kill-on-bad-exit=1"]
    return cpus


def sbatch_directives(res: Resources, *, signal: str | None = None, requeue: bool = False,
                      output: str | None = None, error: str | None = None) -> list[str]:
    """#SBATCH lines for RES (only what is set: no site-specific names invented)."""
    lines = [f"#SBATCH --job-name={shlex.quote(res.job_name)}", f"#SBATCH --nodes={res.nodes}",
             f"#SBATCH --ntasks-per-node={res.tasks_per_node}", f"#SBATCH --time={res.time}"]
    if res.gpus_per_node:
        lines.append(f"#SBATCH --gpus-per-node={res.gpus_per_node}")
    if res.cpus_per_task:
        lines.append(f"#SBATCH --cpus-per-task={res.cpus_per_task}")
    if res.mem:
        lines.append(f"#SBATCH --mem={res.mem}")
    if res.partition:
        lines.append(f"#SBATCH --partition={shlex.quote(res.partition)}")
    if res.account:
        lines.append(f"#SBATCH --account={shlex.quote(res.account)}")
    if signal:
        lines.append(f"#SBATCH --signal={signal}")
    if requeue:
        lines.append("#SBATCH --requeue")
    if output:
        lines.append(f"#SBATCH --output={output}")
    if error:
        lines.append(f"#SBATCH --error={error}")
    return lines


def submitit_parameters(res: Resources, *, mpi: bool, signal_delay_s: int = 120,
                        plugin: str | None = None) -> dict:
    """Keyword arguments for submitit.SlurmExecutor.update_parameters."""
    params: dict = {"job_name": res.job_name, "nodes": res.nodes, "ntasks_per_node": res.tasks_per_node,
                    "time": res.minutes, "signal_delay_s": signal_delay_s,
                    "srun_args": slurm_srun_args(res, mpi=mpi, plugin=plugin),
                    # submitit requeues a checkpointed job with scontrol requeue: allow it even
                    # where the site's default (JobRequeue=0) forbids requeueing
                    "additional_parameters": {"requeue": True}}
    setup = [f"export OMP_NUM_THREADS={res.cpus_per_task}"] if res.cpus_per_task else []
    if mpi or res.ntasks > 1:
        setup.append(MPICH_SHM_CLEANUP)
    if setup:
        params["setup"] = setup
    if res.gpus_per_node:
        params["gpus_per_node"] = res.gpus_per_node
    if res.cpus_per_task:
        params["cpus_per_task"] = res.cpus_per_task
    if res.partition:
        params["partition"] = res.partition
    if res.account:
        params["account"] = res.account
    if res.mem:
        params["mem"] = res.mem
    return params


def local_parameters(res: Resources, *, mpi: bool) -> dict:
    """Keyword arguments for submitit.LocalExecutor: one node; an MPI job is one task running mpiexec."""
    if res.nodes != 1:
        raise HpcfaultError(f"--submit local runs on this machine only (got --nodes {res.nodes}); use --nodes 1")
    tasks = 1 if mpi else res.tasks_per_node
    params: dict = {"timeout_min": res.minutes, "tasks_per_node": tasks}
    if res.gpus_per_node:
        params["gpus_per_node"] = res.gpus_per_node
    return params


def sbatch_script(res: Resources, commands: list[str], *, setup: list[str] | None = None,
                  signal: str | None = None, requeue: bool = False, output: str | None = None) -> str:
    """A complete batch script: directives, optional setup lines, then the commands."""
    lines = ["#!/bin/bash", *sbatch_directives(res, signal=signal, requeue=requeue, output=output), "",
             "set -euo pipefail"]
    if setup:
        lines += ["", *setup]
    lines += ["", *commands, ""]
    return "\n".join(lines)
