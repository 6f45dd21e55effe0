"""Item 9 of issue 19: --dtype fp32 means float32 kernels (TF32 off); tf32 is its own choice.

torch (2.9+) lets cuDNN convolutions use TF32 by default. The flags are process-wide settings that
exist on CPU builds too, so the rule is checked here by reading them back after a BlockModel is
built; on a GPU, tools/gpu_smoke.sh compares fp32 against a CPU run.
"""
import pytest
import torch

from hpcfault.models.memory import dtype_bytes
from hpcfault.models.precision import autocast_dtype, set_tf32, tf32_state


@pytest.fixture
def restore_tf32():
    before = tf32_state()
    yield
    set_tf32(before["conv"])


@pytest.mark.parametrize("dtype, amp, nbytes", [
    ("fp32", None, 4), ("tf32", None, 4), ("fp16", torch.float16, 2), ("bf16", torch.bfloat16, 2),
])
def test_compute_precisions(dtype, amp, nbytes):
    assert autocast_dtype(dtype) == amp
    assert dtype_bytes(dtype) == nbytes


def test_set_tf32_round_trip(restore_tf32):
    set_tf32(True)
    assert tf32_state() == {"conv": True, "matmul": True}
    set_tf32(False)
    assert tf32_state() == {"conv": False, "matmul": False}


def test_fp32_block_model_turns_tf32_off(restore_tf32, tmp_path):
    from hpcfault.infer.forward import BlockModel
    from hpcfault.models.checkpoint import save_checkpoint
    from hpcfault.models.registry import build_model

    save_checkpoint(tmp_path / "m.pt", build_model("faultnet", widths=[4, 8, 8], expansion=4, blocks=1), "faultnet")
    set_tf32(True)   # torch's own default for cuDNN convolutions from 2.9 on
    BlockModel(str(tmp_path / "m.pt"), "cpu", "fp32", 1, deterministic=False)
    assert tf32_state() == {"conv": False, "matmul": False}


def test_tf32_on_cpu_is_one_line(tmp_path, cli):
    cli("synth", tmp_path / "s.h5", "--shape", "16", "32", "32", "--seed", "1", "--no-progress")
    proc = cli("predict", tmp_path / "s.h5", "-o", tmp_path / "p.h5", "--dtype", "tf32", "--no-progress",
               check=False)
    assert proc.returncode == 2
    assert "--dtype tf32 needs an NVIDIA GPU of the Ampere generation or newer (got device cpu)" in proc.stderr
    assert not (tmp_path / "p.h5").exists()
