"""Multitask models through the survey-scale block engine (`hpcfault predict`): MTI and MTI + MTR
write the five outputs as datasets, the same bytes on 1 and 2 ranks and after a rank is killed;
the refinement is the chain y = mtr(...mtr(mti(x))); evaluate, horizons, export and PNGs take the
file. The networks are tiny and untrained (what is checked is the engine, not the figures: those
are docs/multitask.md's, tools/multitask_figures.py)."""
from __future__ import annotations

import hashlib
import json

import h5py
import numpy as np
import pytest
import torch

from conftest import run_cli

OUTPUTS = ["fault", "fault_dip", "fault_strike", "rgt", "dhr"]
OPTS = ["--block", "32", "--overlap", "8", "--no-progress", "--threads", "1"]
SMALL = {"widths": [4, 8, 8], "bottleneck": 8, "depths": [2, 1, 2], "head_depth": 2, "head_width": 1,
         "norm": "instance-running"}


def _shas(path) -> dict:
    with h5py.File(path, "r") as f:
        return {k: hashlib.sha256(np.ascontiguousarray(f[k][...]).tobytes()).hexdigest() for k in OUTPUTS}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A multitask survey 2 x 2 blocks wide and tiny MTI/MTR checkpoints (running instance statistics
    made non-trivial, so that the folded normalization is exercised)."""
    from hpcfault.models import build_model, save_checkpoint

    root = tmp_path_factory.mktemp("mtpredict")
    run_cli("synth", root / "s.h5", "--family", "multitask", "--shape", "32", "48", "56", "--seed", "3",
            "--segy", root / "s.sgy", "--no-progress")
    torch.manual_seed(0)
    for name, task in (("mtl", "multitask"), ("mtl-refine", "multitask-refine")):
        model = build_model(name, **SMALL)
        for m in model.modules():
            if getattr(m, "running_mean", None) is not None:
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        save_checkpoint(root / f"{name}.pt", model, name, task=task, provenance={"cube": 32})
    return root


@pytest.mark.mpi
def test_mti_and_mtr_write_every_output_identically_on_any_rank_count(files, tmp_path):
    mti, mtr = files / "mtl.pt", files / "mtl-refine.pt"
    plain = {r: _shas(run_cli("predict", files / "s.h5", "-m", mti, "-o", tmp_path / f"m{r}.h5", *OPTS, ranks=r)
                      and tmp_path / f"m{r}.h5") for r in (1, 2)}
    assert plain[1] == plain[2]
    with h5py.File(tmp_path / "m1.h5", "r") as f:
        assert json.loads(f.attrs["outputs"]) == OUTPUTS and f.attrs["task"] == "multitask" and "refine" not in f.attrs
        p, dip, strike, rgt = (f[k][...] for k in ("fault", "fault_dip", "fault_strike", "rgt"))
        assert f["rgt"].attrs["merge"] == "affine" and f["fault_strike"].attrs["merge"] == "angle"
        assert 0 <= p.min() and p.max() <= 1 and 0 <= dip.min() and dip.max() < 360
        assert 0 <= strike.min() and strike.max() < 180 and 0 <= rgt.min() and rgt.max() <= 1
        assert f["rgt"].attrs["rises_in_time"] and not f["dhr"].attrs["rises_in_time"]
        assert (np.diff(rgt, axis=0) >= 0).all()          # the merge keeps RGT rising down every trace
    # tiles of 16 cut time in two: the running maximum carries across tiles, the same bytes
    run_cli("predict", files / "s.h5", "-m", mti, "-o", tmp_path / "t16.h5", *OPTS, "merge_tile=16")
    assert _shas(tmp_path / "t16.h5") == plain[1]
    refined = {}
    for r in (1, 2):
        out = tmp_path / f"r{r}.h5"
        run_cli("predict", files / "s.h5", "-m", mti, "--refine", mtr, "--refine-iterations", "2", "-o", out, *OPTS,
                ranks=r)
        refined[r] = _shas(out)
    assert refined[1] == refined[2]
    assert all(refined[1][k] != plain[1][k] for k in OUTPUTS)       # the refinement changed every output
    with h5py.File(tmp_path / "r2.h5", "r") as f:
        assert json.loads(f.attrs["refine"]) == {"models": [str(mtr)], "iterations": 2}
    # two iterations of one model = the model given twice (the chain mtr(mtr(mti(x))), per block)
    twice = tmp_path / "twice.h5"
    run_cli("predict", files / "s.h5", "-m", mti, "--refine", mtr, "--refine", mtr, "-o", twice, *OPTS, ranks=2)
    assert _shas(twice) == refined[1]
    # a rank killed (SIGKILL) after one block; the rerun takes the ledger's blocks: the same bytes
    killed = tmp_path / "k.h5"
    args = ("predict", files / "s.h5", "-m", mti, "--refine", mtr, "--refine-iterations", "2", "-o", killed, *OPTS)
    proc = run_cli(*args, ranks=2, check=False, env={"HPCFAULT_TEST_CRASH_AFTER_BLOCKS": "1:1"})
    assert proc.returncode != 0 and not killed.exists()
    assert "from the ledger" in run_cli(*args, ranks=2).stdout
    assert _shas(killed) == refined[1]


def test_one_block_equals_the_chain_in_process(files, tmp_path):
    """On a survey of exactly one block the engine's outputs are the in-process chain's, decoded
    (RGT up to the engine's scaling to [0, 1])."""
    from hpcfault.models import load_model, prepare_for_inference
    from hpcfault.models.mtl import refine_chain
    from hpcfault.tasks import task_spec
    from hpcfault.normalize import Normalizer
    from hpcfault.tasks.decode import decode

    run_cli("synth", tmp_path / "one.h5", "--family", "multitask", "--shape", "32", "32", "32", "--seed", "4",
            "--no-progress")
    out = tmp_path / "one-p.h5"
    run_cli("predict", tmp_path / "one.h5", "-m", files / "mtl.pt", "--refine", files / "mtl-refine.pt",
            "--refine-iterations", "3", "-o", out, *OPTS)
    with h5py.File(tmp_path / "one.h5", "r") as f:
        x = f["data"][...].astype(np.float32)
    with h5py.File(out, "r") as f:
        norm = Normalizer.from_dict(json.loads(f.attrs["normalizer"]))
        got = {k: f[k][...] for k in OUTPUTS}
    xn = norm.apply(x)
    mti = prepare_for_inference(load_model(files / "mtl.pt")).eval()
    mtr = prepare_for_inference(load_model(files / "mtl-refine.pt")).eval()
    with torch.inference_mode():
        y = refine_chain(mti, mtr, torch.from_numpy(xn)[None, None], 3)[-1]
        want = decode(task_spec("multitask"), y[0]).numpy()
    for k, name in enumerate(OUTPUTS):
        w = want[k]
        if name == "rgt":      # scaled to [0, 1], and kept rising down every trace by the merge
            w = np.maximum.accumulate((w - w.min()) / (w.max() - w.min()), axis=0)
        tol = 1e-3 if name in ("fault_dip", "fault_strike") else 1e-5      # degrees vs unit values
        diff = np.abs(got[name] - w)
        if name in ("fault_dip", "fault_strike"):
            period = 360.0 if name == "fault_dip" else 180.0
            diff = np.minimum(diff, period - diff)
        assert diff.max() < tol, (name, float(diff.max()))


def test_evaluate_horizons_export_and_pngs_take_the_prediction(files, tmp_path):
    """Also: with no --block, the blocks are the checkpoint's training cube (Task.cube_blocks)."""
    out = tmp_path / "p.h5"
    proc = run_cli("predict", files / "s.sgy", "-m", files / "mtl.pt", "-o", out, *OPTS[2:], "--segy-out",
                   tmp_path / "p.sgy", "--png", tmp_path / "png")
    assert proc.stdout.startswith(f"wrote {out}: multitask (fault, fault_dip, fault_strike, rgt, dhr), 32 x 48")
    with h5py.File(out, "r") as f:
        assert json.loads(f.attrs["plan"])["block"] == 32
    for name in OUTPUTS:
        assert (tmp_path / f"p-{name}.sgy").is_file() and (tmp_path / "png" / f"{name}-three-view.png").is_file()
    run_cli("export", out, "--dataset", "rgt", "--like", files / "s.sgy", "-o", tmp_path / "rgt.sgy")
    assert (tmp_path / "rgt.sgy").read_bytes() == (tmp_path / "p-rgt.sgy").read_bytes()
    rep = run_cli("evaluate", out, files / "s.h5", "--json", tmp_path / "e.json").stdout
    scores = json.loads((tmp_path / "e.json").read_text())
    assert "Tol-IoU@2" in rep and {"fault_dip", "fault_strike", "rgt", "dhr"} <= set(scores)
    run_cli("horizons", out, "--values", "0.3", "0.6", "-o", tmp_path / "hz")
    with h5py.File(tmp_path / "hz" / "horizons.h5", "r") as f:
        assert f["time"].shape == (2, 48, 56)



def test_the_block_chooser_and_block_stay_within_the_training_cube(files, tmp_path, monkeypatch):
    """Task.cube_blocks caps both an asked --block and predict's own timed choice at the
    checkpoint's training cube: 48 here, where the same model without a recorded cube gets 56."""
    import re

    from hpcfault.models import build_model, save_checkpoint

    monkeypatch.setenv("HPCFAULT_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    model = build_model("mtl", **SMALL)
    for name, prov in (("cube48", {"cube": 48}), ("nocube", {})):
        save_checkpoint(tmp_path / f"{name}.pt", model, "mtl", task="multitask", provenance=prov)

    def edge(name: str, *extra) -> tuple[int, list[int]]:
        out = run_cli("predict", files / "s.h5", "-m", tmp_path / f"{name}.pt", "-o", tmp_path / f"{name}.h5",
                      "--dry-run", "--no-progress", "--threads", "1", *extra).stdout
        timed = [int(e) for e in re.findall(r"^ *(?:->)? +block +(\d+) \(input", out, re.M)]
        return int(re.search(r"^block edge +(\d+)", out, re.M).group(1)), timed

    chosen, timed = edge("cube48")
    assert chosen == 48 and timed and max(timed) <= 48
    assert edge("cube48", "--block", "128")[0] == 48
    assert edge("nocube")[0] > 48          # the whole survey's width (56) in one block


def test_rgt_oracles_rank_what_each_candidate_knows(files, tmp_path):
    """tools/rgt_oracles.py on the tiny survey: the integrated form holds the true RGT given the true
    local quantities (far below time's error), and a model row is scored beside the oracles."""
    import subprocess
    import sys

    from conftest import REPO

    proc = subprocess.run([sys.executable, str(REPO / "tools" / "rgt_oracles.py"), str(files / "s.h5"), "--edge", "16",
                           "--blocks", "3", "--model", str(files / "mtl.pt")], capture_output=True, text=True,
                          check=True, timeout=300)
    rows = {line.split("  ", 2)[2]: float(line.split()[0]) for line in proc.stdout.splitlines()[1:]}
    assert set(rows) >= {"time", "true increments and lateral gradients", "model mtl.pt"}
    assert rows["true increments and lateral gradients"] < 0.2 * rows["time"]


def test_by_degradation_holds_the_geology_and_changes_only_the_input(files, tmp_path):
    """tools/multitask_by_degradation.py: every condition renders the same layers, faults and
    targets from a seed, only the degraded input differs (cleaner input, higher input PSNR), and
    each row is scored through predict and evaluate."""
    import subprocess
    import sys

    from conftest import REPO

    out = tmp_path / "deg"
    subprocess.run([sys.executable, str(REPO / "tools" / "multitask_by_degradation.py"), "--mti", str(files / "mtl.pt"),
                    "--seeds", "3", "--shape", "32", "32", "32", "--ranks", "1", "--conditions", "0", "4",
                    "--out", str(out)], capture_output=True, text=True, check=True, timeout=300)
    with h5py.File(out / "survey-3-c0.h5", "r") as a, h5py.File(out / "survey-3-c4.h5", "r") as b:
        for name in ("labels", "rgt", "dhr", "fault_strike"):
            assert np.array_equal(a[name][...], b[name][...]), name
        assert not np.array_equal(a["data"][...], b["data"][...])
    rows = json.loads((out / "by_degradation.json").read_text())["rows"]
    clean, noisy = rows["clean input (no blur, no noise)"], rows["blur + noise 50 %"]
    assert set(rows) == {"clean input (no blur, no noise)", "blur + noise 50 %"}
    assert clean["input_psnr_db"] > noisy["input_psnr_db"] + 3
    assert clean["time_rgt_mae"] == noisy["time_rgt_mae"]          # the same true RGT, the same baseline


def test_angle_errors_scores_the_truth_as_perfect_and_finds_a_mirrored_strike(files, tmp_path):
    """tools/angle_errors.py: the survey's own dip and strike as the prediction score 0 per voxel and
    per fault; mirrored strikes (180 - s) score 0 in the mirrored column and not in the plain one."""
    import subprocess
    import sys

    from conftest import REPO

    with h5py.File(files / "s.h5", "r") as f:
        labels, dip, strike = f["labels"][...], f["fault_dip"][...], f["fault_strike"][...]
    for name, s in (("same", strike), ("mirrored", (180.0 - strike) % 180.0)):
        with h5py.File(tmp_path / f"{name}.h5", "w") as f:
            f["fault"], f["fault_dip"], f["fault_strike"] = labels.astype(np.float32), dip, s.astype(np.float32)
    run = [sys.executable, str(REPO / "tools" / "angle_errors.py")]
    same = subprocess.run(run + [str(tmp_path / "same.h5"), str(files / "s.h5"), "--min-voxels", "1"],
                          capture_output=True, text=True, check=True, timeout=120).stdout
    assert "voxels: dip 0.0 deg, strike 0.0 deg" in same, same
    faults = [line.split("|") for line in same.splitlines() if line.strip()[:1].isdigit() and "|" in line]
    assert faults and all(abs(float(a.split()[0]) - float(a.split()[1])) < 0.05 for _, a, _ in faults)
    mirrored = subprocess.run(run + [str(tmp_path / "mirrored.h5"), str(files / "s.h5"), "--sigmas"],
                              capture_output=True, text=True, check=True, timeout=120).stdout
    assert "strike mirrored (180 - s) 0.0" in mirrored and "strike 0.0 deg" not in mirrored, mirrored
