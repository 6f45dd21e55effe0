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


def test_stop_at_ends_a_run_early_on_the_full_schedule(tmp_path):
    """stop_at=2 of steps=4: the run stops at step 2 with the lr of step 2 of a 4-step schedule;
    resumed without stop_at it goes on to 4."""
    import json

    from conftest import REPO, run_cli

    args = ["train", REPO / "configs" / "train-tiny.yaml", "--run-dir", tmp_path / "r", "steps=4",
            "validation.every=0", "optim.schedule=cosine", "optim.lr_final=0"]
    first = run_cli(*args, "stop_at=2", env={"OMP_NUM_THREADS": "1"})
    assert "to step 2" in first.stdout
    again = run_cli(*args, "stop_at=2", env={"OMP_NUM_THREADS": "1"})
    assert "complete at step 2" in again.stdout
    run_cli(*args, env={"OMP_NUM_THREADS": "1"})
    lrs = [json.loads(x)["lr"] for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
           if json.loads(x)["kind"] == "train"]
    assert lrs[0] == pytest.approx(1e-3) and lrs[-1] < lrs[1] < lrs[0]
