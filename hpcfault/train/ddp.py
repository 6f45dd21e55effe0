"""torch.distributed for training: one process per GPU (or per CPU slot), whatever launched it.

Rank, world size, local rank and the master address come only from
`hpcfault.cluster.rankenv.read_rank_env` (torchrun, srun, mpiexec, submitit, or a single process).
The process group uses NCCL on GPUs and gloo on CPU, initialised with `tcp://MASTER_ADDR:PORT`, so
no launcher has to export torch's own variables. With one process nothing is initialised and every
helper here is the identity: the serial twin of the distributed path.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from hpcfault.cluster.rankenv import RankEnv, gpu_index
from hpcfault.errors import HpcfaultError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dist:
    env: RankEnv
    device: torch.device
    backend: str | None          # None when running as one process

    @property
    def rank(self) -> int:
        return self.env.rank

    @property
    def world(self) -> int:
        return self.env.world_size

    @property
    def is_main(self) -> bool:
        return self.env.rank == 0


def pick_device(kind: str, env: RankEnv) -> torch.device:
    """'auto' -> this rank's GPU when CUDA is present, else the CPU. The GPU is the task's visible
    device number local rank modulo the visible count (rankenv.gpu_index), as predict picks it: with
    per-task binding every task sees one GPU, its own."""
    if kind == "cpu" or (kind == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise HpcfaultError("device=cuda but torch sees no CUDA device (got torch "
                            f"{torch.__version__}); use device=cpu or install a CUDA build of torch")
    n = torch.cuda.device_count()
    index = gpu_index(env.local_rank, n)
    if env.local_world_size > n > 1:
        log.warning("%d tasks on this node share %d visible GPUs (local rank %d uses cuda:%d); NCCL needs one "
                    "GPU per task: start one task per GPU", env.local_world_size, n, env.local_rank, index)
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def setup(env: RankEnv, device_kind: str = "auto", timeout_s: float = 1800) -> Dist:
    device = pick_device(device_kind, env)
    if env.world_size <= 1:
        return Dist(env, device, None)
    backend = "nccl" if device.type == "cuda" else "gloo"
    url = f"tcp://{env.master_addr}:{env.master_port}"
    log.info("rank %d/%d (%s): joining %s process group at %s", env.rank, env.world_size, env.launcher,
             backend, url)
    dist.init_process_group(backend, init_method=url, rank=env.rank, world_size=env.world_size,
                            timeout=timedelta(seconds=timeout_s))
    return Dist(env, device, backend)


def teardown(d: Dist) -> None:
    if d.backend and dist.is_initialized():
        dist.destroy_process_group()


def all_sum(d: Dist, values: torch.Tensor) -> torch.Tensor:
    """Element-wise sum over ranks (float64 or int64 tensors); a copy, on the CPU."""
    if not d.backend:
        return values.clone()
    t = values.to(d.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu()


def any_rank(d: Dist, flag: bool) -> bool:
    """True on every rank when `flag` is true on at least one."""
    if not d.backend:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=d.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def gather_to_main(d: Dist, obj: Any) -> list[Any] | None:
    """Every rank's picklable `obj` as a list on rank 0 (None elsewhere)."""
    if not d.backend:
        return [obj]
    out = [None] * d.world if d.is_main else None
    dist.gather_object(obj, out, dst=0)  # NCCL uses torch.cuda.current_device(), set in pick_device
    return out


def scatter_from_main(d: Dist, objs: list[Any] | None) -> Any:
    """Rank r receives objs[r] from rank 0."""
    if not d.backend:
        return objs[0]
    out = [None]
    dist.scatter_object_list(out, objs if d.is_main else None, src=0)
    return out[0]


def broadcast_object(d: Dist, obj: Any) -> Any:
    if not d.backend:
        return obj
    box = [obj if d.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(d: Dist) -> None:
    if d.backend:
        dist.barrier()


def average_batchnorm_stats(d: Dist, model: torch.nn.Module) -> None:
    """Replace every BatchNorm (and InstanceNorm with running statistics) running mean and variance
    by its average over the ranks (in place,
    the same on every rank). Each rank's running statistics follow only its own cubes; without
    this a checkpoint would carry rank 0's alone."""
    if not d.backend:
        return
    bufs = [b for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._NormBase)
            for b in (m.running_mean, m.running_var) if b is not None]
    if not bufs:
        return
    flat = torch.cat([b.detach().reshape(-1).to(torch.float64) for b in bufs]).to(d.device)
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= d.world
    k = 0
    for b in bufs:
        n = b.numel()
        b.copy_(flat[k:k + n].view_as(b).to(b.dtype))
        k += n
