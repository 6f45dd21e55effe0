"""`hpcfault evaluate` on real volume files: streamed counts equal in-memory scores, MPI, errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from conftest import run_cli
from hpcfault.cluster.mpi import SerialComm
from hpcfault.errors import HpcfaultError
from hpcfault.io.volume import write_array
from hpcfault.metrics import evaluate_files, score_counts, scores, threshold_counts, best_threshold

SHAPE = (16, 23, 12)


def _case(seed=2):
    rng = np.random.default_rng(seed)
    labels = ndimage.binary_dilation(rng.random(SHAPE) > 0.985).astype(np.uint8)
    shifted = np.roll(labels, 1, axis=2)                # predictions one voxel off in places
    prob = np.clip(0.6 * shifted + 0.3 * labels + 0.45 * rng.random(SHAPE), 0, 1).astype(np.float32)
    mask = np.zeros(SHAPE, np.uint8)
    mask[:, ::3] = 1
    return prob, labels, mask


@pytest.fixture
def files(tmp_path):
    prob, labels, mask = _case()
    seis = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
    write_array(tmp_path / "pred.h5", prob)
    write_array(tmp_path / "survey.h5", seis, labels=labels, mask=mask)
    write_array(tmp_path / "labels-as-data.h5", labels)
    return tmp_path, prob, labels, mask


@pytest.mark.parametrize("slab", [1, 4, None])
def test_streamed_file_scores_equal_in_memory_scores(files, slab):
    d, prob, labels, mask = files
    for use_mask, m in ((False, None), (True, mask)):
        rep = evaluate_files(str(d / "pred.h5"), str(d / "survey.h5"), use_mask=use_mask, slab=slab,
                             comm=SerialComm())
        whole = score_counts(prob, labels, m, threshold=0.5, radius=2)
        assert rep["counts"] == whole
        assert rep["scores"] == scores(whole)
        t, iou = best_threshold(threshold_counts(prob, labels, m))
        assert rep["best_threshold"] == {"threshold": t, "iou": pytest.approx(iou)}
        assert rep["labels"].endswith("survey.h5:labels")
    rep = evaluate_files(str(d / "pred.h5"), str(d / "labels-as-data.h5"), comm=SerialComm())
    assert rep["labels"].endswith(":data")
    assert rep["counts"] == score_counts(prob, labels)


def test_evaluate_cli_table_and_json(files):
    d, prob, labels, mask = files
    proc = run_cli("evaluate", d / "pred.h5", d / "survey.h5", "--mask", "--threshold", "0.6",
                   "--json", d / "scores.json")
    rep = json.loads((d / "scores.json").read_text())
    s = scores(score_counts(prob, labels, mask, threshold=0.6, radius=2))
    assert rep["scores"]["iou"] == pytest.approx(s["iou"]) and rep["mask"] is True
    assert rep["scores"]["tol_iou"] == pytest.approx(s["tol_iou"])
    for label in ("IoU@0.6", "precision", "recall", "F1", "Tol-IoU@2", "best threshold"):
        assert label in proc.stdout
    assert f"{s['tol_iou']:.4f}" in proc.stdout
    assert rep["threshold"] == 0.6 and len(rep["iou_by_threshold"]) == 19


def test_evaluate_errors(files, tmp_path):
    d, prob, labels, mask = files
    write_array(tmp_path / "other.h5", prob[:, :10])
    with pytest.raises(HpcfaultError, match=r"has shape \(16, 10, 12\), labels .* \(16, 23, 12\)"):
        evaluate_files(str(tmp_path / "other.h5"), str(d / "survey.h5"), comm=SerialComm())
    with pytest.raises(HpcfaultError, match="no 'mask' dataset"):
        evaluate_files(str(d / "pred.h5"), str(d / "labels-as-data.h5"), use_mask=True, comm=SerialComm())
    bad = run_cli("evaluate", tmp_path / "other.h5", d / "survey.h5", check=False)
    assert bad.returncode == 2 and "has shape" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.mpi
def test_evaluate_under_mpiexec_two_ranks_matches_serial(files):
    d, prob, labels, mask = files
    run_cli("evaluate", d / "pred.h5", d / "survey.h5", "--mask", "--slab", "3",
            "--json", d / "mpi.json", ranks=2)
    rep = json.loads((d / "mpi.json").read_text())
    assert rep["counts"] == score_counts(prob, labels, mask, threshold=0.5, radius=2)
    bad = run_cli("evaluate", d / "pred.h5", d / "survey.h5", "--slab", "0", ranks=2, check=False)
    assert bad.returncode == 2 and bad.stderr.count("--slab must be >= 1") == 1   # said once, not per rank
