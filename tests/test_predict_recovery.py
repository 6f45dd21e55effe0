"""The published gamma 0.7 Fault-Net weights, imported, find the faults of a synthetic SEG-Y survey.

synth --segy -> import-weights -> mpiexec -n 2 predict SURVEY.sgy (tiled, merged) -> scores against
the synthetic labels (hpcfault.metrics): IoU and Tol-IoU@2 = F1/(2 - F1) at a 2-voxel tolerance.
Measured here (classic family, seed 5, 128^3, blocks of 64, 2 ranks): see the README's predict section.
"""
from __future__ import annotations

import json

import h5py
import pytest
from conftest import run_cli, shared_path

pytestmark = [pytest.mark.slow, pytest.mark.shared, pytest.mark.mpi]


def test_published_weights_recover_synthetic_faults(tmp_path):
    from hpcfault.metrics import score_counts, scores

    weights = shared_path("weights", "FaultNet_Gamma0.7.pt")
    run_cli("import-weights", weights, "-o", tmp_path / "g07.pt")
    run_cli("synth", tmp_path / "survey.h5", "--shape", "128", "128", "128", "--seed", "5",
            "--family", "classic", "--segy", tmp_path / "survey.sgy", "--no-progress")
    out = tmp_path / "faults.h5"
    run_cli("predict", tmp_path / "survey.sgy", "-m", tmp_path / "g07.pt", "-o", out, "--block", "64",
            "--segy-out", tmp_path / "faults.sgy", "--png", tmp_path / "png", "--no-progress", ranks=2)
    with h5py.File(out, "r") as f, h5py.File(tmp_path / "survey.h5", "r") as s:
        prob, labels = f["data"][...], s["labels"][...]
        assert f["geometry/inlines"][0] == s["geometry/inlines"][0]
    got = scores(score_counts(prob, labels, threshold=0.5, radius=2))
    print(json.dumps({k: round(v, 3) for k, v in got.items()}))
    assert got["tol_iou"] >= 0.7 and got["iou"] >= 0.2 and got["tol_recall"] >= 0.8
    assert (tmp_path / "faults.sgy").stat().st_size > 0 and (tmp_path / "png" / "three-view.png").exists()
