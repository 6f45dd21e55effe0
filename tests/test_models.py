"""Model architectures, registry, shapes, input checks, BN folding and `hpcfault models`."""
from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch

from hpcfault.errors import HpcfaultError
from hpcfault.models import MODELS, build_model, count_parameters, fold_all_bn, prepare_for_inference
from tests.conftest import REPO, run_cli


@pytest.fixture(autouse=True)
def _one_thread(torch_one_thread):
    """Every test here runs torch on one thread (conftest.torch_one_thread)."""


def randomize_bn(model, seed=0):
    """Give every BatchNorm non-trivial running statistics and affine parameters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)
    return model.eval()


def test_registry_names_and_parameter_counts():
    assert list(MODELS)[:4] == ["faultnet", "faultnet-nomcf", "unet3d", "unet2d"]
    assert count_parameters(build_model("faultnet")) == 421_597
    nomcf = count_parameters(build_model("faultnet-nomcf"))
    assert nomcf == 386_097 and abs(nomcf - 390_000) < 10_000
    unet = count_parameters(build_model("unet3d"))
    assert unet == 1_459_585 and abs(unet - 1_460_000) < 10_000


def test_task_agnostic_models_take_the_task_head():
    from hpcfault.errors import HpcfaultError

    m = build_model("unet3d", task="fault-strike", filters=[4, 8])
    assert m.config.head == ("sigmoid", "none", "none") and m.head.out_channels == 3
    with torch.no_grad():
        y = m(torch.rand(1, 1, 8, 8, 8))
    assert y.shape == (1, 3, 8, 8, 8) and 0 <= float(y[:, 0].min()) and float(y[:, 0].max()) <= 1
    two = build_model("unet2d", filters=[4, 8])
    assert two(torch.rand(3, 1, 16, 8)).shape == (3, 1, 16, 8)
    with pytest.raises(HpcfaultError, match="cannot serve task 'fault-strike'"):
        build_model("faultnet", task="fault-strike")
    with pytest.raises(HpcfaultError, match="does not match task"):
        build_model("unet3d", task="fault-strike", head=["sigmoid"])


def test_widths_are_configurable():
    paper = build_model("faultnet", widths=[8, 16, 32])
    assert paper.transition2[2][0][0].out_channels == 32
    assert count_parameters(paper) > 421_597


# volume models with one probability channel (the multi-task networks have their own tests: test_mtl.py)
VOLUME_MODELS = [n for n, spec in MODELS.items() if spec.dims == 3 and (spec.tasks is None or "fault" in spec.tasks)]


@pytest.mark.parametrize("name", VOLUME_MODELS)
@pytest.mark.parametrize("shape", [(16, 16, 16), (32, 16, 48), (48, 32, 16)])
def test_output_is_probability_of_input_shape(name, shape):
    model = build_model(name).eval()
    with torch.inference_mode():
        y = model(torch.rand(2, 1, *shape))
    assert y.shape == (2, 1, *shape)
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


@pytest.mark.parametrize("name", ["faultnet", "faultnet-nomcf"])
@pytest.mark.parametrize("shape", [(16, 16, 24), (30, 32, 32), (32, 32, 8)])
def test_size_not_multiple_of_16_is_a_clear_error(name, shape):
    with pytest.raises(HpcfaultError, match=r"multiples of 16 \(got \(" + str(shape[0])):
        build_model(name)(torch.rand(1, 1, *shape))


def test_unet3d_needs_multiples_of_8_and_one_channel():
    with pytest.raises(HpcfaultError, match="multiples of 8"):
        build_model("unet3d")(torch.rand(1, 1, 20, 16, 16))
    with pytest.raises(HpcfaultError, match=r"\(N, 1, time, inline, xline\)"):
        build_model("faultnet")(torch.rand(16, 16, 16))


def test_unknown_model_and_bad_config_are_clear_errors():
    with pytest.raises(HpcfaultError, match="valid models: faultnet, faultnet-nomcf, unet3d, unet2d"):
        build_model("resnet")
    with pytest.raises(HpcfaultError, match="unknown config key .*'depth'.*valid keys: widths"):
        build_model("faultnet", depth=3)
    with pytest.raises(HpcfaultError, match="widths must be a list of positive integers"):
        build_model("faultnet", widths=[8, 16])
    with pytest.raises(HpcfaultError, match="needs mcf=False"):
        build_model("faultnet-nomcf", mcf=True)


def test_bn_folding_is_exact_in_float64():
    """Folding is an exact rewrite: in float64 the folded model equals the original to ~1e-12."""
    model = randomize_bn(build_model("faultnet")).double()
    folded = copy.deepcopy(model)
    assert fold_all_bn(folded) == 77
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in folded.modules())
    x = torch.rand(1, 1, 32, 32, 32, dtype=torch.float64)
    with torch.inference_mode():
        assert (model(x) - folded(x)).abs().max().item() <= 1e-10


@pytest.mark.parametrize("name", VOLUME_MODELS)
def test_prepare_for_inference_matches_unfused(name):
    model = randomize_bn(build_model(name), seed=3)
    fast = prepare_for_inference(model)
    x = torch.rand(1, 1, 32, 48, 32, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        want, got = model(x), fast(x)
        exact = model.double()(x.double())
    assert got.shape == want.shape
    assert (got - want).abs().max().item() <= 1e-5
    # no worse than the fp32 rounding of the plain model itself (measured against float64)
    assert (got.double() - exact).abs().max().item() <= 2 * (want.double() - exact).abs().max().item() + 1e-6
    assert model.training is False and all(not p.requires_grad for p in fast.parameters())


def test_models_cli_lists_params_and_gflop():
    out = run_cli("models").stdout
    models, tasks = out.split("\n\n")
    lines = {line.split()[0]: line.split() for line in models.splitlines()[1:]}
    assert lines["faultnet"][1] == "421,597" and lines["faultnet-nomcf"][1] == "386,097"
    assert lines["faultnet"][3] == "fault" and lines["unet3d"][3] == "any"
    assert [line.split()[0] for line in tasks.splitlines()[1:]][:2] == ["fault", "fault-strike"]
    assert lines["unet3d"][1] == "1,459,585"
    gflop = {k: float(v[2]) for k, v in lines.items()}
    assert 25 < gflop["faultnet"] < 40 and gflop["faultnet-nomcf"] < gflop["faultnet"] < gflop["unet3d"]


def test_catalog_lists_every_model_with_its_counted_figures():
    """`hpcfault models` prints catalog.py without building anything; the figures must be the counted ones."""
    from hpcfault.cli.models import gflop_per_block
    from hpcfault.models.catalog import CATALOG

    assert list(CATALOG) == list(MODELS)
    for name, facts in CATALOG.items():
        model = build_model(name)
        assert count_parameters(model) == facts.params, name
        assert gflop_per_block(model) == pytest.approx(facts.gflop_128, rel=5e-4), name
        assert MODELS[name].summary == facts.summary
        assert (MODELS[name].tasks, MODELS[name].dims) == (facts.tasks, facts.dims), name
        assert facts.dims == getattr(model, "dims", 3), name


def test_models_listing_does_not_import_torch():
    code = ("import sys; from hpcfault.cli import main; rc = main(['models']); "
            "print('torch' in sys.modules, rc, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.stderr.strip() == "False 0" and "421,597" in proc.stdout
    counted = run_cli("models", "--count", "--model", "faultnet-nomcf").stdout
    assert "386,097" in counted and "differs" not in counted


def test_gflop_count_matches_hand_count():
    """UNet3D convolution FLOP per 128^3, counted by hand from its layers."""
    from hpcfault.cli.models import gflop_per_block

    flop, cin, v = 0, 1, 128 ** 3
    for level, f in enumerate((16, 32, 64, 128)):
        vox = v / 8 ** level
        flop += 2 * 27 * vox * (cin * f + f * f)
        cin = f
    for level, (f, fin) in enumerate(((64, 192), (32, 96), (16, 48))):
        vox = v / 8 ** (2 - level)
        flop += 2 * 27 * vox * (fin * f + f * f)
    flop += 2 * v * 16
    assert gflop_per_block(build_model("unet3d")) == pytest.approx(flop / 1e9, rel=1e-6)
