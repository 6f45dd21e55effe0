"""The output head shared by the task-agnostic models: a 1x1 convolution to one channel per task
channel, then each channel's activation ("sigmoid" for probabilities, "none" for values and the
unit-vector components of angles; see hpcfault/tasks/spec.py)."""
from __future__ import annotations

from typing import Sequence

import torch

ACTIVATIONS = ("sigmoid", "none")


def check_head(head: Sequence[str]) -> tuple[str, ...]:
    from hpcfault.errors import HpcfaultError

    head = tuple(str(a) for a in head)
    if not head or any(a not in ACTIVATIONS for a in head):
        raise HpcfaultError(f"a model head lists one activation per output channel from {ACTIVATIONS} "
                            f"(got {list(head)}); e.g. head: [sigmoid, none, none]")
    return head


def apply_head(y: torch.Tensor, head: tuple[str, ...]) -> torch.Tensor:
    """Each channel of y (N, C, ...) through its activation; all-sigmoid heads in one call."""
    if all(a == "sigmoid" for a in head):
        return torch.sigmoid(y)
    if all(a == "none" for a in head):
        return y
    parts = [torch.sigmoid(y[:, c:c + 1]) if a == "sigmoid" else y[:, c:c + 1] for c, a in enumerate(head)]
    return torch.cat(parts, 1)
