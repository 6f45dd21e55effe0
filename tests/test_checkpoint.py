"""Project checkpoints: round trip, every error case as one clear line, and import-weights for real."""
from __future__ import annotations

import pytest
import torch

from hpcfault.errors import HpcfaultError
from hpcfault.models import FORMAT, build_model, load_model, read_checkpoint, save_checkpoint
from tests.conftest import run_cli, shared_path


pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.load.*:DeprecationWarning")


@pytest.fixture(autouse=True)
def _one_thread(torch_one_thread):
    """Every test here runs torch on one thread (conftest.torch_one_thread)."""


@pytest.mark.parametrize("name,config", [("faultnet", {"widths": [8, 16, 32]}), ("faultnet-nomcf", {}),
                                         ("unet3d", {"filters": [8, 16, 32]})])
def test_round_trip(tmp_path, name, config):
    model = build_model(name, **config).eval()
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, name, provenance={"run": "test", "step": 3})
    payload = torch.load(path, weights_only=True)  # readable without trusting pickles
    assert payload["format"] == FORMAT and payload["model"] == name
    assert payload["provenance"] == {"run": "test", "step": 3}
    loaded = load_model(path)
    assert not loaded.training and type(loaded) is type(model)
    x = torch.rand(1, 1, 16, 32, 16)
    with torch.inference_mode():
        assert torch.equal(loaded(x), model(x))
    assert not list(tmp_path.glob(".*tmp*")), "atomic write left a temporary file"


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(HpcfaultError, match="checkpoint not found"):
        load_model(tmp_path / "nope.pt")
    good = tmp_path / "good.pt"
    save_checkpoint(good, build_model("faultnet"), "faultnet")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(HpcfaultError, match="cannot read checkpoint .*corrupt or not a checkpoint"):
        load_model(truncated)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all\n" * 10)
    with pytest.raises(HpcfaultError, match="cannot read checkpoint"):
        read_checkpoint(garbage)


def test_bare_state_dict_and_foreign_pickle(tmp_path):
    bare = tmp_path / "bare.pt"
    torch.save(build_model("faultnet").state_dict(), bare)
    with pytest.raises(HpcfaultError, match="not an hpcfault checkpoint .*import-weights"):
        load_model(bare)
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": FORMAT, "obj": object.__new__(torch.nn.ReLU)}, foreign)
    with pytest.raises(HpcfaultError, match="cannot read checkpoint"):
        load_model(foreign)


def test_torchscript_file_gets_the_import_hint():
    with pytest.raises(HpcfaultError, match="hpcfault import-weights"):
        load_model(shared_path("weights", "FaultNet_Gamma0.5.pt"))


def test_other_architecture_and_wrong_config(tmp_path):
    path = tmp_path / "unet.pt"
    save_checkpoint(path, build_model("unet3d"), "unet3d")
    with pytest.raises(HpcfaultError, match="holds model 'unet3d' .*'faultnet' is expected"):
        load_model(path, expect="faultnet")
    payload = torch.load(path, weights_only=True)
    # weights of one architecture labelled as another
    payload["model"] = "faultnet"
    payload["config"] = {}
    torch.save(payload, tmp_path / "mislabelled.pt")
    with pytest.raises(HpcfaultError, match="weights do not fit model 'faultnet' .*missing keys"):
        load_model(tmp_path / "mislabelled.pt")
    # right architecture, wrong widths
    fn = tmp_path / "fn.pt"
    save_checkpoint(fn, build_model("faultnet"), "faultnet")
    payload = torch.load(fn, weights_only=True)
    payload["config"]["widths"] = [8, 16, 32]
    torch.save(payload, tmp_path / "wrong-widths.pt")
    with pytest.raises(HpcfaultError, match="shape mismatches .*transition2"):
        load_model(tmp_path / "wrong-widths.pt")
    payload["config"] = {"widths": [8, 16, 24], "depth": 4}
    torch.save(payload, tmp_path / "bad-key.pt")
    with pytest.raises(HpcfaultError, match="wrong model config: unknown config key .*'depth'"):
        load_model(tmp_path / "bad-key.pt")
    payload["model"] = "resnet50"
    torch.save(payload, tmp_path / "unknown.pt")
    with pytest.raises(HpcfaultError, match="unknown model .*'resnet50'"):
        load_model(tmp_path / "unknown.pt")


@pytest.mark.shared
def test_import_weights_cli(tmp_path):
    src = shared_path("weights", "FaultNet_Gamma0.7.pt")
    out = tmp_path / "faultnet-g07.pt"
    proc = run_cli("import-weights", src, "-o", out)
    assert "421,597 parameters" in proc.stdout and "gamma 0.7" in proc.stdout
    payload = read_checkpoint(out)
    prov = payload["provenance"]
    assert payload["model"] == "faultnet" and payload["config"]["widths"] == [8, 16, 24]
    assert prov["source"] == "FaultNet_Gamma0.7.pt" and prov["gamma"] == 0.7
    import hashlib
    assert prov["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert prov["check"]["max_abs_diff"] <= 1e-5
    model = load_model(out)
    scripted = torch.jit.load(str(src))
    x = torch.rand(1, 1, 32, 32, 32)
    with torch.inference_mode():
        assert (model(x) - scripted(x)).abs().max().item() <= 1e-5


def test_import_weights_cli_errors(tmp_path):
    bad = tmp_path / "FaultNet_Gamma0.9.pt"
    bad.write_bytes(b"\x00" * 100)
    proc = run_cli("import-weights", bad, "-o", tmp_path / "x.pt", check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot load" in lines[0] and "TorchScript" in lines[0]
    assert not (tmp_path / "x.pt").exists()
    proc = run_cli("import-weights", tmp_path / "absent.pt", "-o", tmp_path / "x.pt", check=False)
    assert proc.returncode == 2 and "not found" in proc.stderr
