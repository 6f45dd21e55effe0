"""MPI communicator with a serial twin.

`get_comm()` returns mpi4py's COMM_WORLD when the process was started by an MPI launcher
(mpiexec, or srun with a PMI plugin) and a `SerialComm` otherwise, so every distributed code path
also runs, and is tested, as one plain process without importing mpi4py.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

from hpcfault.cluster.rankenv import RankEnv, read_rank_env
from hpcfault.errors import HpcfaultError


class SerialComm:
    """The subset of mpi4py's lower-case communicator API the engine uses, for one rank."""

    rank = 0
    size = 1

    def Get_rank(self) -> int:
        return 0

    def Get_size(self) -> int:
        return 1

    def barrier(self) -> None:
        pass

    def bcast(self, obj: Any, root: int = 0) -> Any:
        return obj

    def gather(self, obj: Any, root: int = 0) -> list:
        return [obj]

    def allgather(self, obj: Any) -> list:
        return [obj]

    def allreduce(self, obj: Any, op: Any = None) -> Any:
        return obj

    def reduce(self, obj: Any, op: Any = None, root: int = 0) -> Any:
        return obj

    def Abort(self, code: int = 1) -> None:
        raise SystemExit(code)


def plugin_for(library: str) -> str:
    """srun's MPI plugin for an MPI library (MPI.Get_library_version() text)."""
    if "Open MPI" in library:
        return "--mpi=pmix (Open MPI 5 needs pmix; Open MPI 4 takes pmix or pmi2)"
    if "MPICH" in library or "MVAPICH" in library or "Intel" in library:
        return "--mpi=pmi2 (MPICH and its derivatives)"
    return "--mpi=pmix for Open MPI, --mpi=pmi2 for MPICH"


def world_mismatch(size: int, env: RankEnv, library: str = "") -> str | None:
    """The one-line complaint when MPI's world is not the launcher's (e.g. srun without the right
    MPI plugin starts N one-rank worlds that would all compute, and write, the whole job)."""
    if size == env.world_size:
        return None
    source = {"slurm": "SLURM_STEP_NUM_TASKS", "openmpi": "OMPI_COMM_WORLD_SIZE", "mpich": "PMI_SIZE"}.get(
        env.launcher, "the launcher's world size")
    return (f"MPI sees {size} rank(s) but the launcher started {env.world_size} tasks (got COMM_WORLD size {size}, "
            f"{source}={env.world_size}): srun's MPI plugin does not match this MPI; use srun {plugin_for(library)}, "
            "or HPCFAULT_SRUN_MPI for the slurm/ scripts and --submit slurm ('srun --mpi=list' shows the choices)")


@functools.lru_cache(maxsize=1)
def get_comm() -> Any:
    env = read_rank_env()
    if not env.under_mpi:
        return SerialComm()
    from mpi4py import MPI  # only under an MPI launcher

    problem = world_mismatch(MPI.COMM_WORLD.size, env, MPI.Get_library_version())
    if problem:
        raise HpcfaultError(problem)
    return MPI.COMM_WORLD


def is_serial(comm: Any) -> bool:
    return isinstance(comm, SerialComm)


def op(name: str) -> Any:
    """An MPI reduction op by name ('sum', 'min', 'max'), or a Python function for the serial twin."""
    try:
        from mpi4py import MPI
    except ImportError:  # pragma: no cover - mpi4py is a dependency, but the serial twin needs none
        return None
    return {"sum": MPI.SUM, "min": MPI.MIN, "max": MPI.MAX}[name]


def allreduce(comm: Any, value: Any, how: str) -> Any:
    """Reduce a picklable value over ranks with 'sum', 'min' or 'max' (works for SerialComm)."""
    if is_serial(comm):
        return value
    return comm.allreduce(value, op=op(how))


def rank0_first(comm: Any, fn: Callable[[], Any]) -> Any:
    """Run `fn` on rank 0 and broadcast its result to every rank; an error is raised on every rank."""
    if is_serial(comm):
        return fn()
    payload: Any = None
    if comm.rank == 0:
        try:
            payload = (fn(), None)
        except Exception as exc:  # noqa: BLE001 - re-raised on every rank below
            payload = (None, exc)
    result, exc = comm.bcast(payload, root=0)
    if exc is not None:
        raise exc
    return result
