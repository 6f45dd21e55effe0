"""Shared integer counters for dynamic load balancing, with a serial twin.

Under MPI the counters live in an MPI window on rank 0 and every rank updates them with the
one-sided, atomic `Fetch_and_op` under a shared passive-target lock, so rank 0 computes blocks like
everyone else. Without hardware atomics MPICH completes those operations only when the target
enters the MPI library (measured here: while rank 0 ran a 0.5 s computation the other ranks waited
for it and rank 0 ended up with 12 of 20 items); a daemon thread on rank 0 therefore pokes the
progress engine (`Iprobe`) every 2 ms, which costs no measurable CPU, instead of MPICH's
MPIR_CVAR_ASYNC_PROGRESS=1 thread, which spins a core. Needs MPI_THREAD_MULTIPLE (mpi4py's default).

Where the MPI library provides less than MPI_THREAD_MULTIPLE (MPI.Query_thread()) or has no working
one-sided communication (MPI_Win_allocate fails), the counters fall back to a queue on rank 0 over
point-to-point messages (QueueCounters): every other rank sends its operation and waits for the
answer, which rank 0 gives whenever it enters the counters itself (between its own blocks, and
while it waits for the others at the end). A claim can then wait up to one of rank 0's blocks.
HPCFAULT_MPI_COUNTER=window|queue chooses by hand.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Any

from hpcfault.cluster.mpi import is_serial
from hpcfault.errors import HpcfaultError

log = logging.getLogger(__name__)
COUNTER_ENV = "HPCFAULT_MPI_COUNTER"
_REQ, _REP, _BYE = 7301, 7302, 7303   # message tags of the queue


class SerialCounters:
    def __init__(self, n: int) -> None:
        self._v = [0] * n

    def fetch_add(self, i: int, value: int = 1) -> int:
        old = self._v[i]
        self._v[i] += value
        return old

    def read(self, i: int) -> int:
        return self._v[i]

    def free(self) -> None:
        pass


class MPICounters:
    """`n` int64 counters on rank 0 of `comm`, starting at 0. Collective to create and free."""

    def __init__(self, comm: Any, n: int) -> None:
        from mpi4py import MPI
        import numpy as np

        self._MPI, self._np = MPI, np
        itemsize = 8
        self.win = MPI.Win.Allocate(n * itemsize if comm.rank == 0 else 0, itemsize, comm=comm)
        if comm.rank == 0:
            self.win.Lock(0, MPI.LOCK_EXCLUSIVE)
            self.win.Put(np.zeros(n, dtype=np.int64), 0)
            self.win.Unlock(0)
        comm.Barrier()
        self._stop = threading.Event()
        self._pump: threading.Thread | None = None
        if comm.rank == 0 and comm.size > 1:
            self._pump = threading.Thread(target=self._progress, args=(comm,), daemon=True,
                                          name="hpcfault-mpi-progress")
            self._pump.start()

    def _progress(self, comm: Any, period: float = 0.002) -> None:
        MPI = self._MPI
        while not self._stop.wait(period):
            comm.Iprobe(MPI.ANY_SOURCE, MPI.ANY_TAG)

    def _op(self, i: int, value: int, op: Any) -> int:
        np, MPI = self._np, self._MPI
        src = np.array([value], dtype=np.int64)
        out = np.zeros(1, dtype=np.int64)
        self.win.Lock(0, MPI.LOCK_SHARED)
        self.win.Fetch_and_op(src, out, 0, i, op)
        self.win.Unlock(0)
        return int(out[0])

    def fetch_add(self, i: int, value: int = 1) -> int:
        return self._op(i, value, self._MPI.SUM)

    def read(self, i: int) -> int:
        return self._op(i, 0, self._MPI.NO_OP)

    def free(self) -> None:
        """Collective: every rank must call it (after its last counter operation)."""
        self._stop.set()
        if self._pump is not None:
            self._pump.join()
        self.win.Free()


class QueueCounters:
    """`n` counters held by rank 0 and served over point-to-point messages (no threads, no RMA).
    Collective to create and free; `free` keeps rank 0 answering until every rank has said bye."""

    def __init__(self, comm: Any, n: int) -> None:
        from mpi4py import MPI

        self._MPI, self.comm = MPI, comm.Dup()   # its own communicator: no other message is taken for ours
        self._v = [0] * n if comm.rank == 0 else None
        self._byes = 0   # rank 0: ranks that have finished with the counters

    def _serve(self, block: bool = False) -> None:
        """Rank 0: answer the queued requests (with `block`, wait for at least one message)."""
        MPI, comm = self._MPI, self.comm
        status = MPI.Status()
        while block or comm.Iprobe(MPI.ANY_SOURCE, MPI.ANY_TAG, status):
            msg = comm.recv(source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG, status=status)
            block = False
            if status.Get_tag() == _BYE:
                self._byes += 1
                continue
            i, value = msg
            comm.send(self._v[i], dest=status.Get_source(), tag=_REP)
            self._v[i] += value

    def fetch_add(self, i: int, value: int = 1) -> int:
        if self.comm.rank != 0:
            self.comm.send((i, value), dest=0, tag=_REQ)
            return int(self.comm.recv(source=0, tag=_REP))
        self._serve()
        old = self._v[i]
        self._v[i] += value
        return old

    def read(self, i: int) -> int:
        return self.fetch_add(i, 0)

    def free(self) -> None:
        comm = self.comm
        if comm.rank != 0:
            comm.send(None, dest=0, tag=_BYE)
        else:
            while self._byes < comm.size - 1:
                self._serve(block=True)
        comm.Barrier()
        comm.Free()


def counter_kind(thread_level: int, thread_multiple: int, env: dict | None = None) -> str:
    """'window' (one-sided, rank 0's progress thread) or 'queue' (point-to-point), by the MPI thread
    level and HPCFAULT_MPI_COUNTER."""
    env = os.environ if env is None else env
    asked = env.get(COUNTER_ENV, "")
    if asked not in ("", "window", "queue"):
        raise HpcfaultError(f"{COUNTER_ENV} must be window or queue (got {asked!r}); leave it unset to choose "
                            "by the MPI library's thread level")
    if asked:
        return asked
    return "window" if thread_level >= thread_multiple else "queue"


def _window_or_none(comm: Any, n: int) -> MPICounters | None:
    """MPI counters in a window, or None on every rank when any rank cannot allocate one."""
    try:
        counters: MPICounters | None = MPICounters(comm, n)
        ok = 1
    except Exception as exc:   # noqa: BLE001 - an MPI library without one-sided support
        log.warning("one-sided MPI failed (%s); the block counter uses a queue on rank 0", exc)
        counters, ok = None, 0
    from mpi4py import MPI

    if comm.allreduce(ok, op=MPI.MIN) == 1:
        return counters
    if counters is not None:
        counters.free()
    return None


def shared_counters(comm: Any, n: int) -> SerialCounters | MPICounters | QueueCounters:
    """`n` counters shared by every rank of `comm` (collective under MPI)."""
    if is_serial(comm):
        return SerialCounters(n)
    from mpi4py import MPI

    kind = counter_kind(MPI.Query_thread(), MPI.THREAD_MULTIPLE)
    if kind == "queue" and comm.rank == 0 and not os.environ.get(COUNTER_ENV):
        log.warning("the MPI library gives thread level %d, not MPI_THREAD_MULTIPLE: the block counter is a "
                    "queue on rank 0 (claims may wait for rank 0's current block)", MPI.Query_thread())
    if kind == "window":
        counters = _window_or_none(comm, n)
        if counters is not None:
            return counters
    return QueueCounters(comm, n)
