"""Fault objects from the published Fault-Net gamma 0.7 weights' predictions (../shared/weights): the
two planar faults of a small synthetic survey come out as two objects with the right dip and strike."""
from __future__ import annotations

import json

import pytest

from hpcfault.faults.truth import compare
from tests.conftest import run_cli, shared_path

pytestmark = pytest.mark.shared

PLANAR = ["faults.count=[2,2]", "faults.listric_prob=0", "faults.arcuate_prob=0", "faults.tip_prob=0"]


def test_published_weights_predictions_give_the_faults(tmp_path):
    weights = shared_path("weights", "FaultNet_Gamma0.7.pt")
    run_cli("import-weights", weights, "-o", tmp_path / "g07.pt")
    run_cli("synth", tmp_path / "s.h5", "--shape", "64", "64", "64", "--seed", "4", "--family", "classic",
            "--no-progress", *PLANAR)
    run_cli("predict", tmp_path / "s.h5", "-m", tmp_path / "g07.pt", "-o", tmp_path / "pred.h5", "--no-progress")
    proc = run_cli("faults", tmp_path / "pred.h5", "-o", tmp_path / "f", "--min-area", "200")
    assert "orientation from structure tensor" in proc.stdout
    matches = compare(tmp_path / "s.h5", tmp_path / "f", 200)
    assert len(matches) == 2 and all(m.recovered for m in matches), matches
    for m in matches:
        assert max(m.errors()) <= 3.0 and m.ridge_within_1 >= 0.9, m
    assert json.loads((tmp_path / "f" / "faults.json").read_text())["counts"]["faults"] == 2
