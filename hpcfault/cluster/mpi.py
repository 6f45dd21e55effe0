"""MPI communicator with a serial twin.

`get_comm()` returns mpi4py's COMM_WORLD when the process was started by an MPI launcher
(mpiexec, or srun with a PMI plugin) and a `SerialComm` otherwise, so every distributed code path
also runs, and is tested, as one plain process without importing mpi4py.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

from hpcfault.cluster.rankenv import read_rank_env


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


@functools.lru_cache(maxsize=1)
def get_comm() -> Any:
    env = read_rank_env()
    if not env.under_mpi:
        return SerialComm()
    from mpi4py import MPI  # only under an MPI launcher

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
