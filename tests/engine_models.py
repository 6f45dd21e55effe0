"""Small models and surveys for the task-engine tests (tests/test_task_engine.py), importable by the
tests and by the Python snippets they run under mpiexec (sys.path: the tests folder).

`AffineProbe` is a stand-in for a relative-geologic-time network: it returns its (normalized) input
scaled and shifted by amounts that depend only on the block's place in the survey, exactly the
ambiguity a real RGT model has per block. `register()` adds it to the model registry and adds a
task `test-rgt` (one output merged with the per-block affine rule) to the task table, in this
process only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class AffineProbeConfig:
    seed: int = 1


class AffineProbe(nn.Module):
    size_multiple = 16

    def __init__(self, seed: int = 1) -> None:
        super().__init__()
        self.config = AffineProbeConfig(seed)
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, frame=None) -> torch.Tensor:
        offset = (0, 0, 0) if frame is None else tuple(int(o) for o in frame.offset)
        rng = np.random.default_rng([self.config.seed, *offset])
        scale, shift = float(rng.uniform(0.5, 2.0)), float(rng.uniform(-3.0, 3.0))
        return x * scale + shift + self.dummy * 0


def register(monkeypatch=None) -> None:
    """Add the probe model and the test-rgt task to the tables; with pytest's `monkeypatch` only
    for the test (a snippet under mpiexec registers them for its own process)."""
    from hpcfault.models import registry
    from hpcfault.tasks import TASKS
    from hpcfault.tasks.spec import Output, Task

    spec = registry.ModelSpec("test-affine-probe", AffineProbeConfig, AffineProbe, tasks=("test-rgt",))
    task = Task("test-rgt", "test: a relative time volume merged with per-block affine maps",
                (Output("rgt", "value", range=(0.0, 1.0), merge="affine", colormap="viridis"),), labels=("rgt",))
    setitem = monkeypatch.setitem if monkeypatch is not None else (lambda d, k, v: d.__setitem__(k, v))
    setitem(registry.MODELS, "test-affine-probe", spec)
    setitem(TASKS, "test-rgt", task)


def smooth_increasing(shape, seed: int = 0) -> np.ndarray:
    """A smooth field increasing with time on every trace (a relative geologic time)."""
    rng = np.random.default_rng(seed)
    t = np.arange(shape[0], dtype=np.float64)[:, None, None]
    i = np.arange(shape[1], dtype=np.float64)[None, :, None]
    x = np.arange(shape[2], dtype=np.float64)[None, None, :]
    bump = 3.0 * np.sin(i / 9.0 + rng.uniform(0, 6)) * np.cos(x / 13.0 + rng.uniform(0, 6))
    return ((t + bump + 0.05 * t * np.sin(x / 17.0)) / shape[0]).astype(np.float32)


def unet_fault_strike(path, *, near_wrap: bool = False, seed: int = 0) -> None:
    """A tiny UNet3D of the fault-strike task. `near_wrap`: its strike sits at the 0/180 wrap with a
    sign that varies from voxel to voxel (probability ~0.99, cos 2a = 1, sin 2a tiny)."""
    from hpcfault.models import build_model, save_checkpoint

    torch.manual_seed(seed)
    model = build_model("unet3d", task="fault-strike", filters=[4, 8])
    if near_wrap:
        with torch.no_grad():
            w, b = model.head.weight, model.head.bias
            w[0].zero_()
            b[0] = 5.0
            w[1].zero_()
            b[1] = 1.0
            w[2].normal_(0.0, 1e-3)
            b[2] = 0.0
    save_checkpoint(path, model, "unet3d", task="fault-strike")
