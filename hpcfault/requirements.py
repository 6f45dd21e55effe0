"""What the code needs of its environment, checked at start-up with one clear line.

torch: the oldest version whose API the code uses is TORCH_MIN (torch.amp.GradScaler(device, ...)
appeared in 2.3; `setup.py` requires the same). Tested versions are listed in docs/cluster.md.
A site's torch module can bypass pip's check, so `train` and `predict` call `check_torch()` too.
"""
from __future__ import annotations

import re

from hpcfault.errors import HpcfaultError

TORCH_MIN = (2, 3)


def version_tuple(text: str) -> tuple[int, int]:
    """'2.1.2+cu121' -> (2, 1); '2.13.0a0+git' -> (2, 13)."""
    m = re.match(r"\s*(\d+)\.(\d+)", str(text))
    if not m:
        raise HpcfaultError(f"cannot read the torch version (got {text!r}); install torch>={'.'.join(map(str, TORCH_MIN))}")
    return int(m.group(1)), int(m.group(2))


def torch_problem(version: str) -> str | None:
    """The one-line complaint about torch `version`, or None when it is new enough."""
    if version_tuple(version) >= TORCH_MIN:
        return None
    need = ".".join(map(str, TORCH_MIN))
    return (f"hpcfault needs torch>={need} (got torch {version}); install torch {need} or newer (the CUDA build "
            f"your site's driver supports: https://pytorch.org/get-started/previous-versions/)")


def check_torch() -> None:
    import torch

    problem = torch_problem(torch.__version__)
    if problem:
        raise HpcfaultError(problem)
