"""The predict stage proper, for one rank: claim blocks from a shared counter (dynamic load
balancing), read the next block ahead and write the last one behind while the model runs, and record
each finished block in the ledger once its shard write has completed.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from hpcfault.infer import ledger as ledg
from hpcfault.infer.alloc import release_free_memory
from hpcfault.infer.plan import Plan, Tiling
from hpcfault.infer.report import Progress

log = logging.getLogger(__name__)
CRASH_ENV = "HPCFAULT_TEST_CRASH_AFTER_BLOCKS"   # "RANK:K": that rank kills itself (SIGKILL) after K blocks
PAUSE_ENV = "HPCFAULT_TEST_BLOCK_PAUSE_S"   # tests: each rank sleeps this long after every finished block,
                                             # so that a signal sent after the first one finds the job running


def read_block(source: Any, plan: Plan, k: int, normalizer: Any) -> np.ndarray:
    """Model input of block k of a view: read region, normalized, reflect-padded to the input shape."""
    block = plan.block(k)
    x = normalizer.apply(source.read(*block.read.slices))
    pad = [(0, e - s) for e, s in zip(plan.input_shape, block.read.shape)]
    if any(p for _, p in pad):
        x = np.pad(x, pad, mode="reflect")
    return x


@contextlib.contextmanager
def abort_on_error(comm: Any):
    """A failure on one rank inside a collective stage aborts the job instead of leaving the
    other ranks waiting forever (blocks already in the ledger stay done: rerun to resume)."""
    try:
        yield
    except BaseException as exc:
        if getattr(comm, "size", 1) > 1:
            print(f"hpcfault predict: error on rank {comm.rank}: {exc}; aborting every rank "
                  "(rerun the same command to resume)", file=sys.stderr, flush=True)
            comm.Abort(2)
        raise


def _crash_after() -> tuple[int, int] | None:
    text = os.environ.get(CRASH_ENV, "")
    if not text:
        return None
    r, _, k = text.partition(":")
    return int(r), int(k)


def predict_blocks(job: Any, plan: Tiling, todo: list[int], source: Any, normalizer: Any, model: Any,
                   attempt: str, comm: Any, key: str | None = None, header: dict | None = None) -> dict:
    """Collective: compute the `todo` blocks with dynamic load balancing; shards + ledger (whose lines
    carry the run `key`, after a `header` line saying what the blocks are computed from)."""
    from hpcfault.cluster.counter import shared_counters
    from hpcfault.infer.shards import ShardWriter

    from hpcfault.cluster.mpi import allreduce
    from hpcfault.infer.oom import injected_oom, is_oom

    counters = shared_counters(comm, 3)   # [next block to claim, blocks finished, ranks out of memory]
    shard = f"{attempt}-r{comm.rank:04d}.h5"
    writer = ShardWriter(job.work / "shards" / shard)
    ledger = ledg.LedgerWriter(job.work, attempt, comm.rank, key, header)
    crash = _crash_after()
    pause = float(os.environ.get(PAUSE_ENV) or 0)
    vox = plan.input_voxels(todo[:1]) if todo else 0
    bar = Progress(job.cfg.progress and comm.rank == 0, len(todo), vox, "predict")
    mine, busy, oom = 0, 0.0, False
    limit = len(todo) if job.max_blocks is None else job.max_blocks

    def claim() -> int | None:
        if counters.read(2):   # a rank ran out of memory: everyone stops and plans smaller blocks
            return None
        j = counters.fetch_add(0)
        return todo[j] if j < len(todo) else None

    # one block read ahead: the next block is claimed and read by a helper thread while the model runs;
    # and one written behind: a block's shard write runs in another thread during the next forward,
    # and the block enters the ledger (and the finished count) once its write has completed
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hpcfault-read")
    writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hpcfault-write")
    pending: list = []   # [(write future, block id, k, t0)] of the block being written
    done = 0

    def settle() -> None:
        nonlocal mine, busy, done
        if not pending:
            return
        fut, block_id, k, t0 = pending.pop()
        crc = fut.result()
        release_free_memory()   # resident memory stays flat over thousands of blocks (alloc.py)
        dt = time.perf_counter() - t0
        ledger.record(block_id, k, shard, crc, dt)
        busy += dt
        mine += 1
        done = counters.fetch_add(1) + 1
        bar.set(done)
        if crash and crash[0] == comm.rank and mine >= crash[1]:
            os.kill(os.getpid(), signal.SIGKILL)
        if pause:
            time.sleep(pause)

    try:
        with abort_on_error(comm):
            k = claim() if limit > 0 else None
            claimed = int(k is not None)
            ahead = pool.submit(read_block, source, *plan.plan_of(k), normalizer) if k is not None else None
            while k is not None:
                t0 = time.perf_counter()
                x = ahead.result()
                nxt = claim() if claimed < limit else None
                claimed += int(nxt is not None)
                ahead = pool.submit(read_block, source, *plan.plan_of(nxt), normalizer) if nxt is not None else None
                view, j = plan.plan_of(k)
                block_id = view.block_id(j)
                try:
                    injected_oom(x.size)
                    y = model(x, view.frame(j), view.section_axis)
                except Exception as exc:   # noqa: BLE001 - only out-of-memory is handled here
                    if not is_oom(exc):
                        raise
                    log.warning("rank %d: out of memory on a block of %s voxels", comm.rank, "x".join(map(str, x.shape)))
                    oom = True
                    counters.fetch_add(2)
                    break
                y = y[(slice(None), *(slice(0, s) for s in view.block(j).read.shape))]
                settle()   # the previous block's write
                pending.append((writes.submit(writer.write, block_id, y), block_id, k, t0))
                del x, y
                k = nxt
            settle()
            if comm.rank == 0 and job.max_blocks is None:
                while (done := counters.read(1)) < len(todo) and not counters.read(2):   # others finishing
                    bar.set(done)
                    time.sleep(0.25)
                bar.set(done)
    finally:
        pool.shutdown(wait=True)
        writes.shutdown(wait=True)
        writer.close()
        ledger.close(shard if mine else None)
        bar.close()
    counters.free()   # collective: also the end-of-stage barrier
    if not mine:
        (job.work / "shards" / shard).unlink(missing_ok=True)
    return {"blocks": mine, "busy_s": round(busy, 3), "oom": bool(allreduce(comm, int(oom), "max"))}
