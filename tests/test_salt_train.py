"""Training the salt task (2D section models) through the real CLI: a TGS-layout folder made by
salt-tiles round-trips through training, predict-tiles and the submission CSV; 1 and 2 DDP
processes agree; a run killed with SIGKILL resumes bit-identically; the loss schedule."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO, mpiexec, run_cli
from test_train_ddp import env1, free_port

TINY = REPO / "configs" / "train-salt-tiny.yaml"


@pytest.fixture(scope="module")
def tiles(tmp_path_factory):
    """A synthetic salt survey cut into a TGS folder of 48-pixel tiles."""
    d = tmp_path_factory.mktemp("tgs")
    run_cli("synth", d / "s.h5", "--family", "salt", "--seed", "3", "--shape", "64", "96", "96")
    out = run_cli("salt-tiles", d / "s.h5", d / "tiles", "--size", "48", "--every", "12").stdout
    assert "64 tiles of 48x48 in train/images from 16 sections" in out
    return d


def test_a_salt_tiles_folder_round_trips_through_training_predict_tiles_and_the_csv(tiles, tmp_path):
    from hpcfault.io.tgs import read_png, read_tgs, rle_decode
    from hpcfault.models import read_checkpoint
    from hpcfault.tasks.salt import evaluate

    folder = tiles / "tiles"
    s = read_tgs(folder)
    assert s.images.shape == (64, 48, 48) and s.masks.any() and set(s.depths) == set(s.ids)
    run_cli("train", TINY, "--run-dir", tmp_path / "run", f"data.sources=[{{kind: tgs, path: {folder}}}]",
            "validation.synthetic_seeds=[]", f"validation.tgs={folder}", "steps=3")
    ck = read_checkpoint(tmp_path / "run" / "checkpoints" / "model.pt")
    assert ck["task"] == "salt" and ck["provenance"]["fit"] == "pad" and 0 < ck["provenance"]["threshold"] < 1
    out = run_cli("predict-tiles", folder, "-m", tmp_path / "run" / "checkpoints" / "model.pt", "-o",
                  tmp_path / "sub.csv", "--png-dir", tmp_path / "masks", "--tta").stdout
    assert "wrote" in out and "64 tiles" in out and "flip TTA" in out
    lines = (tmp_path / "sub.csv").read_text().splitlines()
    assert lines[0] == "id,rle_mask" and len(lines) == 65
    for line in lines[1:]:
        tid, rle = line.split(",")
        assert np.array_equal(rle_decode(rle, (48, 48)) * 255, read_png(tmp_path / "masks" / f"{tid}.png")), tid
    by_csv, by_png = evaluate(str(tmp_path / "sub.csv"), str(folder)), evaluate(str(tmp_path / "masks"), str(folder))
    assert by_csv["scores"] == by_png["scores"] and by_csv["images"] == 64
    assert any(row[0] == "TGS metric" for row in by_csv["rows"])
    out = run_cli("evaluate", tmp_path / "sub.csv", folder).stdout
    assert "64 of 64 labelled tiles" in out and f"TGS metric      {by_csv['scores']['tgs']:.4f}" in out
    again = run_cli("predict-tiles", folder, "-m", tmp_path / "run" / "checkpoints" / "model.pt", "-o",
                    tmp_path / "sub.csv", "--png-dir", tmp_path / "masks", check=False)
    assert again.returncode == 2 and "output folder exists and is not empty" in again.stderr


def test_salt_tiles_refuses_bad_input_and_cuts_test_tiles_without_labels(tiles, tmp_path):
    run_cli("synth", tmp_path / "f.h5", "--shape", "32", "48", "48", "--seed", "1")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    bad = run_cli("salt-tiles", tiles / "s.h5", tmp_path / "full", "--size", "32", check=False)
    assert bad.returncode == 2 and "output folder exists and is not empty" in bad.stderr
    big = run_cli("salt-tiles", tiles / "s.h5", tmp_path / "t", "--size", "101", check=False)
    assert big.returncode == 2 and "smaller than --size 101" in big.stderr and not (tmp_path / "t").exists()
    out = run_cli("salt-tiles", tmp_path / "f.h5", tmp_path / "test", "--size", "32", "--no-labels",
                  "--axes", "inline").stdout
    assert "in test/images" in out and "(no masks)" in out
    assert sorted(p.name for p in (tmp_path / "test").iterdir()) == ["depths.csv", "test"]


def _prediction(path, values):
    from hpcfault.io.volume import create_volume

    with create_volume(path, values.shape, "float32", extra={"salt": "float32"}) as g:
        g["salt"][...] = values.astype(np.float32)


def test_evaluate_scores_a_salt_volume_and_a_salt_free_one(tiles, tmp_path):
    import h5py

    from hpcfault.tasks.salt import evaluate

    with h5py.File(tiles / "s.h5") as f:
        truth = f["salt"][...]
    _prediction(tmp_path / "same.h5", truth)
    rep = evaluate(str(tmp_path / "same.h5"), str(tiles / "s.h5"), tile=32)
    assert rep["scores"] == {"iou": 1.0, "dice": 1.0, "precision": 1.0, "recall": 1.0, "tgs": 1.0}
    assert rep["images"] == 64 * 3 * 3 and rep["prediction"].endswith(":salt")
    _prediction(tmp_path / "shifted.h5", np.roll(truth, 6, axis=0))      # salt predicted 6 samples too deep
    shifted = evaluate(str(tmp_path / "shifted.h5"), str(tiles / "s.h5"), tile=32)["scores"]
    assert 0.3 < shifted["iou"] < 0.95 and shifted["tgs"] < 1.0
    run_cli("synth", tmp_path / "free.h5", "--family", "salt-free", "--shape", "32", "48", "48", "--seed", "2")
    with h5py.File(tmp_path / "free.h5") as f:
        assert not f["salt"][...].any()
    _prediction(tmp_path / "none.h5", np.zeros((32, 48, 48)))
    assert evaluate(str(tmp_path / "none.h5"), str(tmp_path / "free.h5"), tile=32)["scores"]["tgs"] == 1.0
    blob = np.zeros((32, 48, 48))
    blob[10:20, 5, 5:15] = 0.9                                            # one false alarm on one inline
    _prediction(tmp_path / "blob.h5", blob)
    rep = evaluate(str(tmp_path / "blob.h5"), str(tmp_path / "free.h5"), tile=32)
    assert rep["scores"]["tgs"] == pytest.approx(1 - 1 / rep["images"]) and rep["scores"]["iou"] == 0.0


@pytest.mark.mpi
def test_two_processes_equal_one_for_a_section_model(tmp_path):
    """mpiexec -n 2 follows the 1-process run (same tiles, per-tile losses, one tile per forward
    pass). Weights agree to a tenth of one Adam step (lr 1e-3): Adam divides each gradient by its
    own running RMS, so a weight whose gradient is at float32 rounding level (summed over the ranks
    in another order) can move by up to lr either way; other tiles, another sharding or a missing
    gradient move weights by whole steps and change the losses. 128-pixel tiles: with 64-pixel
    ones BatchNorm normalises 4 values per channel at the encoder's 1/32 resolution, which
    amplifies the summation order further."""
    common = ["steps=3", "batch=4", "validation.every=0", "checkpoint_every=100", "data.tile=[128,128]",
              "data.sources=[{kind: synthetic, shape: [128, 128, 128], seed: 100, family: salt}]"]
    run_cli("train", TINY, *common, "--run-dir", tmp_path / "one", env=env1())
    env = {**env1(), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    proc = subprocess.run([mpiexec(), "-n", "2", sys.executable, "-m", "hpcfault", "train", str(TINY), *common,
                           "--run-dir", str(tmp_path / "two")], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    a, b = (torch.load(p / "checkpoints" / "last.pt", weights_only=True) for p in (tmp_path / "one", tmp_path / "two"))
    assert a["step"] == b["step"] == 3 and b["world_size"] == 2 and [d["position"] for d in b["data"]] == [6, 6]
    skip = ("running_mean", "running_var", "num_batches_tracked")
    worst = max((a["model"][k].double() - b["model"][k].double()).abs().max().item()
                for k in a["model"] if not k.endswith(skip))
    assert worst <= 1e-4, worst
    loss = [[json.loads(x)["loss"] for x in (p / "metrics.jsonl").read_text().splitlines()] for p in
            (tmp_path / "one", tmp_path / "two")]
    assert loss[0] == pytest.approx(loss[1], abs=1e-6)


def test_sigkill_then_resume_is_bit_identical_for_a_section_model(tmp_path):
    from test_train_resume import records, wait_for_step

    args = ["steps=6", "checkpoint_every=2", "validation.every=3"]
    run_cli("train", TINY, *args, "--run-dir", tmp_path / "full", env=env1())
    cmd = [sys.executable, "-m", "hpcfault", "train", str(TINY), *args, "--run-dir", str(tmp_path / "run")]
    proc = subprocess.Popen(cmd, env=env1(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_step(proc, tmp_path / "run", 3)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    again = run_cli("train", TINY, *args, "--run-dir", tmp_path / "run", env=env1())
    assert "resumed" in again.stderr
    a, b = (torch.load(p / "checkpoints" / "last.pt", weights_only=True) for p in (tmp_path / "full", tmp_path / "run"))
    assert a["step"] == b["step"] == 6 and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    strip = (lambda rs: [{k: v for k, v in r.items() if k not in ("time", "cubes_per_s", "seconds")} for r in rs])
    assert strip(records(tmp_path / "full")) == strip(records(tmp_path / "run"))
    phases = [r["phase"] for r in records(tmp_path / "run") if r["kind"] == "train"]
    assert phases == [0, 0, 1, 2, 2, 2]                 # BCE x 2, Dice x 1, then Lovasz to the end


def test_loss_schedule_and_configs_written_before_it_resume():
    from hpcfault.config import load_config, to_mapping
    from hpcfault.train.config import TrainConfig, config_differences, loss_at, with_defaults

    cfg = load_config(TINY, cls=TrainConfig)
    assert [loss_at(cfg, s)[1].name for s in range(6)] == ["bce", "bce", "dice", "lovasz", "lovasz", "lovasz"]
    fault = load_config(REPO / "configs" / "train-tiny.yaml", cls=TrainConfig)
    assert loss_at(fault, 7) == (-1, fault.loss)
    old = to_mapping(fault)
    for key in ("phases", "init"):
        del old[key]
    del old["data"]["tile"], old["validation"]["tgs"]
    assert config_differences(with_defaults(old), to_mapping(fault)) == []


def test_bad_salt_configs_are_one_line_errors(tmp_path):
    for override, message in [("data.tile=[32,32]", "one value per channel at the ResNet's 1/32 resolution"),
                              ("model.name=faultnet|data.cube=32", "cannot serve task 'salt'"),
                              ("data.sources=[{kind: tgs}]", "of kind tgs needs a path"),
                              ("phases=[{steps: 0}]", "phases[0].steps must be >= 1")]:
        proc = run_cli("train", TINY, *override.split("|"), "--run-dir", tmp_path / "r", check=False)
        assert proc.returncode == 2 and message in proc.stderr, (override, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1


def test_metrics_record_the_validation_scores(tmp_path):
    run_cli("train", TINY, "--run-dir", tmp_path / "run", "steps=2")
    vals = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    val = [v for v in vals if v["kind"] == "val"][-1]
    for key in ("iou", "dice", "precision", "recall", "tgs", "best_threshold", "best_tgs"):
        assert 0 <= val[key] <= 1, key
