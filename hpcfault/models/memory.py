"""Memory planner: peak bytes per input voxel of one forward pass, and the largest block that fits.

The formulas count the tensors alive at the peak of a forward pass of `prepare_for_inference(model)`
under torch.inference_mode() (BN folded, in-place activations), including the input tensor, with
s = bytes per element of the activation dtype. Sizes are in channels at full resolution; a tensor
of c channels at 1/2**k resolution counts c / 8**k.

Fault-Net (w = widths) peaks in the full-resolution BasicBlock of the last layer, during its
second convolution: the upsampled input, the first conv's output and the second conv's output
(3*w0), plus the input (1), the 1/2-resolution skip and head tensors (2*w0/8), and the 1/4-resolution
head tensors (4*w0/64 + w1/512 + w2/4096):  s * (1 + 3*w0 + w0/4 + w0/16 + w1/512 + w2/4096)
= 27.54 s (110.2 bytes in fp32). Without folding (a plain eval model) BatchNorm adds one more
full-resolution tensor (4*w0 instead of 3*w0).

UNet3D (f = filters) peaks at the concatenation of its last decoder level: input (1), the 1/2-resolution
feature (f1/8), its upsampled copy (f1), the skip (f0) and the concatenation (f0 + f1):
s * (1 + f1/8 + 2*(f0 + f1)) = 101 s.

The dtype is that of the model and its activations (model.to(dtype), input cast); under autocast
some tensors stay fp32 and the peak is higher than the fp16 figure.

`measure_peak_bytes` measures the same quantity on CPU from the profiler's allocator events, or
with torch.cuda.max_memory_allocated on a GPU; tests/test_memory_plan.py checks formula against
measurement. Pure functions here; torch is imported only by the measuring function.
"""
from __future__ import annotations

import math
from typing import Any

from hpcfault.errors import HpcfaultError

DTYPE_BYTES = {"fp32": 4, "float32": 4, "fp16": 2, "float16": 2, "bf16": 2, "bfloat16": 2}
BLOCK_MULTIPLE = 16

_DEFAULTS = {
    "faultnet": {"widths": (8, 16, 24)},
    "faultnet-nomcf": {"widths": (8, 16, 24)},
    "unet3d": {"filters": (16, 32, 64, 128)},
}


def dtype_bytes(dtype: str) -> int:
    if dtype not in DTYPE_BYTES:
        raise HpcfaultError(f"unknown dtype (got {dtype!r}); valid: fp32, fp16, bf16")
    return DTYPE_BYTES[dtype]


def channels_at_peak(name: str, config: dict[str, Any] | None = None, folded: bool = True) -> float:
    """Full-resolution channel-equivalents alive at the forward pass's peak (see module doc)."""
    if name not in _DEFAULTS:
        raise HpcfaultError(f"unknown model (got {name!r}); valid models: {', '.join(_DEFAULTS)}")
    cfg = {**_DEFAULTS[name], **(config or {})}
    if name.startswith("faultnet"):
        w0, w1, w2 = cfg["widths"]
        tail = (3 if folded else 4) * w0
        return 1 + tail + w0 / 4 + w0 / 16 + w1 / 512 + w2 / 4096
    f0, f1 = cfg["filters"][0], cfg["filters"][1]
    return 1 + f1 / 8 + 2 * (f0 + f1)


def bytes_per_voxel(name: str, dtype: str = "fp32", config: dict[str, Any] | None = None,
                    folded: bool = True) -> float:
    """Peak bytes per input voxel of one forward pass of model `name` in `dtype` (formula)."""
    return channels_at_peak(name, config, folded) * dtype_bytes(dtype)


def parse_bytes(text: str) -> int:
    """'16GiB', '16 GB', '512MiB', '1.5T', '2e9' -> bytes (binary for KiB/MiB/GiB and K/M/G/T)."""
    units = {"": 1, "b": 1, "k": 2**10, "kib": 2**10, "kb": 10**3, "m": 2**20, "mib": 2**20, "mb": 10**6,
             "g": 2**30, "gib": 2**30, "gb": 10**9, "t": 2**40, "tib": 2**40, "tb": 10**12}
    raw = str(text).strip().lower().replace(" ", "")
    num = raw.rstrip("kmgtib")
    unit = raw[len(num):]
    try:
        value = float(num)
    except ValueError:
        value = -1.0
    if unit not in units or value <= 0 or not math.isfinite(value):
        raise HpcfaultError(f"cannot read the memory size (got {text!r}); write e.g. 16GiB, 16GB, 512MiB")
    return int(value * units[unit])


def largest_block(name: str, mem_bytes: int, dtype: str = "fp32", *, config: dict[str, Any] | None = None,
                  reserve_bytes: int = 0, multiple: int = BLOCK_MULTIPLE) -> int:
    """The largest cube edge (a multiple of `multiple`) whose forward pass fits in `mem_bytes`.

    `reserve_bytes` is kept free for the weights, the CUDA context, the block being written...
    Returns 0 when not even one `multiple`-cube fits.
    """
    budget = mem_bytes - reserve_bytes
    bpv = bytes_per_voxel(name, dtype, config)
    if budget <= 0:
        return 0
    edge = int((budget / bpv) ** (1.0 / 3.0)) // multiple * multiple + multiple
    while edge > 0 and edge ** 3 * bpv > budget:
        edge -= multiple
    return max(edge, 0)


def measure_peak_bytes(model, shape, dtype: str = "fp32", device: str = "cpu") -> int:
    """Measured peak bytes of one forward pass of `model` on a random input of `shape` (T, I, X).

    The input is created inside the measured region, so it counts as in the formula. CPU: the
    profiler's allocator events (an op's own allocations at its start, its own frees at its end, which
    can only over-estimate). CUDA: torch.cuda.max_memory_allocated minus what was allocated before.
    """
    import torch

    tdtype = {2: torch.bfloat16 if dtype.startswith("b") else torch.float16, 4: torch.float32}[dtype_bytes(dtype)]
    size = (1, 1, *shape)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        with torch.inference_mode():
            y = model(torch.rand(size, device=device, dtype=tdtype))
            del y
        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated() - base)
    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode():
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            y = model(torch.rand(size, dtype=tdtype))
            del y
    timeline = []
    for event in prof.events():
        own = event.self_cpu_memory_usage
        if own > 0:
            timeline.append((event.time_range.start, own))
        elif own < 0:
            timeline.append((event.time_range.end, own))
    timeline.sort()
    current = peak = 0
    for _, delta in timeline:
        current += delta
        peak = max(peak, current)
    return int(peak)
