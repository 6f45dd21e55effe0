"""`deterministic: true` in training, on CPU and on CUDA.

CPU: torch.use_deterministic_algorithms in its strict form; two runs with the same config give
bit-identical weights.

CUDA: cuDNN picks deterministic convolution algorithms (no benchmark autotuning), cuBLAS gets the
fixed workspace it needs for reproducible matrix products (CUBLAS_WORKSPACE_CONFIG=:4096:8, set
before the first cuBLAS call unless the user set it), and torch.use_deterministic_algorithms runs
with warn_only: trilinear upsampling's CUDA backward has no deterministic kernel (it adds with
atomics), and the strict form would stop training at its first backward pass. So on a GPU two runs
follow each other to floating-point rounding, not bit for bit; everything that has a
deterministic kernel uses it.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import MutableMapping

log = logging.getLogger(__name__)

CUBLAS_ENV, CUBLAS_WORKSPACE = "CUBLAS_WORKSPACE_CONFIG", ":4096:8"


@dataclass(frozen=True)
class Determinism:
    warn_only: bool        # torch.use_deterministic_algorithms(True, warn_only=...)
    cudnn: bool            # cudnn.deterministic on, benchmark off
    cublas_workspace: bool


def settings(device_type: str) -> Determinism:
    cuda = device_type == "cuda"
    return Determinism(warn_only=cuda, cudnn=cuda, cublas_workspace=cuda)


def make_deterministic(device_type: str, environ: MutableMapping[str, str] | None = None) -> Determinism:
    import torch

    environ = os.environ if environ is None else environ
    s = settings(device_type)
    if s.cublas_workspace:
        environ.setdefault(CUBLAS_ENV, CUBLAS_WORKSPACE)
    if s.cudnn:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        log.warning("deterministic on CUDA: deterministic kernels where torch has them; trilinear upsampling's "
                    "backward has none, so runs agree to rounding, not bit for bit")
    torch.use_deterministic_algorithms(True, warn_only=s.warn_only)
    return s
