"""Our Fault-Net with the published weights reproduces the published TorchScript files.

Reads ../shared/weights (skips with the reason when absent). The two run the same operations in
the same order, so the outputs agree to the bit; the test demands <= 1e-5 max abs (fp32).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hpcfault.models import FaultNet
from tests.conftest import shared_path

FILES = ["FaultNet_Gamma0.5.pt", "FaultNet_Gamma0.6.pt", "FaultNet_Gamma0.7.pt"]
pytestmark = [pytest.mark.shared, pytest.mark.filterwarnings("ignore:.*torch.jit.load.*:DeprecationWarning")]


@pytest.fixture(autouse=True)
def _one_thread(torch_one_thread):
    """Every test here runs torch on one thread (conftest.torch_one_thread)."""


def synthetic_like(shape, seed):
    """A synthetic faulted seismic cube (hpcfault.data.synth) scaled to [0, 1] like survey data."""
    from hpcfault.data.synth import synthesize

    seismic = synthesize(shape, seed)[0].astype(np.float64)
    seismic = (seismic - seismic.min()) / (seismic.max() - seismic.min())
    return torch.from_numpy(seismic.astype(np.float32))[None, None]


def random_input(shape, seed):
    return torch.rand((1, 1, *shape), generator=torch.Generator().manual_seed(seed))


def ours_and_reference(name):
    scripted = torch.jit.load(str(shared_path("weights", name)), map_location="cpu").eval()
    model = FaultNet().eval()
    model.load_state_dict(scripted.state_dict(), strict=True)
    return model, scripted


def max_diff(model, scripted, x):
    with torch.inference_mode():
        return (model(x) - scripted(x)).abs().max().item()


@pytest.mark.parametrize("name", FILES)
def test_state_dict_loads_strict(name):
    scripted = torch.jit.load(str(shared_path("weights", name)), map_location="cpu")
    model = FaultNet()
    result = model.load_state_dict(scripted.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert sum(p.numel() for p in model.parameters()) == 421_597
    ours = model.state_dict()
    assert all(ours[k].shape == v.shape for k, v in scripted.state_dict().items())


@pytest.mark.parametrize("name", FILES)
def test_output_matches_torchscript(name):
    model, scripted = ours_and_reference(name)
    assert max_diff(model, scripted, random_input((64, 64, 64), 1)) <= 1e-5
    assert max_diff(model, scripted, synthetic_like((64, 64, 64), 2)) <= 1e-5
    assert max_diff(model, scripted, synthetic_like((96, 128, 80), 3)) <= 1e-5


def test_output_matches_torchscript_128():
    model, scripted = ours_and_reference("FaultNet_Gamma0.7.pt")
    x = synthetic_like((128, 128, 128), 7)
    with torch.inference_mode():
        ours, ref = model(x), scripted(x)
    assert (ours - ref).abs().max().item() <= 1e-5
    assert 0.0 < (ref > 0.5).float().mean().item() < 0.5  # the published weights do find faults here
    assert max_diff(model, scripted, random_input((128, 128, 128), 8)) <= 1e-5
