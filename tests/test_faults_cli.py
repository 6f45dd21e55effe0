"""`hpcfault faults` as a real process on a synthetic survey: fault objects against the known faults,
every output file read back, SEG-Y export, a multi-task file's own dip/strike, bad input, pictures."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from hpcfault.faults.formats import read_charisma, read_opendtect, read_points
from hpcfault.faults.orientation import axial_difference
from hpcfault.faults.table import COLUMNS, read_table_csv
from hpcfault.faults.truth import compare
from tests.conftest import run_cli

PLANAR = ["faults.count=[2,2]", "faults.listric_prob=0", "faults.arcuate_prob=0", "faults.tip_prob=0"]
MIN_AREA = 200


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """64^3 classic synthetic with two planar faults that cross (seed 4), as HDF5 and SEG-Y."""
    d = tmp_path_factory.mktemp("faults")
    run_cli("synth", d / "s.h5", "--shape", "64", "64", "64", "--seed", "4", "--family", "classic",
            "--segy", d / "s.sgy", "--no-progress", *PLANAR)
    return d


@pytest.fixture(scope="module")
def labels_out(survey):
    out = survey / "faults-labels"
    proc = run_cli("faults", survey / "s.h5", "--dataset", "labels", "-o", out, "--min-area", MIN_AREA)
    assert proc.stdout.startswith(f"wrote {out}/: 2 faults") and proc.stdout.count("\n") == 1, proc.stdout
    return out


def test_labels_give_each_fault_as_one_object(survey, labels_out):
    matches = compare(survey / "s.h5", labels_out, MIN_AREA)
    assert len(matches) == 2 and all(m.recovered for m in matches), matches
    for m in matches:
        dip_err, strike_err = m.errors()
        assert dip_err <= 3.0 and strike_err <= 3.0, m
        assert m.ridge_within_1 >= 0.9 and m.found >= 0.8, m
    table = json.loads((labels_out / "faults.json").read_text())
    assert table["counts"]["faults"] == 2 and table["orientation"] == "structure tensor"
    assert table["inline_azimuth"] == pytest.approx(90.0) and table["crossline_azimuth"] == pytest.approx(0.0)


def test_every_output_reads_back(survey, labels_out):
    with h5py.File(labels_out / "fault-ids.h5") as f:
        ids = f["data"][...]
        assert f["data"].dtype == np.int32 and f.attrs["axes"] == "time,inline,xline"
        inlines, xlines = f["geometry/inlines"][...], f["geometry/xlines"][...]
    with h5py.File(labels_out / "thinned.h5") as f:
        thin, dip = f["data"][...], f["dip"][...]
    assert set(np.unique(ids)) == {0, 1, 2} and ((thin > 0) >= (ids > 0)).all()
    rows = json.loads((labels_out / "faults.json").read_text())["faults"]
    csv_rows = read_table_csv((labels_out / "faults.csv").read_text())
    assert list(csv_rows[0].keys()) == list(COLUMNS) and [int(r["voxels"]) for r in csv_rows] == [r["voxels"] for r in rows]
    for row in rows:
        fid, name = row["id"], row["name"]
        mine = ids == fid
        assert row["voxels"] == int(mine.sum())
        pts = read_points(labels_out / "points" / f"{name}.csv")
        assert len(pts) == row["voxels"]
        t, i, x = np.nonzero(mine)
        assert set(zip(pts[:, 0].astype(int), pts[:, 1].astype(int), pts[:, 2].astype(int))) == \
            set(zip(inlines[i].tolist(), xlines[x].tolist(), (t * 4).tolist()))       # 4 ms samples
        assert np.allclose(pts[:, 3], 1000 + 25 * (pts[:, 0] - 1)) and np.allclose(pts[:, 4], 2000 + 25 * (pts[:, 1] - 1))
        assert abs(np.mean(pts[:, 5]) - row["dip"]) < 1.0 and dip[mine].min() > 0
        # the sticks: OpendTect single and bulk files and the Charisma file hold the same sticks
        single = read_opendtect(labels_out / "sticks" / "opendtect" / f"{name}.txt", bulk=False, name=name)
        bulk = [s for s in read_opendtect(labels_out / "sticks" / "opendtect-all.txt", bulk=True) if s.name == name]
        charisma = [s for s in read_charisma(labels_out / "sticks" / "charisma.txt") if s.name == name]
        assert len(single) == len(bulk) == len(charisma) == row["sticks"] > 3
        for a, b, c in zip(single, bulk, charisma):
            assert a.number == b.number == c.number
            assert np.allclose(a.nodes[:, 2:], b.nodes[:, 2:]) and np.allclose(a.nodes[:, 2:], c.nodes[:, 2:], atol=0.01)
            assert np.all(np.diff(c.nodes[:, 4]) > 0)            # ordered along time
            # each node lies on its fault: within 1.5 traces of one of its voxels at that time
            for il, xl, _, _, z in c.nodes:
                on = pts[np.isclose(pts[:, 2], z)]
                assert np.hypot(on[:, 0] - il, on[:, 1] - xl).min() <= 1.5


def test_fault_ids_export_to_segy(survey, labels_out, tmp_path):
    import segyio

    run_cli("export", labels_out / "fault-ids.h5", "--like", survey / "s.sgy", "-o", tmp_path / "ids.sgy",
            "--no-progress")
    with h5py.File(labels_out / "fault-ids.h5") as f:
        ids = f["data"][...]
    with segyio.open(tmp_path / "ids.sgy") as f:
        cube = segyio.tools.cube(f)                  # (inline, xline, time)
    assert np.array_equal(cube.transpose(2, 0, 1), ids.astype(np.float32))


def test_a_multitask_file_gives_its_own_dip_and_strike(survey, tmp_path):
    """A file as a multi-task prediction writes it: 'fault', 'fault_dip', 'fault_strike' (strike modulo
    180), no 'data'. The orientation comes from those outputs unless --orientation tensor."""
    with h5py.File(survey / "s.h5") as f:
        labels, fids = f["labels"][...].astype(np.float32), f["fault_ids"][...]
        faults = {d["id"]: d for d in json.loads(f.attrs["faults"])}
        geometry = {k: v[...] for k, v in f["geometry"].items()}
        attrs = {k: f.attrs[k] for k in ("format", "axes", "sample_interval", "sample_unit")}
    dip = np.zeros(labels.shape, np.float32)
    strike = np.zeros(labels.shape, np.float32)
    for fid, d in faults.items():
        dip[fids == fid], strike[fids == fid] = d["dip"], d["strike"] % 180.0
    mtl = tmp_path / "mtl.h5"
    with h5py.File(mtl, "w") as f:
        f.attrs.update(attrs)
        for k, v in geometry.items():
            f[f"geometry/{k}"] = v
        f["fault"], f["fault_dip"], f["fault_strike"] = labels, dip, strike
    proc = run_cli("faults", mtl, "-o", tmp_path / "m", "--min-area", MIN_AREA)
    assert "orientation from model outputs fault_dip/fault_strike" in proc.stdout
    rows = json.loads((tmp_path / "m" / "faults.json").read_text())["faults"]
    truth = sorted((d["dip"], d["strike"]) for d in faults.values())
    got = sorted((r["dip"], r["strike"]) for r in rows[:2])
    for (td, ts), (gd, gs) in zip(truth, got):
        assert abs(gd - td) < 0.1 and abs(float(axial_difference(gs, ts))) < 0.1 and abs(gs - ts) < 0.1
    proc = run_cli("faults", mtl, "-o", tmp_path / "t", "--orientation", "tensor", "--min-area", MIN_AREA)
    assert "orientation from structure tensor" in proc.stdout
    # the fault-strike task's file: strike (modulo 180) from the model, dip from the tensor
    with h5py.File(mtl, "a") as f:
        del f["fault_dip"]
    proc = run_cli("faults", mtl, "-o", tmp_path / "s", "--min-area", MIN_AREA)
    assert "orientation from model output fault_strike (dip from the structure tensor)" in proc.stdout
    rows = json.loads((tmp_path / "s" / "faults.json").read_text())["faults"]
    got = sorted((r["dip"], r["strike"]) for r in rows[:2])
    for (td, ts), (gd, gs) in zip(truth, got):
        assert abs(gd - td) < 3 and abs(gs - ts) < 0.1
    # a synthetic survey's own fault_dip/fault_strike are labels, not a model's outputs: auto leaves them
    assert "orientation from structure tensor" in run_cli(
        "faults", survey / "s.h5", "--dataset", "labels", "-o", tmp_path / "l", "--min-area", MIN_AREA).stdout
    bad = run_cli("faults", tmp_path / "t" / "thinned.h5", "--orientation", "model", "-o", tmp_path / "x", check=False)
    assert bad.returncode == 2 and "--orientation model needs dataset fault_dip or fault_strike" in bad.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("args, message", [
    (["missing.h5"], "volume file not found (got 'missing.h5')"),
    (["{s}", "--dataset", "nope"], "no dataset 'nope'"),
    (["{s}", "--dataset", "labels", "--low", "0.9", "--high", "0.5"], "thresholds must satisfy 0 < --low <= --high <= 1"),
    (["{s}", "--dataset", "data"], "fault probabilities must be finite values in [0, 1]"),
    (["{s}", "--dataset", "labels", "--memory", "1MiB"], "memory budget too small for this survey (got 1.0 MiB)"),
    (["{s}", "--dataset", "labels", "--slab-inlines", "0"], "--slab-inlines must be >= 1 (got 0)"),
])
def test_bad_input_is_one_line_and_no_output(survey, tmp_path, args, message):
    args = [a.format(s=survey / "s.h5") for a in args]
    proc = run_cli("faults", *args, "-o", tmp_path / "out", check=False, cwd=tmp_path)
    errors = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(errors) == 1 and errors[0].startswith("hpcfault faults: error: "), proc.stderr
    assert message in errors[0]
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.tmp-*"))


def test_outputs_never_replace_inputs_or_foreign_folders(survey, labels_out, tmp_path):
    proc = run_cli("faults", survey / "s.h5", "--dataset", "labels", "-o", survey / "s.h5", check=False)
    assert proc.returncode == 2 and "-o must be a folder (got a regular file" in proc.stderr
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    proc = run_cli("faults", survey / "s.h5", "--dataset", "labels", "-o", tmp_path / "mine", check=False)
    assert proc.returncode == 2 and "output exists and is not an 'hpcfault faults' output folder" in proc.stderr
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    # an earlier output of hpcfault faults is replaced, and nothing is left beside it
    first = tmp_path / "again"
    run_cli("faults", survey / "s.h5", "--dataset", "labels", "-o", first, "--min-area", MIN_AREA)
    run_cli("faults", survey / "s.h5", "--dataset", "labels", "-o", first, "--min-area", "1e9")
    assert json.loads((first / "faults.json").read_text())["counts"]["faults"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again", "mine"]


def test_show_draws_each_fault_object(survey, labels_out, tmp_path):
    png = tmp_path / "objects.png"
    proc = run_cli("show", survey / "s.h5", "--faults-ids", labels_out / "fault-ids.h5", "-o", png)
    assert proc.stdout.strip() == f"wrote {png}"
    from matplotlib.image import imread

    img = imread(png)
    assert img.shape[:2] == (400, 1200)
    colourful = (np.ptp(img[..., :3], axis=2) > 0.3).sum()      # fault colours on a gray picture
    assert colourful > 200
    proc = run_cli("show", survey / "s.h5", "--faults-ids", survey / "s.h5", "-o", png, check=False)
    assert proc.returncode == 2 and "fault ids must be integers" in proc.stderr
