"""Float32 means float32: TF32 (tensor-core float32 with a 10-bit mantissa, Ampere and later) only
when asked for, as its own compute precision `tf32`.

torch lets cuDNN convolutions run in TF32 by default (torch.backends.cudnn.allow_tf32, or from
torch 2.9 cudnn.conv.fp32_precision = "tf32"), so an "fp32" run on an A100/H100 would differ from
a CPU run by more than float32 rounding and voxels near 0.5 would flip. `set_tf32` sets both
convolutions and matrix products, with the API the installed torch has. CPU kernels do not use
TF32; the setting changes nothing there.
"""
from __future__ import annotations

from typing import Any

COMPUTE_DTYPES = ("fp32", "tf32", "fp16", "bf16")


def gpu_has_bf16(capability: tuple[int, int]) -> bool:
    """bfloat16 in hardware: compute capability 8.0 (Ampere) and newer. torch.cuda.is_bf16_supported()
    also says yes on older GPUs, which only emulate it (far slower than fp16)."""
    return tuple(capability) >= (8, 0)


def channels_last(device_type: str, dtype: str) -> bool:
    """Channels-last activations for tensor cores: half precision on GPUs only."""
    return device_type == "cuda" and dtype in ("fp16", "bf16")


def pointwise_replacement(device_type: str, deterministic: bool) -> bool:
    """The elementwise replacement of small 1x1x1 convolutions (forward.make_deterministic) is for
    CPU kernels whose results depend on the thread count; on a GPU cuDNN's are used."""
    return deterministic and device_type == "cpu"


def autocast_dtype(dtype: str) -> Any:
    """The torch autocast dtype of a compute precision (None: no autocast, float32 kernels)."""
    import torch

    return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(dtype)


def set_tf32(enabled: bool) -> None:
    import torch

    backends = torch.backends
    conv = getattr(backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):   # torch >= 2.9: the new API only
        value = "tf32" if enabled else "ieee"
        conv.fp32_precision = value
        backends.cuda.matmul.fp32_precision = value
    else:
        backends.cudnn.allow_tf32 = enabled
        backends.cuda.matmul.allow_tf32 = enabled


def tf32_state() -> dict[str, bool]:
    """Whether cuDNN convolutions and CUDA matrix products may use TF32 now."""
    import torch

    backends = torch.backends
    conv = getattr(backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        return {"conv": conv.fp32_precision == "tf32", "matmul": backends.cuda.matmul.fp32_precision == "tf32"}
    return {"conv": bool(backends.cudnn.allow_tf32), "matmul": bool(backends.cuda.matmul.allow_tf32)}
