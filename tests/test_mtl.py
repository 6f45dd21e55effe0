"""The multi-task networks (MTI, MTR): outputs in the task's channel layout, chaining, registry,
memory formula against measured peaks, block equivariance, and the SSIM + L1 loss."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hpcfault.errors import HpcfaultError
from hpcfault.models import build_model, count_parameters, prepare_for_inference
from hpcfault.models.memory import measure_peak_bytes, peak_bytes
from hpcfault.tasks import task_spec

SMALL = {"widths": [4, 8, 8], "bottleneck": 8, "depths": [2, 1, 2], "head_depth": 2, "head_width": 1}


@pytest.fixture(autouse=True)
def _one_thread(torch_one_thread):
    """Every test here runs torch on one thread (conftest.torch_one_thread)."""


def test_reference_size_and_channel_layout():
    assert count_parameters(build_model("mtl")) == 14_481_927          # the reference's 14.5 M
    task = task_spec("multitask")
    assert task.channel_names() == ("fault", "fault_dip.cos", "fault_dip.sin", "fault_strike.cos",
                                    "fault_strike.sin", "rgt", "dhr")
    assert task_spec("multitask-refine").inputs == tuple(f"mti.{c}" for c in task.channel_names())
    mti, mtr = build_model("mtl", **SMALL).eval(), build_model("mtl-refine", **SMALL).eval()
    x = torch.rand(2, 1, 16, 24, 16)
    with torch.no_grad():
        y = mti(x)
        assert y.shape == (2, 7, 16, 24, 16)
        p = y[:, 0]
        assert 0 <= float(p.min()) and float(p.max()) <= 1 and 0 <= float(y[:, 5].min()) <= float(y[:, 5].max()) <= 1
        # dip and strike are their sub-heads' outputs multiplied by the probability (reference design)
        feat = mti.fault(*mti.encode(x))
        prob = torch.sigmoid(mti.fault_prob(feat))
        assert torch.allclose(y[:, 1:3], mti.fault_dip(feat) * prob, atol=1e-6)
        assert torch.allclose(y[:, 3:5], mti.fault_strike(feat) * prob, atol=1e-6)
        from hpcfault.models.mtl import refine_chain

        ys = refine_chain(mti, mtr, x, 3)
        assert len(ys) == 4 and all(t.shape == y.shape for t in ys)
        assert torch.equal(ys[0], y) and torch.equal(ys[2], mtr(mtr(y)))
        from hpcfault.tasks.decode import decode

        out = decode(task, ys[-1][0])
        assert out.shape == (5, 16, 24, 16) and float(out[1].max()) < 360 and float(out[2].max()) < 180


def test_cumulative_rgt_increases_down_every_trace():
    """rgt="cumulative": RGT is the running sum of positive increments along time, scaled by its
    block maximum, so it rises down every trace whatever the weights; the top sample carries the
    trace's own start (layers that dip start at different values); the rest of the layout and the
    gradients are those of the sigmoid network."""
    from hpcfault.models.mtl import cumulative_rgt

    torch.manual_seed(2)
    model = build_model("mtl", **SMALL, rgt="cumulative")
    y = model(torch.rand(2, 1, 16, 24, 16))
    r = y[:, 5]
    assert y.shape == (2, 7, 16, 24, 16) and float(r.detach().min()) > 0
    assert torch.allclose(r.amax(dim=(1, 2, 3)), torch.ones(2))
    assert bool((r[:, 1:] >= r[:, :-1]).all())                              # monotonic on every trace
    assert float(r[:, 0].detach().std()) > 0                                # tops differ laterally
    r.mean().backward()
    assert any(p.grad is not None and float(p.grad.abs().max()) > 0 for p in model.rgt.parameters())
    raw = torch.randn(1, 1, 8, 3, 3) * 4
    ref = np.cumsum(np.log1p(np.exp(raw.double().numpy())), axis=2)
    assert np.allclose(cumulative_rgt(raw).numpy(), ref / ref.max(), atol=1e-6)
    assert build_model("mtl", **SMALL).config.rgt == "sigmoid"                # the reference's by default
    with pytest.raises(HpcfaultError, match="rgt must be one of"):
        build_model("mtl", rgt="linear")


def test_integrate_lateral_recovers_a_field_from_its_differences():
    """The DCT least-squares solve returns the zero-mean field whose forward differences are given,
    to rounding; with inconsistent differences, the least-squares one (checked against a dense solve)."""
    from hpcfault.models.mtl import integrate_lateral

    torch.manual_seed(4)
    u = torch.randn(2, 12, 9, dtype=torch.float64).cumsum(1).cumsum(2)
    got = integrate_lateral(u[:, 1:] - u[:, :-1], u[:, :, 1:] - u[:, :, :-1])
    assert torch.allclose(got, u - u.mean((1, 2), keepdim=True), atol=1e-10)
    gi, gx = torch.randn(1, 4, 3, dtype=torch.float64), torch.randn(1, 5, 2, dtype=torch.float64)
    rows = []
    for a in range(4):
        for b in range(3):
            r = np.zeros((5, 3))
            r[a + 1, b], r[a, b] = 1, -1
            rows.append(r.ravel())
    for a in range(5):
        for b in range(2):
            r = np.zeros((5, 3))
            r[a, b + 1], r[a, b] = 1, -1
            rows.append(r.ravel())
    rows.append(np.ones(15))                                                 # zero mean
    ref = np.linalg.lstsq(np.array(rows), np.concatenate([gi.numpy().ravel(), gx.numpy().ravel(), [0.0]]),
                          rcond=None)[0]
    assert np.allclose(integrate_lateral(gi, gx)[0].numpy().ravel(), ref, atol=1e-10)


def test_integrated_rgt_follows_dipping_layers_and_rises_down_every_trace():
    """rgt="integrated": increments down each trace plus a value per trace integrated from the
    predicted lateral gradients: exact for dipping layers given their local slopes, monotonic on
    every trace whatever the weights, in [0, 1], and the new slope head gets gradients."""
    from hpcfault.models.mtl import integrated_rgt

    t, i, x = torch.meshgrid(torch.arange(16.0), torch.arange(12.0), torch.arange(10.0), indexing="ij")
    tau = t + 0.3 * i - 0.2 * x + 0.02 * i * i                               # curved layers
    inc = torch.full((1, 1, 16, 12, 10), float(np.log(np.e - 1)))              # softplus -> 1 per sample
    slope = torch.stack([0.3 + 0.04 * i, torch.full_like(tau, -0.2)])[None]
    ref = (tau - tau.min()) / (tau.max() - tau.min())
    assert torch.allclose(integrated_rgt(inc, slope)[0, 0], ref, atol=2e-3)
    flat = integrated_rgt(inc, torch.zeros_like(slope))[0, 0]                 # no slope: flat layers
    assert torch.allclose(flat, (t / 15.0), atol=1e-5)
    torch.manual_seed(3)
    model = build_model("mtl", **SMALL, rgt="integrated")
    y = model(torch.rand(2, 1, 16, 24, 16))
    r = y[:, 5]
    assert y.shape == (2, 7, 16, 24, 16) and float(r.detach().min()) == 0 and abs(float(r.detach().max()) - 1) < 1e-6
    assert bool((r[:, 1:] >= r[:, :-1]).all())
    r.mean().backward()
    assert float(model.rgt_slope.out.weight.grad.abs().max()) > 0
    assert not hasattr(build_model("mtl", **SMALL, rgt="cumulative"), "rgt_slope")


def test_residual_mtr_starts_near_the_identity_and_learns_everywhere():
    """residual: each MTR output is its input's plus a correction whose last layers start at 1e-3 of
    their default weights: the untrained MTR returns the MTI's outputs (to 1e-3; exactly where the
    corrections are zeroed), folded for inference too; every layer still gets a gradient (only the
    biases that feed a normalization are redundant, as without residual)."""
    from hpcfault.train.redundant import zero_gradient_parameters

    torch.manual_seed(5)
    mti = build_model("mtl", **SMALL, norm="instance-running").eval()
    mtr = build_model("mtl-refine", **SMALL, norm="instance-running", residual=True).eval()
    with torch.no_grad():
        y = mti(torch.rand(2, 1, 16, 16, 16))
        assert float((mtr(y) - y).abs().max()) < 1e-3
        assert float((prepare_for_inference(mtr)(y.clone()) - y).abs().max()) < 1e-3
        for conv in (mtr.fault_prob.out, mtr.fault_dip.out, mtr.fault_strike.out, mtr.rgt.head[-1], mtr.dhr.head[-1]):
            conv.weight.zero_()
        assert float((mtr(y) - y).abs().max()) < 1e-6
    fresh = build_model("mtl-refine", **SMALL, norm="instance-running", residual=True)
    frozen = zero_gradient_parameters(fresh, 16)
    assert frozen and all(n.endswith(".bias") for n in frozen)
    assert frozen == zero_gradient_parameters(build_model("mtl-refine", **SMALL, norm="instance-running"), 16)
    with pytest.raises(HpcfaultError, match="residual is for the refinement network"):
        build_model("mtl", **SMALL, residual=True)
    with pytest.raises(HpcfaultError, match="residual is for the refinement network"):
        build_model("mtl-refine", **SMALL, residual=True, rgt="cumulative")


def test_bad_inputs_and_configs_are_one_line_errors():
    with pytest.raises(HpcfaultError, match=r"\(N, 7, time, inline, xline\)"):
        build_model("mtl-refine", **SMALL)(torch.rand(1, 1, 16, 16, 16))
    with pytest.raises(HpcfaultError, match="multiples of 4"):
        build_model("mtl", **SMALL)(torch.rand(1, 1, 18, 16, 16))
    with pytest.raises(HpcfaultError, match="norm must be one of"):
        build_model("mtl", norm="layer")
    with pytest.raises(HpcfaultError, match="needs refine=True"):
        build_model("mtl-refine", refine=False)
    with pytest.raises(HpcfaultError, match="cannot serve task 'fault'"):
        build_model("mtl", task="fault")


@pytest.mark.parametrize("name", ["mtl", "mtl-refine"])
@pytest.mark.parametrize("norm", ["instance-running", "instance"])
@pytest.mark.parametrize("shape", [(32, 48, 32), (64, 32, 48)])
def test_memory_formula_matches_measured_peak(name, norm, shape):
    cfg = {"widths": [8, 16, 32], "bottleneck": 32, "depths": [2, 2, 2], "head_depth": 2, "head_width": 1, "norm": norm}
    model = prepare_for_inference(build_model(name, **cfg))
    measured = measure_peak_bytes(model, shape)
    formula = peak_bytes(name, shape, config=cfg)
    assert formula * 0.97 <= measured <= formula * 1.01


def test_memory_formula_of_the_reference_network():
    # 192 channel-equivalents + 48 for its unfoldable instance normalization (960 B/voxel in fp32);
    # measured on a small block so the test stays light
    assert peak_bytes("mtl", (1, 1, 1)) == (1 + 6 + 5 * 16 + 32 + 2 * 32 + 32 / 4 + 64 / 64 + 3 * 16) * 4
    measured = measure_peak_bytes(prepare_for_inference(build_model("mtl")), (16, 32, 32))
    formula = peak_bytes("mtl", (16, 32, 32))
    assert formula * 0.97 <= measured <= formula * 1.01


@pytest.mark.parametrize("rgt", ["sigmoid", "integrated"])
def test_prepared_model_matches_the_training_model_in_eval(rgt):
    torch.manual_seed(0)
    model = build_model("mtl", **SMALL, norm="instance-running", rgt=rgt)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(2, 1, 16, 16, 16))        # running statistics away from their start
    model.eval()
    x = torch.rand(1, 1, 16, 24, 16)
    with torch.inference_mode():
        assert float((prepare_for_inference(model)(x) - model(x)).abs().max()) < 1e-4


def test_running_statistics_make_outputs_local():
    """With running statistics (and BatchNorm) a voxel's output depends only on its receptive field;
    with plain instance normalization it depends on the whole block's statistics."""
    torch.manual_seed(1)
    cfg = dict(widths=[4, 8, 8], bottleneck=8, depths=[1, 1, 1], head_depth=1, head_width=1)
    x = torch.rand(1, 1, 192, 16, 16)
    far = x.clone()
    far[:, :, -32:] *= 5.0                     # change the bottom of the block only
    top = (slice(None), slice(None), slice(0, 32))
    for norm, local in (("instance-running", True), ("instance", False)):
        model = build_model("mtl", **cfg, norm=norm).eval()
        with torch.inference_mode():
            diff = float((model(x)[top] - model(far)[top]).abs().max())
        assert (diff < 1e-5) if local else (diff > 1e-3), (norm, diff)


def test_ssim_l1_loss_and_its_numpy_twin_agree():
    from hpcfault.losses import ssim_l1_loss, ssim_map, target_loss
    from hpcfault.tasks.multitask.metrics import ssim_sums

    g = torch.Generator().manual_seed(0)
    a = torch.rand(1, 1, 16, 18, 20, generator=g)
    b = (a + 0.1 * torch.rand(1, 1, 16, 18, 20, generator=g)).clamp(0, 1)
    assert float(ssim_l1_loss(a, a)) == pytest.approx(0.0, abs=1e-6)
    loss = target_loss("ssim-l1")(b, a)
    s = float(ssim_map(b.double(), a.double()).mean())
    total, n = ssim_sums(b[0, 0].numpy(), a[0, 0].numpy(), 1.0, slice(0, 18))
    assert total / n == pytest.approx(s, rel=1e-6)
    assert float(loss) == pytest.approx(1 - s + float((a - b).abs().mean()), rel=1e-4)
    z = b.clone().requires_grad_(True)
    ssim_l1_loss(z, a).backward()
    assert torch.isfinite(z.grad).all() and float(z.grad.abs().sum()) > 0
    with pytest.raises(HpcfaultError, match="larger than 10 voxels"):
        ssim_l1_loss(a[..., :8, :8, :8], a[..., :8, :8, :8])


def test_catalog_rows_and_memory_planner_know_the_networks():
    from hpcfault.models.catalog import CATALOG
    from hpcfault.models.memory import largest_block

    assert CATALOG["mtl"].params == 14_481_927 and CATALOG["mtl-refine"].params > CATALOG["mtl"].params
    edge = largest_block("mtl", 16 * 2 ** 30)
    assert edge % 16 == 0 and peak_bytes("mtl", (edge,) * 3) <= 16 * 2 ** 30 < peak_bytes("mtl", (edge + 16,) * 3)
    assert np.isclose(peak_bytes("mtl-refine", (8, 8, 8)) - peak_bytes("mtl", (8, 8, 8)), 6 * 4 * 512)
