"""The training objective: for each of the task's targets, its model channels and loss function.

The first target's loss comes from the training config (`loss`, or the phase of `phases` a step
falls in: hpcfault.train.config.loss_at); the task's other targets bring their own unless the
config's `target_losses` names their output. Every target keeps the task's weight unless the
config's `target_weights` names its output.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from hpcfault.train.config import TrainConfig


def objective(cfg: TrainConfig, task: Any, loss: Any = None) -> list[tuple[Any, slice, Any]]:
    """(target, model channels, loss function) for each of the task's targets. The first target's
    loss is `loss` (default the config's `loss`; for the fault task: MD, BCE or Dice, as always; a
    loss schedule passes its phase's); the others come from the task."""
    from hpcfault.losses import build_loss, target_loss

    loss = cfg.loss if loss is None else loss
    slices = task.channel_slices()
    out = []
    for k, t in enumerate(task.targets):
        if t.output in cfg.target_weights:
            t = replace(t, weight=float(cfg.target_weights[t.output]))
        if t.output in cfg.target_losses:
            t = replace(t, loss=str(cfg.target_losses[t.output]))
        if k == 0:
            fn = build_loss(loss.name, **loss.options())
        else:
            fn = target_loss(t.loss, task.output(t.output).period, **dict(t.options))
        out.append((t, slices[t.output], fn))
    return out
