"""Losses on hand-computed cases, and the gradient properties the MD loss is built for."""
from __future__ import annotations

import math

import pytest
import torch

from hpcfault.errors import HpcfaultError
from hpcfault.losses import bce_loss, build_loss, dice_loss, md_loss

torch.set_num_threads(1)
T = torch.tensor


def test_md_loss_hand_computed_value():
    p = T([0.9, 0.2, 0.6, 0.4], dtype=torch.float64)
    y = T([1.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    # I = 0.9 + 0.6 = 1.5; sum p = 2.1; sum y = 2; D = 0.3 * 2.1 + 0.7 * 2 = 2.03
    assert md_loss(p, y, gamma=0.7).item() == pytest.approx(1 - 1.5 / 2.03, abs=1e-6)
    # gamma 0.5 is Dice: 1 - 2 * 1.5 / 4.1
    assert md_loss(p, y, gamma=0.5).item() == pytest.approx(1 - 3.0 / 4.1, abs=1e-6)
    assert dice_loss(p, y).item() == pytest.approx(1 - 3.0 / 4.1, abs=1e-6)


def test_md_loss_mask_drops_unlabelled_voxels():
    p = T([0.9, 0.2, 0.6, 0.99], dtype=torch.float64)
    y = T([1.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    m = T([1.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    # only voxels 0 and 1: I = 0.9, D = 0.3 * 1.1 + 0.7 * 1 = 1.03
    assert md_loss(p, y, m, gamma=0.7).item() == pytest.approx(1 - 0.9 / 1.03, abs=1e-6)


def test_perfect_prediction_gives_zero_md_loss():
    y = T([1.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    assert md_loss(y.clone(), y, gamma=0.6).item() == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("gamma", [0.4999, 1.0, 1.2, -0.1])
def test_md_loss_rejects_gamma_outside_range(gamma):
    p = torch.rand(8)
    with pytest.raises(HpcfaultError, match=r"gamma must lie in \[0.5, 1\)"):
        md_loss(p, (p > 0.5).float(), gamma=gamma)
    with pytest.raises(HpcfaultError, match="gamma"):
        build_loss("md", gamma=gamma)


def test_bce_hand_computed_values():
    p = T([0.8, 0.3, 0.1, 0.6], dtype=torch.float64)
    y = T([1.0, 0.0, 0.0, 1.0], dtype=torch.float64)
    m = T([1.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    # labelled: (0.8, y=1), (0.3, y=0), (0.1, y=0) -> lambda = 2/3
    lam = 2 / 3
    expect = (-lam * math.log(0.8) - (1 - lam) * math.log(0.7) - (1 - lam) * math.log(0.9)) / 3
    assert bce_loss(p, y, m).item() == pytest.approx(expect, abs=1e-6)
    plain = (-math.log(0.8) - math.log(0.7) - math.log(0.9)) / 3
    assert bce_loss(p, y, m, balanced=False).item() == pytest.approx(plain, abs=1e-6)


def test_bce_clamps_probabilities_and_handles_empty_cases():
    y = T([1.0, 0.0])
    loss = bce_loss(T([0.0, 1.0]), y)          # would be inf without the clamp
    assert torch.isfinite(loss)
    assert bce_loss(torch.rand(5), torch.zeros(5)).item() == 0.0     # no faults: lambda = 1
    assert bce_loss(torch.rand(5), torch.ones(5), torch.zeros(5)).item() == 0.0  # nothing labelled


@pytest.mark.parametrize("name,kw", [("md", {"gamma": 0.7}), ("dice", {}), ("bce", {}),
                                     ("bce", {"balanced": False})])
def test_unlabelled_voxels_get_exactly_zero_gradient(name, kw):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2, 1, 6, 6, 6, generator=g, requires_grad=True)
    y = (torch.rand(2, 1, 6, 6, 6, generator=g) > 0.8).float()
    m = torch.zeros_like(y)
    m[:, :, :, ::3, :] = 1.0                      # every third inline labelled
    build_loss(name, **kw)(torch.sigmoid(z), y, m).backward()
    assert torch.all(z.grad[m == 0] == 0.0)
    assert torch.any(z.grad[m == 1] != 0.0)


def _logit_grads(loss_fn, z_values, y_values):
    z = T(z_values, dtype=torch.float64, requires_grad=True)
    y = T(y_values, dtype=torch.float64)
    loss_fn(torch.sigmoid(z), y, torch.ones_like(y)).backward()
    return torch.sigmoid(z).detach(), z.grad


def test_false_negative_label_md_gradient_vanishes_bce_does_not():
    """Voxel 3 is a false-negative label (y = 0) where the network is sure of a fault (p -> 1).

    BCE: dL/dz = (p - y) per voxel (paper eq. 3), so n * grad = p ~ 1 keeps pushing p down.
    MD:  dL/dz = (1 - gamma) * I / D^2 * p * (1 - p) on y = 0 (paper eq. 14) -> 0 as p -> 1.
    """
    ys = [1.0, 1.0, 0.0, 0.0]
    for zfn in (8.0, 12.0, 16.0):
        zs = [2.0, 1.0, -2.0, zfn]
        p, g_bce = _logit_grads(build_loss("bce", balanced=False), zs, ys)
        assert (4 * g_bce[3]).item() == pytest.approx(p[3].item(), abs=1e-12)
        assert (4 * g_bce[3]).item() > 0.999
        lam = 0.5  # two of four labelled voxels are background
        _, g_lbce = _logit_grads(build_loss("bce"), zs, ys)
        assert (4 * g_lbce[3] / (1 - lam)).item() == pytest.approx(p[3].item(), abs=1e-6)

        p, g_md = _logit_grads(build_loss("md", gamma=0.7), zs, ys)
        inter = (p * T(ys, dtype=torch.float64)).sum()
        denom = 0.3 * p.sum() + 0.7 * 2.0
        expect = 0.3 * inter / denom ** 2 * p[3] * (1 - p[3])
        assert g_md[3].item() == pytest.approx(expect.item(), rel=1e-6)
        assert g_md[3].item() < 1e-3
    assert abs(g_md[3].item()) < 1e-6 * abs(g_bce[3].item())


def test_gamma_scales_background_gradient_by_one_minus_gamma():
    # Choose predictions with sum(M p) = sum(M y): then D = sum(y) for every gamma, and the gradient
    # on a background voxel, (1 - gamma) * I / D^2, changes with gamma only through (1 - gamma).
    p0 = T([0.9, 0.7, 0.3, 0.1], dtype=torch.float64)   # sum = 2 = sum(y)
    y = T([1.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    grads = {}
    for gamma in (0.5, 0.6, 0.7, 0.9):
        p = p0.clone().requires_grad_(True)
        md_loss(p, y, torch.ones_like(y), gamma=gamma).backward()
        grads[gamma] = p.grad
        inter = (p0 * y).sum()
        assert p.grad[2].item() == pytest.approx(((1 - gamma) * inter / 4.0).item(), rel=1e-6)
    for gamma in (0.6, 0.7, 0.9):
        ratio = grads[gamma][2:] / grads[0.5][2:]
        assert torch.allclose(ratio, torch.full_like(ratio, (1 - gamma) / 0.5), rtol=1e-6)
    # the fault voxels' gradients stay negative (push p up) for every gamma
    assert all(float(g[:2].max()) < 0 for g in grads.values())


def test_build_loss_names_and_errors():
    p = torch.rand(3, 4)
    y = (torch.rand(3, 4) > 0.5).float()
    for name in ("md", "MD", "mask-dice", "bce", "lambda-bce", "dice"):
        assert torch.isfinite(build_loss(name)(p, y))
    assert build_loss("dice")(p, y).item() == pytest.approx(build_loss("md", gamma=0.5)(p, y).item())
    with pytest.raises(HpcfaultError, match="unknown loss .*valid losses: md, bce, dice"):
        build_loss("focal")
    with pytest.raises(HpcfaultError, match="takes no option"):
        build_loss("dice", gamma=0.7)
    with pytest.raises(HpcfaultError, match="differ in shape"):
        md_loss(p, y[:2])


@pytest.mark.parametrize("name", ["md", "bce"])
def test_half_precision_predictions_are_summed_in_float32(name):
    g = torch.Generator().manual_seed(1)
    p = torch.rand(1, 1, 64, 64, 64, generator=g)
    y = (torch.rand(1, 1, 64, 64, 64, generator=g) > 0.9).float()
    ref = build_loss(name)(p, y, torch.ones_like(y))
    for dt in (torch.float16, torch.bfloat16):
        half = p.to(dt).requires_grad_(True)
        loss = build_loss(name)(half, y, torch.ones_like(y))   # sum(p) = 131072 > fp16 max
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        assert loss.item() == pytest.approx(ref.item(), abs=5e-3)
        loss.backward()
        assert half.grad.dtype == dt and torch.isfinite(half.grad.float()).all()
