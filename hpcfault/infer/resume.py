"""Which blocks a run can take from its work dir, checked, and which it must compute.

Collective: rank 0 reads the ledger and keeps, per block, the first line that names a block of
this plan by number and id and carries this run's key (ledger.usable); every rank then verifies a
share of those blocks against their CRCs (ledger.verify_blocks), so a resumed run over a large
survey reads its old blocks back in parallel. A block that fails is simply computed again; the
rest of the work dir is kept.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hpcfault.infer import ledger as ledg
from hpcfault.infer.plan import Plan, Tiling, share

log = logging.getLogger(__name__)


def block_ids(plan: Plan | Tiling) -> list[str]:
    return [plan.block_id(k) for k in range(len(plan))]


def candidates(work: Path, plan: Plan, key: str) -> dict[int, list[ledg.Entry]]:
    """Block number -> the ledger entries a rerun may reuse for it, newest attempt first (a block
    recomputed after damage is found in its new shard first), before the CRC check. Rank 0."""
    entries, _ = ledg.read_ledger(work)
    found: dict[int, list[ledg.Entry]] = {}
    for e in sorted(ledg.usable(entries, block_ids(plan), key), key=lambda e: (e.attempt, -e.rank), reverse=True):
        found.setdefault(e.k, []).append(e)
    return found


def reusable_blocks(work: Path, plan: Plan, key: str, comm: Any) -> tuple[dict[int, ledg.Entry], list[int]]:
    """(verified blocks to reuse, block numbers to compute), the same on every rank (collective).

    Each round verifies one entry per block, shared among the ranks; a block whose entry fails
    tries its next entry in the next round, so damage costs reading, never a result."""
    from hpcfault.cluster.mpi import rank0_first

    queue = rank0_first(comm, lambda: candidates(work, plan, key))
    done: dict[int, ledg.Entry] = {}
    damaged = 0
    while queue:
        batch = sorted((es[0] for es in queue.values()), key=lambda e: (e.shard, e.k))
        part = share(len(batch), comm.size, comm.rank)
        _, bad = ledg.verify_blocks(work, batch[part.start:part.stop])
        bad_k = {k for ks in comm.allgather([e.k for e in bad]) for k in ks}
        damaged += len(bad_k)
        for e in batch:
            if e.k not in bad_k:
                done[e.k] = e
                del queue[e.k]
            elif len(queue[e.k]) > 1:
                queue[e.k] = queue[e.k][1:]
            else:
                del queue[e.k]
    todo = [k for k in range(len(plan)) if k not in done]
    if comm.rank == 0 and (done or damaged):
        log.info("reusing %d blocks of the work dir (each checked against its ledger checksum)%s", len(done),
                 f"; {damaged} damaged copies found, {len(todo)} blocks to compute" if damaged else "")
    return done, todo


def blocks_after(work: Path, plan: Plan, key: str, attempt: str, done: dict[int, ledg.Entry]) -> tuple[dict, list]:
    """After the predict stage: `done` plus the blocks this attempt recorded, and what is still missing."""
    entries, _ = ledg.read_ledger(work)
    new = ledg.usable([e for e in entries if e.attempt == attempt], block_ids(plan), key)
    merged = dict(done)
    for k, e in ledg.done_blocks(new).items():
        merged.setdefault(k, e)
    return merged, [k for k in range(len(plan)) if k not in merged]
