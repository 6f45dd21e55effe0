"""One rank's model: device choice, threads, dtype and a rank-independent (deterministic) forward.

Device: with CUDA, GPU number local_rank % visible GPUs; else the CPU with
threads = usable cores / ranks on this node (at least 1), unless --threads says otherwise.

Determinism: a block's prediction must not depend on which rank computed it, and ranks may run
with different thread counts (1 rank x 2 threads vs 2 ranks x 1 thread). Measured on torch 2.13
CPU: every Fault-Net layer gives bit-identical results for 1-4 threads except the last 1x1x1
convolution with a single output channel, whose oneDNN kernel splits its channel sum by thread
count (max diff 6e-8). Such convolutions (out_channels <= 4; plain nn.Conv3d or the models' oneDNN
FusedConv3d) are replaced by `PointwiseConv`, a
fixed-order sum of per-channel products (elementwise ops, identical for any thread count).
On CUDA, cuDNN is set deterministic and torch.use_deterministic_algorithms(warn_only) is enabled
(not on CPU: there it changes none of the kernels used here, and it imports torch._inductor, 1.3 s
of start-up per rank).
"""
from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from hpcfault.cluster.rankenv import RankEnv

log = logging.getLogger(__name__)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def pick_device(env: RankEnv, threads: int = 0) -> tuple[str, int]:
    """('cuda:N' or 'cpu', CPU threads) for this rank."""
    import torch

    if threads <= 0:
        threads = max(1, usable_cores() // max(1, env.local_world_size))
    if torch.cuda.is_available() and torch.cuda.device_count() > 0:
        return f"cuda:{env.local_rank % torch.cuda.device_count()}", threads
    return "cpu", threads


def check_dtype(device: str, dtype: str) -> None:
    """Refuse a compute precision this device cannot run at a useful speed (before any work)."""
    if device == "cpu" and dtype == "bf16":
        from hpcfault.errors import HpcfaultError
        from hpcfault.models.cpu_features import bf16_support

        support = bf16_support()
        if not support.ok:
            raise HpcfaultError(f"--dtype bf16 needs bfloat16 convolutions on the CPU (got: {support.reason}); "
                                "use --dtype fp32 on this machine")


def _pointwise_class() -> type:
    import torch
    from torch import nn

    class PointwiseConv(nn.Module):
        """A 1x1x1 convolution (optionally + add, then relu/relu6) as a fixed-order sum over the input
        channels: elementwise ops only, so the result is the same for any thread count."""

        def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, act: str | None = None) -> None:
            super().__init__()
            w = weight.detach()
            self.register_buffer("weight", w.reshape(w.shape[0], w.shape[1]).clone())
            b = bias.detach().clone() if bias is not None else torch.zeros(w.shape[0], dtype=w.dtype, device=w.device)
            self.register_buffer("bias", b)
            self.act = act

        def forward(self, x: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
            outs = []
            w = self.weight.to(x.dtype)
            b = self.bias.to(x.dtype)
            for o in range(w.shape[0]):
                acc = x[:, 0] * w[o, 0]
                for c in range(1, w.shape[1]):
                    acc = acc + x[:, c] * w[o, c]
                outs.append(acc + b[o])
            y = torch.stack(outs, dim=1)
            if add is not None:
                y = y + add
            if self.act == "relu6":
                return torch.clamp(y, 0.0, 6.0)
            return torch.relu(y) if self.act == "relu" else y

    return PointwiseConv


def _is_small_pointwise(m: Any, max_out: int) -> bool:
    """A plain or fused 1x1x1 convolution, stride 1, no groups, with at most `max_out` outputs."""
    from torch import nn

    w = getattr(m, "weight", None)
    if isinstance(m, nn.Conv3d):
        ok = m.padding_mode == "zeros" and tuple(m.padding) == (0, 0, 0)
    elif type(m).__name__ == "FusedConv3d":   # hpcfault.models.fused (oneDNN fused conv)
        ok = list(m.padding) == [0, 0, 0]
    else:
        return False
    return (ok and w is not None and w.dim() == 5 and tuple(w.shape[2:]) == (1, 1, 1)
            and list(m.stride) == [1, 1, 1] and m.groups == 1 and w.shape[0] <= max_out)


def make_deterministic(model: Any, max_out: int = 4) -> int:
    """Replace 1x1x1 convolutions with <= `max_out` output channels by PointwiseConv; returns the count."""
    cls = _pointwise_class()
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if _is_small_pointwise(child, max_out):
                setattr(parent, name, cls(child.weight, child.bias, getattr(child, "act", None)))
                count += 1
    return count


class BlockModel:
    """Loads a checkpoint once and predicts normalized (T, I, X) float32 blocks as the checkpoint
    task's K outputs, a (K, T, I, X) float32 array (hpcfault/tasks/decode.py).

    A 2D section model is applied to every section of the block along `section_axis` (1: inline,
    sections (time, xline); 2: xline, sections (time, inline)), `section_batch` sections per forward
    (1 by default: each section's result is then exactly that of a plain loop over sections).
    `refine` lists checkpoints of refinement models (same task, input = the first model's channels)
    applied `refine_iterations` times each, in order, before decoding.
    """

    def __init__(self, checkpoint: str, device: str = "cpu", dtype: str = "fp32", threads: int = 1,
                 deterministic: bool = True, refine: tuple[str, ...] = (), refine_iterations: int = 1,
                 section_batch: int = 1) -> None:
        import torch

        from hpcfault.models import load_model, prepare_for_inference, read_checkpoint
        from hpcfault.tasks import task_spec

        self.torch = torch
        torch.set_num_threads(max(1, threads))
        self.device = torch.device(device)
        self.dtype = dtype
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
            torch.backends.cudnn.benchmark = not deterministic
            torch.backends.cudnn.deterministic = deterministic
        if deterministic and self.device.type == "cuda":   # on CPU it changes none of our kernels and
            torch.use_deterministic_algorithms(True, warn_only=True)   # costs 1.3 s (imports torch._inductor)
        self.task = task_spec(read_checkpoint(checkpoint)["task"])
        model = prepare_for_inference(load_model(checkpoint, device=self.device))
        self.replaced = make_deterministic(model) if deterministic else 0
        self.model = model
        self.dims = int(getattr(model, "dims", 3))
        self.refine = [prepare_for_inference(load_model(r, device=self.device)) for r in refine]
        for m in self.refine:
            self.replaced += make_deterministic(m) if deterministic else 0
        self.refine_iterations = int(refine_iterations)
        self.section_batch = max(1, int(section_batch))
        self.channels_last = bool(getattr(model, "hpcfault_channels_last", False))

    def _forward(self, t: Any, where: Any) -> Any:
        torch = self.torch
        if self.channels_last:
            t = t.contiguous(memory_format=torch.channels_last if t.dim() == 4 else torch.channels_last_3d)
        amp = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(self.dtype)
        with torch.inference_mode(), torch.autocast(device_type=self.device.type, dtype=amp,
                                                    enabled=amp is not None):
            y = self.model(t, where)
            for m in self.refine:
                for _ in range(self.refine_iterations):
                    y = m(y.float() if amp is None else y, where)
        return y

    def __call__(self, x: np.ndarray, frame: tuple | None = None, section_axis: int | None = None) -> np.ndarray:
        """The (K, T, I, X) outputs of one normalized block `x`; `frame` = (offset, input shape,
        padded survey shape) from Plan.frame places it in the survey, for the model's survey-grid
        resampling; `section_axis` is the direction of a 2D model's sections."""
        from hpcfault.models.frame import Frame
        from hpcfault.tasks.decode import decode

        torch = self.torch
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.dims == 3:
            where = Frame(*frame) if frame is not None else None
            y = self._forward(torch.from_numpy(x)[None, None].to(self.device), where)
            return decode(self.task, y[0]).cpu().numpy()
        if section_axis not in (1, 2):
            from hpcfault.errors import HpcfaultError

            raise HpcfaultError(f"a 2D section model needs the sections' direction (got {section_axis}); "
                                "plan it with sections inline and/or xline")
        sections = np.moveaxis(x, section_axis, 0)                 # (n, H, W)
        parts = []
        with torch.inference_mode():
            for a in range(0, len(sections), self.section_batch):
                t = torch.from_numpy(np.ascontiguousarray(sections[a:a + self.section_batch]))[:, None]
                y = self._forward(t.to(self.device), None)            # (b, C, H, W)
                parts.append(decode(self.task, y.transpose(0, 1)).cpu().numpy())   # (K, b, H, W)
        out = np.concatenate(parts, axis=1)                           # (K, n, H, W)
        return np.ascontiguousarray(np.moveaxis(out, 1, 1 + section_axis))
