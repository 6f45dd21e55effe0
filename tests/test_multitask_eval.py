"""Horizons from RGT (pure function, files, CLI) and the multitask evaluation (slab- and
rank-independent figures; a perfect prediction scores perfectly, the degraded input is the baseline)."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from conftest import run_cli, run_python_mpi
from hpcfault.errors import HpcfaultError
from hpcfault.tasks.multitask.horizons import extract, iso_times
from hpcfault.tasks.multitask.metrics import evaluate

SHAPE = (40, 24, 20)


def test_iso_times_interpolate_the_first_crossing():
    t = np.arange(10, dtype=np.float32)
    rgt = np.stack([t / 9, (t + 0.5) / 10, np.full(10, 0.5)], 1)[:, :, None]      # (T, 3 traces, 1)
    got = iso_times(rgt, [0.25, 0.5, 1.2])
    assert got[0, 0, 0] == pytest.approx(2.25) and got[0, 1, 0] == pytest.approx(2.0)
    assert got[1, 0, 0] == pytest.approx(4.5) and got[1, 1, 0] == pytest.approx(4.5)
    assert np.isnan(got[0, 2, 0])                                # the flat trace (0.5) starts above 0.25
    assert np.isnan(got[2]).all()                                # no trace reaches 1.2
    assert got[1, 2, 0] == 0.0                                   # the flat trace is at 0.5 from its top sample


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """A multitask synthetic survey and a 'prediction' made of its own labels (in other units)."""
    d = tmp_path_factory.mktemp("mt")
    labels, pred = d / "survey.h5", d / "pred.h5"
    run_cli("synth", labels, "--family", "multitask", "--shape", *map(str, SHAPE), "--seed", "6", "--block", "16")
    from hpcfault.io.volume import create_volume, read_geometry

    with h5py.File(labels, "r") as f:
        v = {k: f[k][...] for k in ("labels", "fault_dip", "fault_strike", "rgt", "dhr")}
        geom = read_geometry(f)
    outs = {"fault": v["labels"].astype(np.float32), "fault_dip": v["fault_dip"], "fault_strike": v["fault_strike"],
            "rgt": 2.0 * v["rgt"] - 0.5, "dhr": 0.05 * v["dhr"] + 0.5}
    with create_volume(pred, SHAPE, "float32", geometry=geom, extra={k: "float32" for k in outs}) as f:
        for k, a in outs.items():
            f[k][...] = a
    return labels, pred, v


def test_horizons_files_and_cli(survey, tmp_path):
    labels, pred, v = survey
    files = extract(pred, [0.2, 0.5], tmp_path / "h")
    assert [p.name for p in files] == ["horizons.h5", "horizons-0.2.txt", "horizons-0.5.txt"]
    with h5py.File(files[0], "r") as f:
        times = f["time"][...]
        assert times.shape == (2, SHAPE[1], SHAPE[2]) and f["time_ms"][0, 3, 4] == pytest.approx(4.0 * times[0, 3, 4])
    # the prediction is 2 rgt - 0.5: its 0.5 horizon is the truth's 0.5 horizon
    assert np.allclose(times[1], iso_times(v["rgt"], [0.5])[0], atol=1e-4, equal_nan=True)
    rows = np.loadtxt(files[2])
    assert rows.shape[1] == 5 and rows[0, 0] == 1 and rows[0, 1] == 1          # inline xline numbered from 1
    assert rows[:, 4] == pytest.approx(4.0 * times[1][~np.isnan(times[1])].ravel(), abs=2e-3)
    proc = run_cli("horizons", pred, "--values", "0.3", "-o", tmp_path / "c", "--slab", "5")
    assert "wrote 1 horizon" in proc.stdout
    with h5py.File(tmp_path / "c" / "horizons.h5", "r") as f:
        assert np.allclose(f["time"][0], iso_times(2.0 * v["rgt"] - 0.5, [0.3])[0], equal_nan=True)
    bad = run_cli("horizons", pred, "--values", "0.3", "0.3", "-o", tmp_path / "d", check=False)
    assert bad.returncode == 2 and "distinct" in bad.stderr and not (tmp_path / "d").exists()
    with pytest.raises(HpcfaultError, match="replace the input"):
        extract(pred, [0.5], pred.parent, name="pred")
    with pytest.raises(HpcfaultError, match="no dataset 'rgt2'"):
        extract(labels, [0.5], tmp_path / "e", dataset="rgt2")


def test_perfect_prediction_scores_perfectly_at_any_slab(survey):
    labels, pred, _ = survey
    rep = evaluate(str(pred), str(labels))
    s = rep["fault"]["scores"]
    assert s["iou"] == 1.0 and s["tol_iou"] == 1.0
    assert rep["fault_dip"]["mae_deg"] == 0.0 and rep["fault_strike"]["mae_deg"] == 0.0
    assert rep["rgt"]["mae"] < 1e-6 and rep["rgt"]["fit"][0] == pytest.approx(0.5, rel=1e-5)
    assert rep["rgt"]["horizons"]["share_within"] == 1.0 and rep["rgt"]["horizons"]["points"] > 0
    assert rep["dhr"]["ssim"] == pytest.approx(1.0, abs=1e-6) and rep["dhr"]["psnr_db"] > 80
    assert rep["dhr"]["input_ssim"] < 0.9 and rep["dhr"]["input_psnr_db"] < 40      # the degraded input
    other = evaluate(str(pred), str(labels), slab=5)
    for key in ("fault_dip", "fault_strike"):
        assert other[key] == rep[key]
    assert other["dhr"]["input_ssim"] == pytest.approx(rep["dhr"]["input_ssim"], rel=1e-9)
    assert other["rows"][-3:] == rep["rows"][-3:]
    json.dumps(rep)                                                     # a JSON-able report


def test_errors_are_measured(survey, tmp_path):
    labels, pred, v = survey
    worse = tmp_path / "worse.h5"
    import shutil

    shutil.copy(pred, worse)
    with h5py.File(worse, "r+") as f:
        f["fault_strike"][...] = np.mod(v["fault_strike"] + 10.0, 180.0)
        f["fault_dip"][...] = v["fault_dip"] - 4.0
        f["rgt"][...] = v["rgt"] + 3.0 / SHAPE[0]                    # horizons 3 samples up
    rep = evaluate(str(worse), str(labels))
    assert rep["fault_strike"]["mae_deg"] == pytest.approx(10.0, abs=1e-3)
    assert rep["fault_dip"]["mae_deg"] == pytest.approx(4.0, abs=1e-3)
    assert rep["rgt"]["mae"] < 1e-5                                   # an offset is affine: no RGT error
    with pytest.raises(HpcfaultError, match="needs .*:dhr"):
        with h5py.File(worse, "r+") as f:
            del f["dhr"]
        evaluate(str(worse), str(labels))


@pytest.mark.mpi
def test_two_ranks_give_the_same_report(survey, tmp_path):
    labels, pred, _ = survey
    code = ("import json, sys; from hpcfault.cluster.mpi import get_comm; "
            "from hpcfault.tasks.multitask.metrics import evaluate; c = get_comm(); "
            "r = evaluate(sys.argv[1], sys.argv[2], slab=4, comm=c); "
            "c.rank == 0 and open(sys.argv[3], 'w').write(json.dumps(r['rows']))")
    run_python_mpi(2, code, pred, labels, tmp_path / "rows.json")
    assert json.loads((tmp_path / "rows.json").read_text()) == evaluate(str(pred), str(labels), slab=4)["rows"]
