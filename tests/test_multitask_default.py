"""The embedded multitask models (MTI and MTR, small, trained here on CPU): shipped with their
records (and the MTR trained beside it, not applied by default), used by `hpcfault predict --task multitask` without -m (in blocks of their training cube),
and better than their input where the record says so (DHR against the degraded input)."""
from __future__ import annotations

import hashlib
import json

import h5py
import pytest

from conftest import REPO, run_cli
from hpcfault.infer.config import ASSETS
from hpcfault.tasks import task_spec

TASK = task_spec("multitask")


@pytest.mark.parametrize("name", [TASK.default_model, "multitask-refine-cpu.pt"])
def test_embedded_models_are_shipped_with_their_records(name):
    from hpcfault.models import read_checkpoint

    model = ASSETS / name
    assert model.is_file(), f"{model} is missing: docs/multitask.md#the-embedded-models says how it was made"
    rec = json.loads(model.with_suffix(".json").read_text())
    assert rec["checkpoint_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert (REPO / rec["recipe"]).is_file() and rec["step"] == rec["config"]["steps"]
    ckpt = read_checkpoint(model)
    assert ckpt["task"] == rec["config"]["task"] and ckpt["provenance"]["cube"] == 32
    assert model.stat().st_size < 4 * 2**20          # small enough to live in the package
    assert {"MTI", "MTR x1"} <= set(rec["held_out"]["summary"])


@pytest.mark.mpi
def test_predict_without_a_model_uses_them_and_the_dhr_beats_the_input(tmp_path):
    run_cli("synth", tmp_path / "s.h5", "--family", "multitask", "--shape", "32", "64", "64", "--seed", "9411",
            "--no-progress")
    out = tmp_path / "mt.h5"
    run_cli("predict", tmp_path / "s.h5", "--task", "multitask", "-o", out, "--no-progress", "--threads", "1", ranks=2)
    with h5py.File(out, "r") as f:
        assert json.loads(f.attrs["outputs"]) == list(TASK.output_names)
        assert f.attrs["model"] == str(ASSETS / TASK.default_model)
        assert json.loads(f.attrs["plan"])["block"] == 32
        if TASK.default_refine:
            assert json.loads(f.attrs["refine"])["models"] == [str(ASSETS / r) for r in TASK.default_refine]
    run_cli("evaluate", out, tmp_path / "s.h5", "--json", tmp_path / "e.json")
    d = json.loads((tmp_path / "e.json").read_text())["dhr"]
    assert d["ssim"] > d["input_ssim"] and d["psnr_db"] > d["input_psnr_db"]
