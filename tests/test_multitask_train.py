"""Training the multitask networks: a smoke run, 2 DDP processes = 1 process, resume bit-identical
after a kill (the refinement network, whose inputs are drawn per cube), and the plateau schedule."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from conftest import REPO, mpiexec, run_cli
from test_train_ddp import env1, free_port
from test_train_resume import records, wait_for_step

TINY = REPO / "configs" / "train-multitask-tiny.yaml"
REFINE = ["task=multitask-refine", "model.name=mtl-refine"]


def state(run):
    return torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)


def test_multitask_trains_validates_and_records_its_cube(tmp_path):
    run_cli("train", TINY, "steps=2", "--run-dir", tmp_path / "run", env=env1())
    from hpcfault.models import read_checkpoint

    ck = read_checkpoint(tmp_path / "run" / "checkpoints" / "model.pt")
    assert ck["task"] == "multitask" and ck["model"] == "mtl" and ck["provenance"]["cube"] == 16
    val = [r for r in records(tmp_path / "run") if r["kind"] == "val"][-1]
    for key in ("iou", "tol_iou", "fault_dip_mae", "fault_strike_mae", "rgt_mae", "dhr_mae"):
        assert key in val and val[key] == val[key], key                      # present and not NaN
    assert 0 <= val["fault_strike_mae"] <= 90 and 0 <= val["fault_dip_mae"] <= 180
    files = list((tmp_path / "run" / "data").glob("synth-*.h5"))
    import h5py

    with h5py.File(files[0], "r") as f:                                      # the survey carries the task's labels
        assert {"labels", "mask", "fault_dip", "fault_strike", "rgt", "dhr"} <= set(f)


def _one_and_two(tmp_path, *args):
    run_cli("train", TINY, *args, "--run-dir", tmp_path / "one", env=env1())
    env = {**env1(), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    proc = subprocess.run([mpiexec(), "-n", "2", sys.executable, "-m", "hpcfault", "train", str(TINY), *args,
                           "--run-dir", str(tmp_path / "two")], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    a, b = state(tmp_path / "one"), state(tmp_path / "two")
    assert b["world_size"] == 2 and [d["position"] for d in b["data"]] == [2 * a["step"]] * 2   # 2 cubes per rank and step
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    diffs = {k: (a["model"][k].double() - b["model"][k].double()).abs().max().item()
             for k in a["model"] if not k.endswith(buffers)}
    return a, b, diffs


@pytest.mark.mpi
def test_two_processes_equal_one(tmp_path):
    """Three steps of 2 x 2 cubes vs 1 x 4 (in passes of 2): the same parameters up to float32
    summation order. Without normalization here: instance normalization of the tiny network's
    near-constant channels on 16^3 cubes amplifies that order's 1e-7 to 1e-4 within three steps,
    so with it only the first step is compared (its statistics are per cube: no coupling)."""
    common = ["validation.every=0", "checkpoint_every=100"]
    plain = "model.options={widths: [4, 8, 8], bottleneck: 8, depths: [1, 1, 1], head_depth: 1, head_width: 1, norm: none}"
    a, b, diffs = _one_and_two(tmp_path / "plain", "steps=3", plain, *common)
    worst = max(diffs, key=diffs.get)
    assert a["step"] == b["step"] == 3 and diffs[worst] <= 1e-5, f"{worst} differs by {diffs[worst]:.3g}"
    assert a["schedule"] == pytest.approx(b["schedule"], rel=1e-5)
    a, b, diffs = _one_and_two(tmp_path / "instance", "steps=1", *common)
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= 1e-4, f"{worst} differs by {diffs[worst]:.3g}"


def test_refinement_run_killed_then_resumed_is_bit_identical(tmp_path):
    args = [*REFINE, "steps=4", "validation.every=3"]
    run_cli("train", TINY, *args, "--run-dir", tmp_path / "full", env=env1())
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "hpcfault", "train", str(TINY), *args, "--run-dir", str(run)]
    proc = subprocess.Popen(cmd, env=env1(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_step(proc, run, 3, timeout=300)          # the checkpoint at step 2 is written
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert state(run)["step"] == 2
    again = run_cli("train", TINY, *args, "--run-dir", run, env=env1())
    assert "resumed" in again.stderr
    a, b = state(tmp_path / "full"), state(run)
    assert a["step"] == b["step"] == 4 and a["schedule"] == b["schedule"]
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    strip = (lambda rs: [{k: v for k, v in r.items() if k not in ("time", "cubes_per_s", "seconds")} for r in rs])
    assert strip(records(tmp_path / "full")) == strip(records(run))


def test_plateau_lowers_the_rate_after_patience_windows():
    from types import SimpleNamespace

    from hpcfault.train.config import OptimConfig
    from hpcfault.train.schedule import Plateau
    from hpcfault.train.trainer import Trainer

    p = Plateau()
    falls = [p.update(loss, window=2, patience=1, factor=0.5) for loss in (4, 4, 3, 3, 3, 3, 3, 3, 2, 2)]
    # windows: 4 (best), 3 (best), 3 (bad 1), 3 (bad 2 > patience: falls), 2 (best)
    assert falls == [False] * 7 + [True, False, False] and p.scale == 0.5 and p.best == 2
    cfg = SimpleNamespace(optim=OptimConfig(lr=1e-3, schedule="plateau", lr_final=4e-4, warmup=2), steps=10)
    t = SimpleNamespace(cfg=cfg, plateau=p)
    assert Trainer.learning_rate(t, 0) == pytest.approx(1e-4) and Trainer.learning_rate(t, 5) == pytest.approx(5e-4)
    p.scale = 0.1
    assert Trainer.learning_rate(t, 5) == pytest.approx(4e-4)                # never below lr_final
    q = Plateau()
    q.load_state_dict(json.loads(json.dumps(p.state_dict())))
    assert q == p


def test_target_weights_replace_the_tasks_weights_and_bad_names_are_refused():
    from dataclasses import replace

    from hpcfault.errors import HpcfaultError
    from hpcfault.tasks import task_spec
    from hpcfault.train.config import TrainConfig, check
    from hpcfault.train.objective import objective

    cfg = TrainConfig(run_dir="x", task="multitask", model=replace(TrainConfig().model, name="mtl"))
    task = task_spec("multitask")
    base = {t.output: t.weight for t, _, _ in objective(cfg, task)}
    assert base == {"fault": 1.0, "fault_dip": 10.0, "fault_strike": 10.0, "rgt": 5.0, "dhr": 10.0}
    heavy = replace(cfg, target_weights={"fault": 20.0, "dhr": 0.0})
    check(heavy)
    got = {t.output: t.weight for t, _, _ in objective(heavy, task)}
    assert got == {**base, "fault": 20.0, "dhr": 0.0}
    with pytest.raises(HpcfaultError, match="target_weights names an output task 'multitask' does not train"):
        check(replace(cfg, target_weights={"salt": 1.0}))
    with pytest.raises(HpcfaultError, match="target_weights.rgt must be >= 0"):
        check(replace(cfg, target_weights={"rgt": -1.0}))
    graded = replace(cfg, target_losses={"rgt": "ssim-l1-grad"})
    check(graded)
    losses = {t.output: t.loss for t, _, _ in objective(graded, task)}
    assert losses["rgt"] == "ssim-l1-grad" and losses["dhr"] == "mse"
    with pytest.raises(HpcfaultError, match="target_losses names an output"):
        check(replace(cfg, target_losses={"fault": "l1"}))               # the first target's is the config's loss
    with pytest.raises(HpcfaultError, match="target_losses.rgt must be a value loss"):
        check(replace(cfg, target_losses={"rgt": "md"}))


def test_gradient_l1_asks_for_slopes_voxel_by_voxel():
    """gradient_l1_loss: zero for a shifted copy (values differ, differences do not), the L1 of the
    differences in units of the cube's edge, masks by pairs of voxels; ssim-l1-grad adds it."""
    import torch

    from hpcfault.losses import gradient_l1_loss, ssim_l1_grad_loss, ssim_l1_loss

    t, i, x = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), torch.arange(16.0), indexing="ij")
    truth = ((t + 0.5 * i) / 24.0)[None, None]
    assert float(gradient_l1_loss(truth + 0.1, truth)) < 1e-6
    flat = (t / 24.0)[None, None]                                         # right along time, no dip
    assert abs(float(gradient_l1_loss(flat, truth)) - (0.5 / 24.0) * 16 / 3) < 1e-5
    mask = torch.zeros_like(truth)
    mask[..., :8] = 1
    assert abs(float(gradient_l1_loss(flat, truth, mask)) - (0.5 / 24.0) * 16 / 3) < 1e-5
    both = ssim_l1_grad_loss(flat, truth)
    assert abs(float(both) - float(ssim_l1_loss(flat, truth)) - float(gradient_l1_loss(flat, truth))) < 1e-6


def test_train_only_fine_tunes_one_head_and_leaves_the_rest_bit_identical(tmp_path):
    """train_only: [rgt] from a trained network (here switching its RGT to the cumulative form):
    every other parameter and running statistic stays exactly as it was, the RGT decoder learns;
    a name that is no module of the model is a one-line error before any step."""
    run_cli("train", TINY, "steps=2", "--run-dir", tmp_path / "a", env=env1())
    init = tmp_path / "a" / "checkpoints" / "model.pt"
    run_cli("train", TINY, "steps=2", f"init={init}", "train_only=[rgt]", "model.options.rgt=cumulative",
            "--run-dir", tmp_path / "b", env=env1())
    a, b = state(tmp_path / "a")["model"], state(tmp_path / "b")["model"]
    assert a.keys() == b.keys()
    others = [k for k in a if not k.startswith("rgt.")]
    assert any("running_mean" in k for k in others)
    assert all(torch.equal(a[k], b[k]) for k in others if not k.endswith("num_batches_tracked"))
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("rgt.") and k.endswith("weight"))
    bad = run_cli("train", TINY, "steps=1", f"init={init}", "train_only=[rgt_head]", "--run-dir", tmp_path / "c",
                  env=env1(), check=False)
    assert bad.returncode != 0 and "train_only names no module of this model (got ['rgt_head'])" in bad.stderr
    assert not (tmp_path / "c" / "checkpoints" / "model.pt").exists()


def test_refine_from_trains_the_mtr_on_the_mti_outputs(tmp_path):
    """refine_from: MTI.pt: the MTR's input channels of every cube are that MTI's outputs for the
    cube's own input (as predict chains them per block), the run records it; a task that refines
    nothing, or a checkpoint of another task, is a one-line error before any step."""
    import numpy as np

    from hpcfault.models import load_model, prepare_for_inference
    from hpcfault.tasks import cube_transform, task_spec

    run_cli("train", TINY, "steps=1", "--run-dir", tmp_path / "mti", env=env1())
    mti = tmp_path / "mti" / "checkpoints" / "model.pt"
    refine = task_spec("multitask-refine")
    rng = np.random.default_rng(0)
    cube = {"seismic": rng.random((16, 16, 16), dtype=np.float32), "rgt": rng.random((16, 16, 16), dtype=np.float32)}
    got = cube_transform(refine, str(mti))(dict(cube), np.random.default_rng(1))
    model = prepare_for_inference(load_model(mti)).eval()
    with torch.inference_mode():
        want = model(torch.from_numpy(cube["seismic"])[None, None])[0].numpy()
    assert np.array_equal(np.stack([got[n] for n in refine.inputs]), want)
    assert float(got["rgt"].min()) == 0 and float(got["rgt"].max()) == 1          # prepared like the MTI's cubes
    shared = cube_transform(refine, str(mti)).keywords["model"]                   # sampler and validation: one read
    assert cube_transform(refine, str(mti)).keywords["model"] is shared
    stamp = mti.stat().st_mtime_ns
    os.utime(mti, ns=(stamp, stamp + 1_000_000))                                  # a changed file is read again
    assert cube_transform(refine, str(mti)).keywords["model"] is not shared
    run_cli("train", TINY, "steps=2", "task=multitask-refine", "model.name=mtl-refine", f"refine_from={mti}",
            "--run-dir", tmp_path / "mtr", env=env1())
    payload = torch.load(tmp_path / "mtr" / "checkpoints" / "model.pt", weights_only=True)
    assert payload["task"] == "multitask-refine" and payload["provenance"]["refine_from"] == str(mti)
    bad = run_cli("train", TINY, "steps=1", f"refine_from={mti}", "--run-dir", tmp_path / "x", env=env1(), check=False)
    assert bad.returncode != 0 and "refine_from is for tasks that refine another model's outputs" in bad.stderr
    fault = REPO / "hpcfault" / "assets" / "faultnet-default.pt"
    bad = run_cli("train", TINY, "steps=1", "task=multitask-refine", "model.name=mtl-refine", f"refine_from={fault}",
                  "--run-dir", tmp_path / "y", env=env1(), check=False)
    assert bad.returncode != 0 and "refine_from must be a multitask checkpoint" in bad.stderr
    assert not (tmp_path / "y" / "checkpoints" / "model.pt").exists()
