"""Model channels -> a task's outputs (torch; imported by the stages that run models).

Probabilities and values are their channel as is; an angle of period P is the direction of its
two channels (c, s) taken as the unit vector at 2 pi a / P, in degrees in [0, P). `encode_angle`
is the inverse, for training targets.
"""
from __future__ import annotations

import math

import torch

from hpcfault.tasks.spec import Task


def decode(task: Task, y: torch.Tensor) -> torch.Tensor:
    """(C, ...) model channels -> (K, ...) float32 outputs in the task's order."""
    if task.channels == len(task.outputs):           # no angles: every channel is an output as it is
        return y.float()
    parts = []
    for out, sl in zip(task.outputs, task.channel_slices().values()):
        ch = y[sl].float()
        if out.kind == "angle":
            a = torch.atan2(ch[1], ch[0]) * (out.period / (2.0 * math.pi))
            parts.append(torch.remainder(a, out.period))
        else:
            parts.append(ch[0])
    return torch.stack(parts)


def encode_angle(degrees: torch.Tensor, period: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin) of 2 pi a / P: the unit vector a model's two angle channels should produce."""
    phi = degrees * (2.0 * math.pi / period)
    return torch.cos(phi), torch.sin(phi)
