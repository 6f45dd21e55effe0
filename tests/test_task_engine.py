"""The block engine with tasks: fault outputs unchanged, K outputs per block through shards, ledger,
merge and files, angles merged without wrap artefacts, per-block affine alignment, 2D section models.
"""
from __future__ import annotations

import hashlib
import json
import sys

import h5py
import numpy as np
import pytest
import torch

from conftest import REPO, run_cli, run_python_mpi, shared_path

sys.path.insert(0, str(REPO / "tests"))
import engine_models  # noqa: E402

# sha256 of the `data` array written by hpcfault predict before tasks existed (commit 8e4fce8's
# engine, measured on the same inputs): the fault task must write exactly these values.
GOLDEN_RANDOM = "a360df3901ef5db8ca1a3acadac5d04598cadfa6a516b2782f244ea8894559e9"
GOLDEN_F3_G07 = "db9bfbcae219c8299175c0d202a75ea4d422587b8d8636849e9db3b08d5c1098"
OPTS = ["--block", "32", "--overlap", "8", "--no-progress", "--threads", "1"]


def _sha(path, name="data") -> str:
    with h5py.File(path, "r") as f:
        return hashlib.sha256(np.ascontiguousarray(f[name][...]).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A 48 x 40 x 56 survey of smoothed noise (independent of the synthetic generator) and models."""
    from scipy.ndimage import gaussian_filter

    from hpcfault.io.volume import write_array
    from hpcfault.models import build_model, save_checkpoint

    root = tmp_path_factory.mktemp("engine")
    rng = np.random.default_rng(7)
    write_array(root / "survey.h5", gaussian_filter(rng.standard_normal((48, 40, 56)), (1.0, 2.0, 2.0)).astype(np.float32))
    torch.manual_seed(0)
    save_checkpoint(root / "rand.pt", build_model("faultnet", widths=[4, 8, 8], expansion=4, blocks=1), "faultnet")
    engine_models.unet_fault_strike(root / "fs.pt")
    engine_models.unet_fault_strike(root / "wrap.pt", near_wrap=True)
    torch.manual_seed(1)
    save_checkpoint(root / "u2.pt", build_model("unet2d", filters=[4, 8]), "unet2d")
    return root


@pytest.mark.mpi
@pytest.mark.parametrize("ranks", [1, 2])
def test_fault_outputs_are_the_bytes_of_before(files, tmp_path, ranks):
    out = tmp_path / "p.h5"
    run_cli("predict", files / "survey.h5", "-m", files / "rand.pt", "-o", out, *OPTS, ranks=ranks)
    assert _sha(out) == GOLDEN_RANDOM
    with h5py.File(out, "r") as f:
        assert list(f.keys()) == ["data", "geometry"] and f.attrs["task"] == "fault"
        assert f["data"].attrs["kind"] == "probability"


@pytest.mark.shared
@pytest.mark.mpi
@pytest.mark.parametrize("ranks", [1, 2])
def test_published_weights_write_the_bytes_of_before(tmp_path, ranks):
    g07 = tmp_path / "g07.pt"
    run_cli("import-weights", shared_path("weights", "FaultNet_Gamma0.7.pt"), "-o", g07)
    out = tmp_path / "f3.h5"
    run_cli("predict", shared_path("segy-test-data", "f3.sgy"), "-m", g07, "-o", out, *OPTS, ranks=ranks)
    assert _sha(out) == GOLDEN_F3_G07


@pytest.mark.mpi
def test_two_outputs_identical_for_any_rank_count_and_after_kill(files, tmp_path):
    results = {}
    for ranks in (1, 2, 3):
        out = tmp_path / f"r{ranks}.h5"
        run_cli("predict", files / "survey.h5", "-m", files / "fs.pt", "-o", out, *OPTS, ranks=ranks)
        results[ranks] = (_sha(out, "fault"), _sha(out, "fault_strike"))
    assert results[1] == results[2] == results[3]
    with h5py.File(tmp_path / "r1.h5", "r") as f:
        assert json.loads(f.attrs["outputs"]) == ["fault", "fault_strike"] and "data" not in f
        s = f["fault_strike"][...]
        assert f["fault_strike"].attrs["unit"] == "degrees" and 0 <= s.min() and s.max() < 180
        p = f["fault"][...]
        assert 0 <= p.min() and p.max() <= 1
    killed = tmp_path / "k.h5"
    proc = run_cli("predict", files / "survey.h5", "-m", files / "fs.pt", "-o", killed, *OPTS, ranks=2, check=False,
                   env={"HPCFAULT_TEST_CRASH_AFTER_BLOCKS": "1:1"})
    assert proc.returncode != 0 and not killed.exists()
    resumed = run_cli("predict", files / "survey.h5", "-m", files / "fs.pt", "-o", killed, *OPTS, ranks=2)
    assert "from the ledger" in resumed.stdout
    assert (_sha(killed, "fault"), _sha(killed, "fault_strike")) == results[1]


def test_angles_at_the_wrap_merge_without_artefacts(files, tmp_path):
    """Blocks disagree on the side of the wrap (179.99... vs 0.00...) near their borders: a mean of
    degrees would put ~90 there; the doubled-angle blend keeps every voxel at the wrap."""
    out = tmp_path / "w.h5"
    run_cli("predict", files / "survey.h5", "-m", files / "wrap.pt", "-o", out, *OPTS, "--keep-workdir")
    with h5py.File(out, "r") as f:
        a = f["fault_strike"][...].astype(np.float64)
    assert np.minimum(a, 180.0 - a).max() < 0.05
    # the test means something: in the shards, both sides of the wrap occur
    sides = set()
    for shard in (out.parent / "w.h5.work" / "shards").glob("*.h5"):
        with h5py.File(shard, "r") as f:
            for name in f:
                v = f[name][1]
                sides |= {bool((v > 90).any()), bool((v < 90).any())}
    assert sides == {True, False}


def test_rgt_blocks_align_to_one_affine_map(tmp_path, monkeypatch):
    """Each block returns its own scale and offset of a smooth increasing field; the merged volume
    is the field up to one global affine map, without steps at block borders."""
    from hpcfault.cluster.mpi import SerialComm
    from hpcfault.infer.config import PredictConfig
    from hpcfault.infer.runner import PredictJob, run_predict

    field = _rgt_files(tmp_path, monkeypatch)
    cfg = PredictConfig(model=str(tmp_path / "probe.pt"), block=32, overlap=8, threads=1, progress=False)
    run_predict(PredictJob(str(tmp_path / "rgt.h5"), str(tmp_path / "out.h5"), cfg), SerialComm())
    _check_rgt(tmp_path / "out.h5", field)


def _rgt_files(root, monkeypatch):
    from hpcfault.io.volume import write_array
    from hpcfault.models import save_checkpoint

    engine_models.register(monkeypatch)
    field = engine_models.smooth_increasing((64, 48, 56))
    write_array(root / "rgt.h5", field)
    save_checkpoint(root / "probe.pt", engine_models.AffineProbe(), "test-affine-probe", task="test-rgt")
    return field


def _check_rgt(out, field):
    with h5py.File(out, "r") as f:
        got = f["rgt"][...].astype(np.float64)
    a = np.stack([got.ravel(), np.ones(got.size)], 1)
    coef, *_ = np.linalg.lstsq(a, field.ravel().astype(np.float64), rcond=None)
    fitted = (a @ coef).reshape(got.shape)
    span = float(field.max() - field.min())
    assert np.abs(fitted - field).max() <= 1e-3 * span
    assert 0.0 <= got.min() + 1e-6 and got.max() <= 1.0 + 1e-6 and coef[0] > 0
    step = np.abs(np.diff(got, axis=1)).max(), np.abs(np.diff(field, axis=1)).max()
    assert step[0] * coef[0] <= step[1] + 1e-3 * span      # no jump larger than the field's own


@pytest.mark.mpi
def test_rgt_alignment_is_the_same_on_two_ranks(tmp_path, monkeypatch):
    field = _rgt_files(tmp_path, monkeypatch)
    code = f"""
import sys; sys.path.insert(0, {str(REPO / 'tests')!r})
import engine_models; engine_models.register()
from hpcfault.infer.config import PredictConfig
from hpcfault.infer.runner import PredictJob, run_predict
cfg = PredictConfig(model=sys.argv[1] + "/probe.pt", block=32, overlap=8, threads=1, progress=False)
run_predict(PredictJob(sys.argv[1] + "/rgt.h5", sys.argv[1] + "/two.h5", cfg))
"""
    run_python_mpi(2, code, tmp_path, timeout=300)
    _check_rgt(tmp_path / "two.h5", field)
    from hpcfault.cluster.mpi import SerialComm
    from hpcfault.infer.config import PredictConfig
    from hpcfault.infer.runner import PredictJob, run_predict

    cfg = PredictConfig(model=str(tmp_path / "probe.pt"), block=32, overlap=8, threads=1, progress=False)
    run_predict(PredictJob(str(tmp_path / "rgt.h5"), str(tmp_path / "one.h5"), cfg), SerialComm())
    assert _sha(tmp_path / "one.h5", "rgt") == _sha(tmp_path / "two.h5", "rgt")


@pytest.mark.mpi
@pytest.mark.parametrize("ranks", [1, 2])
def test_2d_section_model_along_inlines_equals_a_plain_loop(files, tmp_path, ranks):
    from hpcfault.infer.forward import make_deterministic
    from hpcfault.models import load_model, prepare_for_inference
    from hpcfault.normalize import Normalizer

    out = tmp_path / "u2.h5"
    run_cli("predict", files / "survey.h5", "-m", files / "u2.pt", "-o", out, "--axes-2d", "inline",
            "--block", "64", "--no-progress", "--threads", "1", ranks=ranks)
    with h5py.File(out, "r") as f:
        got = f["data"][...]
        norm = Normalizer.from_dict(json.loads(f.attrs["normalizer"]))
        assert json.loads(f.attrs["plan"])["sections"] == "inline"
    with h5py.File(files / "survey.h5", "r") as f:
        survey = f["data"][...]
    model = prepare_for_inference(load_model(files / "u2.pt"))
    make_deterministic(model)
    torch.set_num_threads(1)
    want = np.empty_like(got)
    for i in range(survey.shape[1]):
        sec = norm.apply(survey[:, i, :])
        pad = [(0, -(-n // 2) * 2 - n) for n in sec.shape]      # unet2d [4, 8]: multiples of 2
        x = torch.from_numpy(np.pad(sec, pad, mode="reflect"))[None, None]
        with torch.inference_mode():
            want[:, i, :] = model(x)[0, 0, :sec.shape[0], :sec.shape[1]].numpy()
    assert np.abs(got - want).max() == 0.0


def test_outputs_by_name_in_info_show_export_png_and_evaluate(files, tmp_path):
    """Every output of a task prediction is a dataset with its unit; --segy-out and --png per output;
    info lists them, show and export take any of them, evaluate uses the task's own metrics."""
    import segyio

    run_cli("synth", tmp_path / "s.h5", "--shape", "48", "40", "56", "--seed", "3", "--segy", tmp_path / "s.sgy",
            "--no-progress")
    out = tmp_path / "p.h5"
    proc = run_cli("predict", tmp_path / "s.sgy", "-m", files / "fs.pt", "-o", out, *OPTS,
                   "--segy-out", tmp_path / "p.sgy", "--png", tmp_path / "png")
    for name in ("fault", "fault_strike"):
        assert (tmp_path / f"p-{name}.sgy").is_file() and (tmp_path / "png" / f"{name}-three-view.png").is_file()
    with segyio.open(str(tmp_path / "p-fault_strike.sgy"), iline=189, xline=193) as s, h5py.File(out, "r") as f:
        assert np.array_equal(np.transpose(segyio.tools.cube(s), (2, 0, 1)), f["fault_strike"][...])
    info = run_cli("info", out, "--no-values").stdout
    assert "fault-strike: outputs fault, fault_strike" in info and "angle in degrees, range [0.0, 180.0]" in info
    run_cli("show", out, "--dataset", "fault_strike", "-o", tmp_path / "strike.png")
    run_cli("export", out, "--dataset", "fault_strike", "--like", tmp_path / "s.sgy", "-o", tmp_path / "e.sgy")
    assert (tmp_path / "e.sgy").read_bytes() == (tmp_path / "p-fault_strike.sgy").read_bytes()
    rep = run_cli("evaluate", out, tmp_path / "s.h5", "--json", tmp_path / "e.json").stdout
    assert "strike error" in rep and "Tol-IoU@2" in rep
    scores = json.loads((tmp_path / "e.json").read_text())
    assert scores["labels"].endswith(":labels") and 0 <= scores["fault_strike"]["mean_abs_error_deg"] <= 90
    assert "work dir" in proc.stdout
