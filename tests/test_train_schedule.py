"""The learning-rate schedule and the MD + BCE loss of the default recipe."""
from __future__ import annotations

import math

import pytest
import torch

from hpcfault.losses import build_loss, md_loss


def _trainer_lr(**optim):
    from types import SimpleNamespace

    from hpcfault.train.config import OptimConfig
    from hpcfault.train.trainer import Trainer

    cfg = SimpleNamespace(optim=OptimConfig(**optim), steps=100)
    return lambda step: Trainer.learning_rate(SimpleNamespace(cfg=cfg), step)


def test_cosine_schedule_with_warmup():
    lr = _trainer_lr(lr=1e-3, schedule="cosine", lr_final=1e-5, warmup=10)
    assert lr(0) == pytest.approx(1e-4)
    assert lr(5) == pytest.approx(1e-4 + 0.9e-3 * 0.5)
    assert lr(10) == pytest.approx(1e-3)
    assert lr(55) == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + math.cos(math.pi * 0.5)))
    assert lr(100) == pytest.approx(1e-5)
    const = _trainer_lr(lr=2e-3)
    assert {const(s) for s in (0, 50, 99)} == {2e-3}


def test_md_plus_bce_teaches_fault_free_cubes():
    """MD is constant (no gradient) on a cube without labelled faults; the added BCE is not."""
    z = torch.zeros(1, 1, 4, 4, 4, requires_grad=True)
    target = torch.zeros(1, 1, 4, 4, 4)
    md_loss(torch.sigmoid(z), target).backward()
    assert float(z.grad.abs().max()) == 0.0
    z.grad = None
    build_loss("md", gamma=0.7, bce_weight=1.0)(torch.sigmoid(z), target).backward()
    assert float(z.grad.min()) > 0          # pushes every voxel towards "no fault"
    with pytest.raises(Exception, match="takes no option"):
        build_loss("bce", bce_weight=1.0)
