"""Memory planner: per-voxel formulas against measured peaks, and the block-size plan."""
from __future__ import annotations

import pytest
import torch

from hpcfault.errors import HpcfaultError
from hpcfault.models import build_model, bytes_per_voxel, largest_block, prepare_for_inference
from hpcfault.models.memory import measure_peak_bytes, parse_bytes
from tests.conftest import run_cli


@pytest.fixture(autouse=True)
def _one_thread(torch_one_thread):
    """Every test here runs torch on one thread (conftest.torch_one_thread)."""


@pytest.mark.parametrize("name", ["faultnet", "faultnet-nomcf", "unet3d"])
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_formula_matches_measured_peak(name, dtype):
    model = prepare_for_inference(build_model(name))
    if dtype == "bf16":
        model = model.to(torch.bfloat16)
    shape = (32, 48, 32)
    measured = measure_peak_bytes(model, shape, dtype) / (32 * 48 * 32)
    assert measured == pytest.approx(bytes_per_voxel(name, dtype), rel=0.05)


def test_formula_values():
    assert bytes_per_voxel("faultnet", "fp32") == pytest.approx(4 * (1 + 24 + 2 + 0.5 + 16 / 512 + 24 / 4096))
    assert bytes_per_voxel("faultnet", "fp16") == bytes_per_voxel("faultnet", "fp32") / 2
    assert bytes_per_voxel("unet3d", "fp32") == 404.0
    assert bytes_per_voxel("faultnet", "fp32", folded=False) > bytes_per_voxel("faultnet", "fp32")
    with pytest.raises(HpcfaultError, match="unknown dtype"):
        bytes_per_voxel("faultnet", "int8")


def test_largest_block_is_the_largest_multiple_of_16_that_fits():
    mem = 16 * 2 ** 30
    for dtype in ("fp32", "fp16"):
        edge = largest_block("faultnet", mem, dtype)
        bpv = bytes_per_voxel("faultnet", dtype)
        assert edge % 16 == 0 and edge ** 3 * bpv <= mem < (edge + 16) ** 3 * bpv
    # paper anchor: 528^3 in fp32 and 640^3 in fp16 fit in 16 GB
    assert largest_block("faultnet", mem, "fp32") == 528
    assert largest_block("faultnet", mem, "fp16") >= 640
    assert largest_block("faultnet", 1000, "fp32") == 0
    assert largest_block("faultnet", mem, "fp32", reserve_bytes=mem) == 0
    assert largest_block("unet3d", mem, "fp32") < largest_block("faultnet", mem, "fp32")


def test_parse_bytes():
    assert parse_bytes("16GiB") == 16 * 2 ** 30
    assert parse_bytes("16 GB") == 16 * 10 ** 9
    assert parse_bytes("512M") == 512 * 2 ** 20
    assert parse_bytes("2e9") == 2 * 10 ** 9
    for bad in ("lots", "-3GB", "16XB"):
        with pytest.raises(HpcfaultError, match="cannot read the memory size"):
            parse_bytes(bad)


def test_plan_cli():
    out = run_cli("models", "--plan", "--mem", "16GiB", "--dtype", "fp16", "--model", "faultnet").stdout
    row = out.splitlines()[1].split()
    assert row[0] == "faultnet" and row[1] == "fp16" and row[3] == "672"
    out = run_cli("models", "--plan", "--mem", "16GiB").stdout
    assert [line.split()[3] for line in out.splitlines()[1:]] == ["528", "528", "336"]
    proc = run_cli("models", "--plan", "--mem", "lots", check=False)
    assert proc.returncode == 2 and "cannot read the memory size" in proc.stderr
