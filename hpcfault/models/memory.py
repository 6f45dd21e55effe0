"""Memory planner: peak bytes of one forward pass for a block shape, and the largest block that fits.

The formulas count the tensors alive at the peak of a forward pass of `prepare_for_inference(model)`
under torch.inference_mode() (BN folded, in-place activations), including the input tensor, with
s = bytes per element of the activation dtype. Sizes are in channels at full resolution; a tensor
of c channels at 1/2**k resolution counts c / 8**k.

Fault-Net (w = widths) has two candidate peaks:

* the 1/2-resolution MCF block of the head (fuse_layer2): the input (1), the concatenation
  (2*w0/8), the normalized features n (2*w0/8), the dilated attention conv (w0/8) and its 1x1
  output (2*w0/8), the attention being applied in place: 1 + 7*w0/8 = 8 channels (32 B/voxel fp32);
* the full-resolution tail (x2 upsampling, BasicBlock, 1x1 conv, sigmoid), computed in time slabs
  of `tail_slab` voxels with a 2-voxel halo: the input and the output (2), the 1/2-resolution head
  output (w0/8) and, for a slab of L = min(T, tail_slab + 4) time slices out of T, the upsampled
  slab and the two convolution outputs (3*w0) plus 2 for the resampling's and the 1x1 conv's
  temporaries (measured; conservative by up to 3%): 2 + w0/8 + (3*w0 + 2) * L/T.
  With tail_slab 0 the tail runs in one piece: 1 + w0/8 + 3*w0 = 26 channels (104 B/voxel).

So from T = 64 time slices on, a Fault-Net block needs 32 B/voxel in fp32 (256^3: 0.5 GiB;
528^3: 4.4 GiB), against 104 B/voxel with the tail in one piece. Without the MCF (the ablation)
the head's 1x1 fusion peaks at 1 + 3*w0/8. A plain eval model (BN not folded, whole tail) adds
one full-resolution tensor: 1 + w0/8 + 4*w0 (for blocks of 128 voxels and more; on small blocks its
im2col fallback for small convolutions adds workspace).

UNet3D (f = filters) peaks at the concatenation of its last decoder level: input (1), the 1/2-resolution
feature (f1/8), its upsampled copy (f1), the skip (f0) and the concatenation (f0 + f1):
s * (1 + f1/8 + 2*(f0 + f1)) = 101 s.

The multi-task networks (mtl, mtl-refine; w = widths, c = input channels: 1, or 7 for MTR) peak in
the full-resolution U-block of their last decoder (DHR): alive are the input (c), the first
encoder stage's output e1 (w1), the six output channels already made (fault 1, dip 2, strike 2,
RGT 1) and, inside the block, its input (w1 + w2), its input convolution h (w1), the upsampled
level below (u: 2 w1, or the bottleneck when the block has one level), their concatenation
(w1 + u) and the convolution's output (w1); plus the half-resolution features (the encoder's and
the decoder's, w2/8 each) and the quarter-resolution ones (w3/64):
c + 6 + 5 w1 + w2 + 2 u + w2/4 + w3/64 (99.5 channels for the configuration 8/16/32, 192 for the
reference 16/32/64). Plain instance normalization (the reference's `norm: instance`), and any
normalization left unfolded, adds 3 w1 (its outputs beside the convolutions'): the reference
network needs 240 channels, 960 B/voxel in fp32 (a 256^3 block: 15 GiB).

2D section models take a batch of sections: their `shape` is (sections, H, W) and a "voxel" is a
pixel of a section.

UNet2D (f = filters) peaks in its last level: the input (1), that level's input (f1/4), the skip
(f0), the concatenation (f0 + f1) and two convolution/BatchNorm outputs (2 f0):
s * (1 + f1/4 + f1 + 4 f0) = 105 s (BN folded or not).

U-Net-ResNet (w = width, d = decoder channels) peaks in the last decoder block (full resolution):
the input (1), the encoder maps kept for the skips (w/4 + w/16 + w/32 + w/64 + w/128), the block's
input (d3/4), its x2 upsampled copy (d3) and the full-resolution outputs of its convolutions alive
at once: 2 d4 with BN folded (prepare_for_inference), 3 d4 without (a BN output beside its
input): 1 + 23.5 + 8 + 32 + 32 = 96.5 channels (112.5 unfolded) with the defaults, for ResNet-18
and -34 alike (the encoder's depth adds weights, not peak activations).
Flip TTA keeps the first prediction and the mirrored input (1 + C more for C output channels);
sections whose sizes are not multiples of 32 are padded first (their pixels count at the padded
size).

The dtype is that of the model and its activations (model.to(dtype), input cast); under autocast
some tensors stay fp32 and the peak is higher than the fp16 figure.

`measure_peak_bytes` measures the same quantity on CPU from the profiler's allocator events, or
with torch.cuda.max_memory_allocated on a GPU; tests/test_memory_plan.py checks formula against
measurement. Pure functions here; torch is imported only by the measuring function.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from hpcfault.errors import HpcfaultError

DTYPE_BYTES = {"fp32": 4, "float32": 4, "tf32": 4, "fp16": 2, "float16": 2, "bf16": 2, "bfloat16": 2}
BLOCK_MULTIPLE = 16
TAIL_SLAB = 16       # time slices per slab of Fault-Net's full-resolution tail (prepare_for_inference)
TAIL_HALO = 2        # its BasicBlock's two 3x3x3 convolutions
REFERENCE_SHAPE = (256, 256, 256)   # block shape behind a single bytes-per-voxel figure
# On CUDA the forward keeps more alive than the formulas count: measured on an NVIDIA H200 (torch
# 2.11, cuDNN 9.19, tools/gpu_smoke.sh), Fault-Net at 256^3 peaked at 44 B/voxel in fp32 and 22 in
# bf16 against the formula's 32 and 16, three full-resolution channels more in both precisions (so
# activations, not a fixed workspace). The planner adds them on GPUs (cuda_extra_bytes_per_voxel).
CUDA_EXTRA_CHANNELS = 3.0

_DEFAULTS = {
    "faultnet": {"widths": (8, 16, 24)},
    "faultnet-nomcf": {"widths": (8, 16, 24)},
    "unet3d": {"filters": (16, 32, 64, 128)},
    "mtl": {"widths": (16, 32, 64), "bottleneck": 256, "depths": (3, 2, 3), "norm": "instance"},
    "mtl-refine": {"widths": (16, 32, 64), "bottleneck": 256, "depths": (3, 2, 3), "norm": "instance"},
    "unet2d": {"filters": (16, 32, 64, 128)},
    "unet-resnet18": {"width": 64, "decoder": (256, 128, 64, 32, 16), "flip_tta": False, "head": ("sigmoid",)},
    "unet-resnet34": {"width": 64, "decoder": (256, 128, 64, 32, 16), "flip_tta": False, "head": ("sigmoid",)},
}
SECTION_MULTIPLE = 32      # U-Net-ResNet pads sections to multiples of 32


def has_formula(name: str) -> bool:
    """Whether the planner knows model `name` (others run with the block edge asked for)."""
    return name in _DEFAULTS


def dtype_bytes(dtype: str) -> int:
    if dtype not in DTYPE_BYTES:
        raise HpcfaultError(f"unknown dtype (got {dtype!r}); valid: fp32, tf32, fp16, bf16")
    return DTYPE_BYTES[dtype]


def channels_at_peak(name: str, config: dict[str, Any] | None = None, folded: bool = True,
                     shape: Sequence[int] = REFERENCE_SHAPE, tail_slab: int = TAIL_SLAB) -> float:
    """Full-resolution channel-equivalents alive at the forward pass's peak for a block of `shape`
    (see module doc)."""
    if name not in _DEFAULTS:
        raise HpcfaultError(f"unknown model (got {name!r}); valid models: {', '.join(_DEFAULTS)}")
    cfg = {**_DEFAULTS[name], **(config or {})}
    if name.startswith("mtl"):
        w1, w2, w3 = cfg["widths"]
        up = 2 * w1 if cfg["depths"][0] >= 2 else cfg["bottleneck"]
        cin = 7 if name == "mtl-refine" else 1
        peak = cin + 6 + 5 * w1 + w2 + 2 * up + w2 / 4 + w3 / 64
        unfolded = cfg["norm"] == "instance" or (not folded and cfg["norm"] != "none")
        return peak + (3 * w1 if unfolded else 0)
    if name.startswith("faultnet"):
        w0 = cfg["widths"][0]
        if not folded:
            return 1 + w0 / 8 + 4 * w0
        head = 1 + 7 * w0 / 8 if cfg.get("mcf", name == "faultnet") else 1 + 3 * w0 / 8
        time = int(shape[0])
        if tail_slab > 0:
            tail = 2 + w0 / 8 + (3 * w0 + 2) * min(time, tail_slab + 2 * TAIL_HALO) / time
        else:
            tail = 1 + w0 / 8 + 3 * w0
        return max(head, tail)
    if name == "unet2d":
        f0, f1 = cfg["filters"][0], cfg["filters"][1]
        return 1 + f1 / 4 + f1 + 4 * f0
    if name.startswith("unet-resnet"):
        w, d = cfg["width"], cfg["decoder"]
        peak = 1 + w * (1 / 4 + 1 / 16 + 1 / 32 + 1 / 64 + 1 / 128) + d[3] / 4 + d[3] + (2 if folded else 3) * d[4]
        return peak + (1 + len(cfg["head"]) if cfg["flip_tta"] else 0)
    f0, f1 = cfg["filters"][0], cfg["filters"][1]
    return 1 + f1 / 8 + 2 * (f0 + f1)


def peak_bytes(name: str, shape: Sequence[int], dtype: str = "fp32", config: dict[str, Any] | None = None,
               folded: bool = True, tail_slab: int = TAIL_SLAB) -> float:
    """Peak bytes of one forward pass of model `name` on a block of `shape` in `dtype` (formula)."""
    vox = int(shape[0]) * int(shape[1]) * int(shape[2])
    return channels_at_peak(name, config, folded, shape, tail_slab) * dtype_bytes(dtype) * vox


def bytes_per_voxel(name: str, dtype: str = "fp32", config: dict[str, Any] | None = None,
                    folded: bool = True, shape: Sequence[int] = REFERENCE_SHAPE) -> float:
    """Peak bytes per input voxel of one forward pass on a block of `shape` (formula)."""
    return channels_at_peak(name, config, folded, shape) * dtype_bytes(dtype)


def cuda_extra_bytes_per_voxel(dtype: str = "fp32") -> float:
    """Bytes per block voxel that a forward on CUDA holds beyond the formula (CUDA_EXTRA_CHANNELS)."""
    return CUDA_EXTRA_CHANNELS * dtype_bytes(dtype)


def sections_that_fit(name: str, mem_bytes: int, section: Sequence[int], dtype: str = "fp32", *,
                      config: dict[str, Any] | None = None, reserve_bytes: int = 0) -> int:
    """How many sections of `section` (H, W) pixels a 2D model's forward pass takes at once within
    `mem_bytes` (minus `reserve_bytes`); 0 when not even one fits."""
    h, w = (int(v) for v in section)
    if name.startswith("unet-resnet"):
        h, w = -(-h // SECTION_MULTIPLE) * SECTION_MULTIPLE, -(-w // SECTION_MULTIPLE) * SECTION_MULTIPLE
    one = peak_bytes(name, (1, h, w), dtype, config)
    budget = mem_bytes - reserve_bytes
    return int(budget // one) if one > 0 and budget > 0 else 0


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
                  reserve_bytes: int = 0, extra_per_voxel: float = 0.0, multiple: int = BLOCK_MULTIPLE) -> int:
    """The largest cube edge (a multiple of `multiple`) whose forward pass fits in `mem_bytes`.

    `reserve_bytes` is kept free for the weights, the CUDA context...; `extra_per_voxel` bytes per
    block voxel are added for the caller's own block buffers. Returns 0 when not even one
    `multiple`-cube fits.
    """
    budget = mem_bytes - reserve_bytes

    def need(edge: int) -> float:
        return peak_bytes(name, (edge,) * 3, dtype, config) + extra_per_voxel * edge ** 3

    if budget <= 0 or need(multiple) > budget:
        return 0
    edge = multiple
    while need(edge + multiple) <= budget:
        edge += multiple
    return edge


def measure_peak_bytes(model, shape, dtype: str = "fp32", device: str = "cpu") -> int:
    """Measured peak bytes of one forward pass of `model` on a random input of `shape` (T, I, X; a
    2D model: (sections, H, W)).

    The input is created inside the measured region, so it counts as in the formula. CPU: the
    profiler's allocator events (an op's own allocations at its start, its own frees at its end, which
    can only over-estimate). CUDA: torch.cuda.max_memory_allocated minus what was allocated before.
    """
    import torch

    tdtype = {2: torch.bfloat16 if dtype.startswith("b") else torch.float16, 4: torch.float32}[dtype_bytes(dtype)]
    channels = getattr(model, "in_channels", 1)
    size = (shape[0], channels, *shape[1:]) if getattr(model, "dims", 3) == 2 else (1, channels, *shape)
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
