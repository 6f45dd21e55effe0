"""What this CPU can run: bfloat16 convolutions on oneDNN.

PyTorch's oneDNN convolution (`mkldnn_convolution`, which the fused CPU kernels of fused.py call)
runs bfloat16 only on CPUs with AVX-512 BW/VL/DQ or AVX-NE-CONVERT. On other x86-64 CPUs (AVX2
only, e.g. AMD EPYC before Zen 4) it refuses with "bf16 path needs the cpu support ...", and plain
`F.conv3d` falls back to a slow reference kernel. `bf16_support()` tries a tiny bf16 convolution
through the same kernel once per process and says whether it runs and why not.

Who asks: FusedConv3d falls back to F.conv3d for bf16 inputs (warned once); `hpcfault predict
--dtype bf16` and training with `amp: bf16` on a CPU refuse with one line; the tests that need it
skip with the reason. (`ONEDNN_MAX_CPU_ISA=AVX2` makes an AVX-512 machine behave like such a CPU.)
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Support:
    ok: bool
    reason: str


def probe_onednn_bf16() -> None:
    """Run one tiny bfloat16 convolution on the oneDNN kernel; raises when this CPU cannot."""
    import torch

    if not torch.backends.mkldnn.is_available():
        raise RuntimeError("this PyTorch build has no oneDNN (torch.backends.mkldnn.is_available() is False)")
    x = torch.ones(1, 1, 2, 2, 2, dtype=torch.bfloat16)
    w = torch.ones(1, 1, 1, 1, 1, dtype=torch.bfloat16)
    torch.ops.aten.mkldnn_convolution(x, w, None, [0, 0, 0], [1, 1, 1], [1, 1, 1], 1)


def cpu_capability() -> str:
    try:
        import torch

        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # noqa: BLE001 - only used in messages
        return "unknown"


def check_support(probe: Callable[[], None], capability: str = "") -> Support:
    """Support from running `probe`: any RuntimeError/NotImplementedError means no, with its first line."""
    where = f" (CPU capability {capability})" if capability else ""
    try:
        probe()
    except (RuntimeError, NotImplementedError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return Support(False, f"no bfloat16 oneDNN convolution on this CPU{where}: {first}")
    return Support(True, f"bfloat16 oneDNN convolutions run on this CPU{where}")


@functools.lru_cache(maxsize=1)
def bf16_support() -> Support:
    """Whether bf16 convolutions run on oneDNN here (probed once per process)."""
    return check_support(probe_onednn_bf16, cpu_capability())


@functools.lru_cache(maxsize=1)
def warn_bf16_fallback() -> None:
    """Say once per process that bf16 convolutions take the slow path."""
    log.warning("%s; bfloat16 convolutions fall back to PyTorch's reference kernel (slow): use float32 "
                "on this CPU", bf16_support().reason)
