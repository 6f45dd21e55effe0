"""U-Net with ResNet-18/34 encoders: sizes of the reference, any section size, flip TTA, --init
from other state dicts, and the memory planner's formula against the measured peak."""
from __future__ import annotations

import pytest
import torch

from hpcfault.errors import HpcfaultError
from hpcfault.models import build_model, count_parameters


@pytest.fixture(autouse=True)
def _one_thread(torch_one_thread):
    """Every test here runs torch on one thread (conftest.torch_one_thread)."""


@pytest.mark.parametrize("name, reference", [("unet-resnet18", 14.32e6), ("unet-resnet34", 24.43e6)])
def test_parameter_counts_match_the_reference_within_one_percent(name, reference):
    n = count_parameters(build_model(name, task="salt"))
    assert abs(n - reference) / reference < 0.01
    assert n == {"unet-resnet18": 14_321_937, "unet-resnet34": 24_430_097}[name]


def test_stages_and_decoder_follow_the_resnet_layout():
    m = build_model("unet-resnet34")
    assert [len(getattr(m.encoder, f"layer{k}")) for k in range(1, 5)] == [3, 4, 6, 3]
    assert m.encoder.conv1.in_channels == 1 and m.encoder.conv1.kernel_size == (7, 7)
    assert [b.conv2[0].out_channels for b in m.decoder.blocks] == [256, 128, 64, 32, 16]
    assert m.segmentation_head[0].kernel_size == (3, 3)
    with pytest.raises(HpcfaultError, match="needs encoder='resnet18'"):
        build_model("unet-resnet18", encoder="resnet34")


@pytest.mark.parametrize("shape", [(101, 101), (128, 96), (37, 200), (16, 16)])
def test_any_section_size_gives_a_probability_of_that_size(shape):
    m = build_model("unet-resnet18", width=8, decoder=[32, 16, 16, 8, 8]).eval()
    with torch.inference_mode():
        y = m(torch.rand(2, 1, *shape))
    assert y.shape == (2, 1, *shape) and 0 <= float(y.min()) and float(y.max()) <= 1
    with pytest.raises(HpcfaultError, match=r"\(N, 1, H, W\) sections \(got \(1, 1, 8, 8, 8\)\)"):
        m(torch.rand(1, 1, 8, 8, 8))


def test_flip_tta_averages_the_mirrored_prediction_in_eval_only():
    torch.manual_seed(0)
    plain = build_model("unet-resnet18", width=8, decoder=[32, 16, 16, 8, 8])
    tta = build_model("unet-resnet18", width=8, decoder=[32, 16, 16, 8, 8], flip_tta=True)
    tta.load_state_dict(plain.state_dict())
    x = torch.rand(1, 1, 64, 96)
    plain.eval(), tta.eval()
    with torch.inference_mode():
        want = 0.5 * (plain(x) + torch.flip(plain(torch.flip(x, (3,))), (3,)))
        got = tta(x)
    assert torch.allclose(got, want, atol=1e-6) and not torch.allclose(got, plain(x), atol=1e-4)
    tta.train(), plain.train()
    assert torch.allclose(tta(x), plain(x), atol=1e-6)
    with pytest.raises(HpcfaultError, match="flip_tta averages probabilities only"):
        build_model("unet-resnet18", flip_tta=True, head=["none"])


def test_init_loads_ddp_smp_and_bare_resnet_state_dicts(tmp_path):
    from hpcfault.models.init import load_init

    torch.manual_seed(1)
    src = build_model("unet-resnet18", width=8, decoder=[32, 16, 16, 8, 8]).eval()
    path = tmp_path / "ddp.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}, "epoch": 3}, path)
    dst = build_model("unet-resnet18", width=8, decoder=[32, 16, 16, 8, 8]).eval()
    rep = load_init(dst, path)
    assert rep["loaded"] == rep["total"] and not rep["missing"] and not rep["skipped"]
    x = torch.rand(1, 1, 32, 32)
    with torch.inference_mode():
        assert torch.equal(src(x), dst(x))
    # a bare ResNet-18 (torchvision names, RGB stem, classifier): fills the encoder, stem summed over RGB
    enc = {k[len("encoder."):]: v.clone() for k, v in src.state_dict().items() if k.startswith("encoder.")}
    rgb = torch.randn(8, 3, 7, 7)
    enc["conv1.weight"] = rgb
    enc["fc.weight"], enc["fc.bias"] = torch.randn(1000, 64), torch.randn(1000)
    torch.save(enc, tmp_path / "resnet.pth")
    fresh = build_model("unet-resnet18", width=8, decoder=[32, 16, 16, 8, 8])
    rep = load_init(fresh, tmp_path / "resnet.pth")
    assert rep["skipped"] == ["fc.bias", "fc.weight"] and all(k.startswith(("decoder", "segmentation")) for k in rep["missing"])
    assert torch.allclose(fresh.encoder.conv1.weight, rgb.sum(1, keepdim=True))
    assert torch.equal(fresh.encoder.layer4[1].conv2.weight, src.encoder.layer4[1].conv2.weight)
    torch.save({"weight": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(HpcfaultError, match="no tensor of --init file .* fits the model"):
        load_init(fresh, tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(HpcfaultError, match="cannot read --init file"):
        load_init(fresh, tmp_path / "junk.pt")


@pytest.mark.parametrize("name, config", [("unet-resnet18", {}), ("unet-resnet34", {}),
                                          ("unet-resnet18", {"width": 16, "decoder": [64, 32, 16, 8, 4]}),
                                          ("unet-resnet18", {"flip_tta": True}),
                                          ("unet2d", {}), ("unet2d", {"filters": [8, 16, 32]})])
def test_memory_formula_of_section_models_matches_the_measured_peak(name, config):
    from hpcfault.models import prepare_for_inference
    from hpcfault.models.memory import measure_peak_bytes, peak_bytes

    model = build_model(name, **config).eval()
    shape = (3, 64, 96)
    measured = measure_peak_bytes(model, shape)
    assert measured == pytest.approx(peak_bytes(name, shape, config=config, folded=False), rel=0.03)
    measured = measure_peak_bytes(prepare_for_inference(model), shape)
    assert measured == pytest.approx(peak_bytes(name, shape, config=config), rel=0.03)


@pytest.mark.parametrize("name, config", [("unet-resnet18", {"width": 8, "decoder": [16, 16, 8, 8, 8]}),
                                          ("unet2d", {"filters": [4, 8, 16]})])
def test_prepare_for_inference_folds_2d_batchnorm_exactly(name, config):
    from hpcfault.models import prepare_for_inference

    torch.manual_seed(0)
    model = build_model(name, **config).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2), m.running_var.uniform_(0.5, 1.5), m.weight.uniform_(0.5, 1.5)
    fast = prepare_for_inference(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    x = torch.rand(2, 1, 48, 80)
    with torch.inference_mode():
        assert (fast(x) - model(x)).abs().max().item() < 1e-5


def test_sections_that_fit():
    from hpcfault.models.memory import peak_bytes, sections_that_fit

    one = peak_bytes("unet-resnet18", (1, 128, 128))
    assert one == 96.5 * 4 * 128 * 128 and peak_bytes("unet-resnet34", (1, 128, 128), folded=False) == 112.5 * 4 * 128 ** 2
    assert sections_that_fit("unet-resnet18", int(10.5 * one), (101, 101)) == 10   # padded to 128
    assert sections_that_fit("unet-resnet18", int(one) - 1, (128, 128)) == 0


def test_lovasz_hinge_equals_twice_the_jaccard_loss_at_unit_margins():
    """Logits of +-1: the hinge errors are 0 (right) or 2 (wrong), and the Lovasz extension is
    linear along that ray, so the loss is 2 x (1 - IoU) of the thresholded prediction."""
    from hpcfault.losses import build_loss

    y = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0]).view(1, 1, 5)
    right = torch.tensor([1.0, -1.0, 1.0, -1.0, -1.0]).view(1, 1, 5)   # predicted {0, 2}: IoU 1/3
    loss = build_loss("lovasz")(torch.sigmoid(right), y)
    assert float(loss) == pytest.approx(2 * (1 - 1 / 3), rel=1e-5)
    perfect = torch.sigmoid(torch.tensor([3.0, 3.0, -3.0, -3.0, -3.0]).view(1, 1, 5))
    assert float(build_loss("lovasz")(perfect, y)) == 0.0
    mask = torch.tensor([1.0, 1.0, 0.0, 1.0, 1.0]).view(1, 1, 5)            # ignore the false positive
    assert float(build_loss("lovasz")(torch.sigmoid(right), y, mask)) == pytest.approx(2 * (1 - 1 / 2), rel=1e-5)
    p = torch.tensor([0.4, 0.45, 0.6, 0.55, 0.52]).view(1, 1, 5).requires_grad_()
    build_loss("lovasz")(p, y).backward()
    assert float(p.grad[0, 0, 0]) < 0 < float(p.grad[0, 0, 2])              # salt pushed up, background down
