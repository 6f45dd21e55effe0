"""Item 6 of issue 19: `deterministic: true` works on CUDA (and stays bitwise on CPU).

What it sets per device is a pure table; applying it is checked on torch's global flags (they
exist on CPU builds). A real 2-step training with deterministic: true on CPU must give the same
weights twice. On a GPU, tools/gpu_smoke.sh trains with it.
"""
import numpy as np
import pytest
import torch

from conftest import REPO, run_cli
from hpcfault.train.determinism import CUBLAS_ENV, Determinism, make_deterministic, settings


@pytest.fixture
def restore_flags():
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    yield
    torch.use_deterministic_algorithms(before[0], warn_only=before[1])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[2], before[3]


@pytest.mark.parametrize("device, expect", [
    ("cuda", Determinism(warn_only=True, cudnn=True, cublas_workspace=True)),
    ("cpu", Determinism(warn_only=False, cudnn=False, cublas_workspace=False)),
])
def test_settings(device, expect):
    assert settings(device) == expect


def test_cuda_settings_applied(restore_flags):
    env = {}
    make_deterministic("cuda", env)
    assert env[CUBLAS_ENV] == ":4096:8"
    assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    env = {CUBLAS_ENV: ":16:8"}   # the user's own choice stays
    make_deterministic("cuda", env)
    assert env[CUBLAS_ENV] == ":16:8"


def test_cpu_settings_are_strict(restore_flags):
    env = {}
    make_deterministic("cpu", env)
    assert env == {}
    assert torch.are_deterministic_algorithms_enabled() and not torch.is_deterministic_algorithms_warn_only_enabled()


def test_deterministic_training_on_cpu_repeats_bit_for_bit(tmp_path):
    from hpcfault.models.checkpoint import read_checkpoint

    weights = []
    for name in ("a", "b"):
        run = tmp_path / name
        run_cli("train", REPO / "configs" / "train-tiny.yaml", "--run-dir", run, "steps=2", "deterministic=true",
                "validation.every=0")
        state = read_checkpoint(run / "checkpoints" / "model.pt")["state_dict"]
        weights.append({k: v.numpy() for k, v in state.items()})
    assert all(np.array_equal(weights[0][k], weights[1][k]) for k in weights[0])
