"""GPU memory: the budget a rank plans with, the largest block CUDA can index, and recovery from an
out-of-memory error with a smaller block recorded in the work dir (so a resume keeps the tiling).

The planner's formulas (hpcfault.models.memory) count the tensors of the forward pass. On a GPU a
rank also needs room for what the formulas leave out: cuDNN's workspace, the caching allocator's
fragmentation and, under fp16/bf16 autocast, the tensors autocast keeps in float32. So the budget
is the free memory of this rank's GPU shared among the ranks that use that GPU, less a reserve
(RESERVE_FRACTION of the GPU, at least RESERVE_MIN), and half precision is planned as float32.
tools/gpu_smoke.sh prints the formula against torch.cuda.max_memory_allocated to check the reserve.

A block edge of 1024 or more makes tensors of more than 2**31 elements at half resolution
(512**3 voxels x 16 channels), beyond cuDNN's 32-bit indexing: on CUDA the planner stops at
CUDA_MAX_EDGE.

When a forward still runs out of memory, the rank stops, the others stop claiming blocks, rank 0
clears the work dir's blocks (their tiling is about to change), records an edge 0.8 times the
failed one (half the voxels) in block-limit.json, and every rank plans again and computes afresh.
A later run on the same work dir reads the record first, so it plans the same tiling and resumes.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from hpcfault.errors import HpcfaultError
from hpcfault.io.atomic import write_text_atomic

log = logging.getLogger(__name__)

LIMIT_FILE = "block-limit.json"
CUDA_MAX_EDGE = 1008                 # largest multiple of 16 below 1024
RESERVE_FRACTION, RESERVE_MIN = 0.08, 768 * 2**20
SHRINK = 0.8
OOM_ENV = "HPCFAULT_TEST_OOM_ABOVE"  # tests: a block of more voxels raises torch's OutOfMemoryError
GPU_FRACTION_ENV = "HPCFAULT_TEST_GPU_MEMORY_FRACTION"   # smoke test: a real CUDA OOM on a large GPU


def gpu_budget(free_bytes: int, total_bytes: int, sharing: int) -> int:
    """Bytes one rank may plan with on its GPU: free memory less the reserve, shared by the
    `sharing` ranks that use that GPU."""
    reserve = max(RESERVE_MIN, int(RESERVE_FRACTION * total_bytes))
    return max(0, (free_bytes - reserve) // max(1, sharing))


def gpu_record(device: str) -> tuple[str, str, int, int]:
    """(host, GPU uuid, free bytes, total bytes) of this rank's GPU, to be gathered from every rank."""
    import socket

    import torch

    props = torch.cuda.get_device_properties(device)
    free, total = torch.cuda.mem_get_info(device)
    return socket.gethostname(), str(getattr(props, "uuid", device)), int(free), int(total)


def shared_budget(records: list[tuple[str, str, int, int]]) -> int:
    """The budget every rank plans with: the smallest over the ranks of gpu_budget, each GPU (host,
    uuid) shared by the ranks that reported it. Per-task binding shows each rank a different GPU
    under the same device number; the uuid tells them apart."""
    sharing: dict[tuple[str, str], int] = {}
    for host, uuid, _, _ in records:
        sharing[(host, uuid)] = sharing.get((host, uuid), 0) + 1
    return min(gpu_budget(free, total, sharing[(host, uuid)]) for host, uuid, free, total in records)


def planning_dtype(dtype: str, device: str) -> str:
    """Half precision runs under autocast on GPUs, which keeps some tensors in float32: plan as fp32."""
    return "fp32" if device.startswith("cuda") else dtype


def smaller_edge(edge: int, multiple: int = 16) -> int | None:
    """The next edge to try after an out-of-memory error (None: nothing smaller is possible)."""
    if edge <= multiple:
        return None
    return max(multiple, int(edge * SHRINK) // multiple * multiple)


def read_limit(work: Path) -> int | None:
    """The block edge recorded by an earlier out-of-memory error, checked (None if absent or unusable)."""
    path = work / LIMIT_FILE
    if not path.is_file():
        return None
    try:
        edge = json.loads(path.read_text())["max_edge"]
        if isinstance(edge, int) and edge >= 16 and edge % 16 == 0:
            return edge
    except (OSError, ValueError, KeyError, TypeError):
        pass
    log.warning("ignoring %s: not a block edge record (expected {\"max_edge\": multiple of 16})", path)
    return None


def write_limit(work: Path, edge: int, failed: int) -> None:
    work.mkdir(parents=True, exist_ok=True)
    write_text_atomic(work / LIMIT_FILE, json.dumps({"max_edge": edge, "out_of_memory_at": failed}) + "\n")


def is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError))


def injected_oom(voxels: int) -> None:
    """Tests only: behave like a GPU out of memory for blocks above $HPCFAULT_TEST_OOM_ABOVE voxels."""
    limit = os.environ.get(OOM_ENV)
    if limit and voxels > int(limit):
        import torch

        raise torch.cuda.OutOfMemoryError(f"CUDA out of memory (injected by {OOM_ENV}={limit})")


def limit_gpu_memory(device: str) -> None:
    """Smoke test only: cap this process's CUDA allocator at $HPCFAULT_TEST_GPU_MEMORY_FRACTION of the
    GPU, so that a large block runs out of memory for real (tools/gpu_smoke.sh)."""
    fraction = os.environ.get(GPU_FRACTION_ENV)
    if fraction and device.startswith("cuda"):
        import torch

        torch.cuda.set_per_process_memory_fraction(float(fraction), torch.device(device))


def record_smaller(work: Path, failed_edge: int, multiple: int) -> int:
    """Rank 0 after an out-of-memory error: clear the blocks, record and return the next edge."""
    from hpcfault.infer import ledger

    edge = smaller_edge(failed_edge, multiple)
    if edge is None:
        raise HpcfaultError(f"out of GPU memory even with {failed_edge}^3 blocks (got that edge); free the GPU "
                            "(one rank per GPU) or run on the CPU")
    ledger.clear(work)
    write_limit(work, edge, failed_edge)
    log.warning("out of GPU memory with %d^3 blocks: planning again with at most %d^3 (recorded in %s)",
                failed_edge, edge, work / LIMIT_FILE)
    return edge
