"""The embedded default salt model: shipped with its record; on a synthetic salt survey it never
saw it finds the salt (inline and crossline sections averaged), and on a salt-free survey it
finds (almost) none."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from conftest import REPO
from hpcfault.tasks.salt import DEFAULT_MODEL

RECORD = DEFAULT_MODEL.with_suffix(".json")


@pytest.fixture(autouse=True)
def _one_thread(torch_one_thread):
    """torch on one thread (conftest.torch_one_thread)."""


def _predict(family: str, seed: int, overrides=()):
    from hpcfault.data.synth import SynthModel
    from hpcfault.data.synth_config import synth_config
    from hpcfault.models import load_model, read_checkpoint
    from hpcfault.tasks.salt.sections import predict_sections
    from hpcfault.train.validate import scale01

    v = SynthModel((96, 96, 96), seed, synth_config(family, list(overrides))).render_volumes()
    prob = predict_sections(load_model(DEFAULT_MODEL), scale01(v["seismic"]))["average"]
    return prob, v["salt"], float(read_checkpoint(DEFAULT_MODEL)["provenance"]["threshold"])


def test_the_default_salt_model_is_shipped_with_its_record():
    assert DEFAULT_MODEL.is_file(), f"{DEFAULT_MODEL} is missing: tools/salt_figures.py install makes it"
    rec = json.loads(RECORD.read_text())
    assert rec["checkpoint_sha256"] == hashlib.sha256(DEFAULT_MODEL.read_bytes()).hexdigest()
    assert (REPO / rec["recipe"]).is_file() and rec["config"]["task"] == "salt"
    # the measured figures of docs/salt.md (pooled over six held-out surveys: 0.899, the issue asks 0.85)
    held = rec["held_out"]
    assert held["average"]["iou"] >= 0.85 and held["average"]["iou"] >= max(held["inline"]["iou"], held["xline"]["iou"])
    assert all(v["salt_share"] < 0.01 for v in held["salt_free"].values())
    assert DEFAULT_MODEL.stat().st_size < 8 * 2**20
    from hpcfault.models import read_checkpoint

    ck = read_checkpoint(DEFAULT_MODEL)
    assert ck["task"] == "salt" and ck["model"] == "unet-resnet18" and ck["config"]["flip_tta"] is True
    assert 0 < ck["provenance"]["threshold"] < 1 and ck["provenance"]["input_clip_percentile"] == 0.5


def test_it_finds_salt_in_a_survey_it_never_saw():
    from hpcfault.tasks.salt import metrics as sm

    prob, truth, th = _predict("salt", 4711, ["salt.count=[2,2]", "salt.none_prob=0"])
    assert truth.mean() > 0.02
    counts = sm.tile_counts(np.moveaxis(prob, 1, 0), np.moveaxis(truth, 1, 0))
    s = sm.scores_at(counts, sm.nearest_index(sm.DEFAULT_THRESHOLDS, round(th * 20) / 20))
    assert s["iou"] > 0.6 and s["recall"] > 0.6, s


def test_it_finds_almost_no_salt_in_a_salt_free_survey():
    prob, truth, th = _predict("salt-free", 4712)
    assert not truth.any()
    assert (prob >= th).mean() < 0.01


@pytest.mark.mpi
def test_predict_task_salt_runs_the_embedded_model_on_a_survey(tmp_path):
    """`hpcfault predict SURVEY --task salt` (no -m) under mpiexec -n 2: the embedded model through
    the block engine, both section directions averaged, scored by evaluate."""
    from conftest import run_cli

    run_cli("synth", tmp_path / "s.h5", "--family", "salt", "--shape", "96", "96", "96", "--seed", "4711",
            "--no-progress", "salt.count=[2,2]", "salt.none_prob=0")
    proc = run_cli("predict", tmp_path / "s.h5", "--task", "salt", "-o", tmp_path / "p.h5", "--no-progress",
                   "--threads", "1", ranks=2)
    assert "salt (salt) from inline and xline sections, averaged" in proc.stdout
    run_cli("evaluate", tmp_path / "p.h5", tmp_path / "s.h5", "--json", tmp_path / "e.json")
    scores = json.loads((tmp_path / "e.json").read_text())["scores"]
    assert scores["iou"] > 0.6 and scores["recall"] > 0.6, scores
