"""A salt model on a whole 3D survey through the MPI block engine: `hpcfault predict SURVEY.sgy -m
salt.pt -o out.h5` applies the 2D section model to every inline and every crossline and averages
them (the salt task's default); the result is the same for 1 and 2 ranks, is the mean of the
inline-only and crossline-only runs, and goes through evaluate, --segy-out and --png."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from conftest import run_cli

OPTS = ["--no-progress", "--threads", "1"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small synthetic salt survey (HDF5 with labels, and as SEG-Y) and a salt checkpoint: a
    narrow U-Net-ResNet-18 with random weights (the engine's arithmetic, not the model's skill)."""
    from hpcfault.models import build_model, save_checkpoint

    root = tmp_path_factory.mktemp("salt-predict")
    run_cli("synth", root / "s.h5", "--salt", "--shape", "64", "40", "48", "--seed", "3",
            "--segy", root / "s.sgy", "--no-progress", "salt.none_prob=0")
    torch.manual_seed(0)
    model = build_model("unet-resnet18", "salt", width=4, decoder=[8, 8, 4, 4, 4])
    save_checkpoint(root / "salt.pt", model, "unet-resnet18", task="salt", provenance={"threshold": 0.5})
    return root


def _salt(path):
    with h5py.File(path, "r") as f:
        return f["salt"][...], str(f.attrs["task"]), json.loads(f.attrs["plan"])


@pytest.mark.mpi
def test_a_survey_is_predicted_along_both_section_directions_the_same_on_any_rank_count(files, tmp_path):
    outs = {}
    for ranks in (1, 2):
        out = tmp_path / f"n{ranks}.h5"
        proc = run_cli("predict", files / "s.sgy", "-m", files / "salt.pt", "-o", out, *OPTS, ranks=ranks)
        assert "salt (salt) from inline and xline sections, averaged" in proc.stdout, proc.stdout
        outs[ranks] = _salt(out)
    (one, task, _), (two, _, _) = outs[1], outs[2]
    assert task == "salt" and one.dtype == np.float32 and one.shape == (64, 40, 48)
    assert np.array_equal(one, two)
    assert 0.0 <= one.min() and one.max() <= 1.0 and one.std() > 0
    with h5py.File(tmp_path / "n1.h5", "r") as f:
        assert "data" not in f and f["salt"].attrs["kind"] == "probability"
    views = {}
    for axis in ("inline", "xline"):
        out = tmp_path / f"{axis}.h5"
        run_cli("predict", files / "s.sgy", "-m", files / "salt.pt", "-o", out, "--axes-2d", axis, *OPTS, ranks=2)
        views[axis], _, p = _salt(out)
        assert p["sections"] == axis
        assert not np.array_equal(views[axis], one)
    np.testing.assert_allclose(one, (views["inline"] + views["xline"]) / 2, rtol=0, atol=2e-6)


def test_the_salt_volume_is_scored_exported_and_drawn(files, tmp_path):
    import segyio

    out = tmp_path / "p.h5"
    run_cli("predict", files / "s.sgy", "-m", files / "salt.pt", "-o", out, *OPTS,
            "--segy-out", tmp_path / "p.sgy", "--png", tmp_path / "png")
    assert (tmp_path / "png" / "three-view.png").is_file()                # one output: no name prefix
    with segyio.open(str(tmp_path / "p.sgy"), iline=189, xline=193) as s, h5py.File(out, "r") as f:
        assert np.array_equal(np.transpose(segyio.tools.cube(s), (2, 0, 1)), f["salt"][...])
    rep = run_cli("evaluate", out, files / "s.h5", "--json", tmp_path / "e.json").stdout
    assert "TGS metric" in rep and "Dice" in rep
    scores = json.loads((tmp_path / "e.json").read_text())
    prob, _, _ = _salt(out)
    with h5py.File(files / "s.h5", "r") as f:
        truth = f["salt"][...].astype(bool)
    pred = prob >= 0.5
    tp, fp, fn = (pred & truth).sum(), (pred & ~truth).sum(), (~pred & truth).sum()
    assert truth.any() and scores["scores"]["iou"] == pytest.approx(tp / (tp + fp + fn), abs=1e-6)
