"""The slurm/ scripts and the submitit launches, on a real single-node Slurm cluster.

One cluster for the session (tests/slurm_fixtures.py starts it with tools/slurm_cluster.py); every
job runs the real CLI on small synthetic surveys made with `hpcfault synth`, on CPU with 2 tasks,
and its outputs are read back with h5py / segyio.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import segyio

from conftest import REPO, run_cli
from slurm_fixtures import load_cluster_tool

pytestmark = pytest.mark.slurm

SLURM = REPO / "slurm"
# The scripts ask for GPUs and many cores; on the test node: 2 CPU tasks, no GPU.
CPU2 = ["--nodes=1", "--ntasks-per-node=2", "--gpus-per-node=0", "--cpus-per-task=1"]
SHAPE = ("32", "64", "64")   # 9 blocks of 32^3 with the overlap below: enough to interrupt one run
PREDICT_OPTS = ["--block", "32", "--overlap", "8", "--no-progress"]
# the interrupted-predict tests signal a job after its first finished block: without a pause the
# remaining blocks (about 2 s) can finish before the signal arrives on a busy machine (seen in CI)
SLOW_BLOCKS = {"HPCFAULT_TEST_BLOCK_PAUSE_S": "0.4"}


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("slurm-work")


@pytest.fixture(scope="module")
def survey(work) -> dict:
    """A synthetic survey as a volume file and as SEG-Y (hpcfault synth)."""
    run_cli("synth", work / "s.h5", "--shape", *SHAPE, "--seed", "5", "--segy", work / "s.sgy", "--no-progress")
    with h5py.File(work / "s.h5") as f:
        data = f["data"][...]
    return {"h5": work / "s.h5", "sgy": work / "s.sgy", "data": data}


@pytest.fixture(scope="module")
def model(work) -> Path:
    """A tiny, seeded Fault-Net checkpoint (untrained: predictions only need to be deterministic)."""
    torch = pytest.importorskip("torch")
    try:
        from hpcfault.models.checkpoint import save_checkpoint
        from hpcfault.models.registry import build_model
    except ImportError as exc:
        pytest.skip(f"hpcfault.models is not available yet ({exc})")
    torch.manual_seed(0)
    path = work / "tiny.pt"
    save_checkpoint(path, build_model("faultnet", widths=[4, 8, 8], expansion=4, blocks=1), "faultnet")
    return path


@pytest.fixture(scope="module")
def reference(slurm_cluster, work, survey, model) -> np.ndarray:
    """The uninterrupted prediction: survey-array.sbatch (predict, its default) over a one-survey list."""
    (work / "plist.txt").write_text(f"{survey['h5']}\n")
    job = slurm_cluster.sbatch("--array=1", *CPU2, SLURM / "survey-array.sbatch", "plist.txt", "preds",
                               "-m", model, *PREDICT_OPTS, cwd=work)
    log = work / f"hpcfault-array-{job}_1.out"
    assert slurm_cluster.wait(job) == "COMPLETED", log.read_text() if log.exists() else job
    return read_volume(work / "preds" / "s.h5")


TRAIN_STEPS = 6


@pytest.fixture(scope="module")
def train_config() -> Path:
    pytest.importorskip("hpcfault.train.trainer")
    config = REPO / "configs" / "train-tiny.yaml"
    if not config.exists():
        pytest.skip("configs/train-tiny.yaml is not there yet")
    return config


@pytest.fixture(scope="module")
def train_reference(slurm_cluster, work, train_config) -> Path:
    """A submitit job that trains a few steps, uninterrupted, one task: the reference run directory."""
    from hpcfault.cluster.submit import submit_command

    run_dir = work / "sub-train"
    res = submit_command(["train", str(train_config), f"steps={TRAIN_STEPS}", "--run-dir", str(run_dir)],
                         mode="slurm", folder=work / "jobs", time="10")
    assert res.job.result() == 0, Path(res.stderr_path).read_text()
    return run_dir


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


def final_weights(run_dir: Path) -> dict:
    from hpcfault.models.checkpoint import read_checkpoint

    return {k: v.numpy() for k, v in read_checkpoint(run_dir / "checkpoints" / "model.pt")["state_dict"].items()}


def read_volume(path) -> np.ndarray:
    with h5py.File(path) as f:
        return f["data"][...]


def wait_for(what: str, cond, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def ledger_lines(workdir: Path) -> int:
    """Finished blocks recorded in a work dir's ledger (each ledger file also has a header line)."""
    from hpcfault.infer.ledger import read_ledger

    return len(read_ledger(workdir)[0])


# ---- the cluster itself -------------------------------------------------------------------------

def test_cluster_is_idle_with_accounting(slurm_cluster):
    assert slurm_cluster.run("sinfo", "-h", "-N", "-o", "%T").stdout.strip() == "idle"
    assert "hpcfault" in slurm_cluster.run("sacctmgr", "-n", "-P", "list", "cluster", "format=cluster").stdout
    assert slurm_cluster.run("scontrol", "show", "node", "localhost").stdout.count("CPUTot=8") == 1


def test_a_second_cluster_runs_beside_restarts_and_stops_cleanly(slurm_cluster, tmp_path):
    tool = load_cluster_tool()
    before = tool.start_cluster(tmp_path / "other")
    info = tool.start_cluster(tmp_path / "other")  # twice in a row: the first one is stopped first
    assert not any(tool._alive(pid) for pid in before.pids.values())
    try:
        env = {**slurm_cluster.env, **info.env()}
        first = json.loads((slurm_cluster.root / "cluster.json").read_text())
        assert set(info.ports.values()).isdisjoint(first["ports"].values())
        job = slurm_cluster.run("sbatch", "--parsable", "--wait", "-o", "/dev/null", "--wrap", "true",
                                extra_env=env, cwd=tmp_path).stdout.strip()
        assert int(job) == info.first_job_id, "a fresh cluster state starts job ids at FirstJobId"
    finally:
        stopped = tool.stop_cluster(tmp_path / "other")
    assert len([s for s in stopped if not s.startswith("step")]) == 5, stopped
    for pid in info.pids.values():
        assert not tool._alive(pid)
    assert slurm_cluster.run("sinfo", "-h", "-N", "-o", "%T").stdout.strip() == "idle"


# ---- sbatch scripts -----------------------------------------------------------------------------

def test_convert_sbatch(slurm_cluster, work, survey):
    job = slurm_cluster.sbatch("--ntasks=2", "--cpus-per-task=1", SLURM / "convert.sbatch", survey["sgy"],
                               "conv.h5", cwd=work)
    assert slurm_cluster.wait(job) == "COMPLETED", (work / f"hpcfault-convert-{job}.out").read_text()
    assert "2 ranks" in (work / f"hpcfault-convert-{job}.out").read_text()
    np.testing.assert_array_equal(read_volume(work / "conv.h5"), survey["data"])
    with segyio.open(survey["sgy"], ignore_geometry=True) as f:  # the same samples, trace by trace
        traces = segyio.tools.collect(f.trace[:])
    np.testing.assert_array_equal(read_volume(work / "conv.h5").transpose(1, 2, 0).reshape(-1, int(SHAPE[0])),
                                  traces)


def test_survey_array_converts_each_survey(slurm_cluster, work, survey):
    run_cli("synth", work / "t.h5", "--shape", "32", "32", "32", "--seed", "6", "--segy", work / "t.sgy",
            "--no-progress")
    (work / "list.txt").write_text(f"# surveys\n{survey['sgy']}\n\n{work / 't.sgy'}\n")
    job = slurm_cluster.sbatch("--array=1-2", *CPU2, SLURM / "survey-array.sbatch", "list.txt", "vols",
                               cwd=work, extra_env={"HPCFAULT_ARRAY_COMMAND": "convert"})
    assert slurm_cluster.wait(job) == "COMPLETED"
    assert (work / f"hpcfault-array-{job}_2.out").exists()
    np.testing.assert_array_equal(read_volume(work / "vols" / "s.h5"), survey["data"])
    np.testing.assert_array_equal(read_volume(work / "vols" / "t.h5"), read_volume(work / "t.h5"))


def test_survey_array_predict(work, reference):
    assert reference.shape == tuple(int(n) for n in SHAPE) and reference.dtype == np.float32
    assert np.isfinite(reference).all() and 0 <= reference.min() and reference.max() <= 1
    summary = json.loads((work / "preds" / "s.summary.json").read_text())
    assert summary["ranks"] == 2 and summary["blocks_computed"] == summary["blocks"] == 9


def test_predict_sbatch_requeued_midway_resumes_to_the_same_output(slurm_cluster, work, survey, model,
                                                                   reference):
    out = work / "pred" / "faults.h5"
    out.parent.mkdir()
    job = slurm_cluster.sbatch(*CPU2, SLURM / "predict.sbatch", survey["h5"], out, "-m", model, *PREDICT_OPTS,
                               cwd=work, extra_env=SLOW_BLOCKS)
    wait_for("the first finished blocks in the ledger", lambda: ledger_lines(out.parent / "faults.h5.work") >= 1)
    # what the time-limit signal (--signal=B:USR1@300) does: the batch shell's trap requeues the job
    slurm_cluster.run("scancel", "--batch", "--signal=USR1", job)
    assert slurm_cluster.wait(job, timeout=180) == "COMPLETED"
    log = (work / f"hpcfault-predict-{job}.out").read_text()
    assert "requeueing job" in log and " run 1:" in log, log
    summary = json.loads((out.parent / "faults.summary.json").read_text())
    assert summary["blocks_reused"] >= 1 and summary["blocks_computed"] + summary["blocks_reused"] == summary["blocks"]
    np.testing.assert_array_equal(read_volume(out), reference)


def test_pipeline_chains_convert_predict_export(slurm_cluster, work, survey, model, reference):
    outdir = work / "pipe"
    cpu = " ".join(CPU2)
    proc = slurm_cluster.run("bash", SLURM / "pipeline.sh", survey["sgy"], f"{outdir}/", model, cwd=work, extra_env={
        "CONVERT_SBATCH_ARGS": "--ntasks=2", "PREDICT_SBATCH_ARGS": cpu,
        "PREDICT_OPTIONS": " ".join(PREDICT_OPTS)})
    assert "//" not in proc.stdout and f"{outdir}/s-faults.h5" in proc.stdout     # OUTDIR/ normalised
    ids = {line.split(":")[0]: line.split("job ")[1].split()[0] for line in proc.stdout.splitlines()
           if line.split(":")[0] in ("convert", "predict", "export")}
    assert set(ids) == {"convert", "predict", "export"}, proc.stdout
    deps = slurm_cluster.run("squeue", "-h", "-j", ids["export"], "-o", "%E").stdout
    assert ids["predict"] in deps or slurm_cluster.state(ids["export"]) in ("RUNNING", "COMPLETED")
    assert slurm_cluster.wait(ids["export"], timeout=180) == "COMPLETED", \
        "\n".join(p.read_text() for p in outdir.glob("*.out"))
    assert slurm_cluster.state(ids["convert"]) == slurm_cluster.state(ids["predict"]) == "COMPLETED"
    faults = read_volume(outdir / "s-faults.h5")
    np.testing.assert_array_equal(faults, reference)
    with segyio.open(outdir / "s-faults.sgy") as f, segyio.open(survey["sgy"]) as g:
        assert list(f.ilines) == list(g.ilines) and list(f.xlines) == list(g.xlines)
        np.testing.assert_array_equal(segyio.tools.cube(f).transpose(2, 0, 1), faults)


def test_pipeline_stops_when_sbatch_refuses_a_job(slurm_cluster, work, survey):
    """A refused submission ends pipeline.sh with exit status 1 and sbatch's own message."""
    outdir = work / "refused"
    first = slurm_cluster.run("bash", SLURM / "pipeline.sh", survey["sgy"], outdir, cwd=work, check=False,
                              extra_env={"CONVERT_SBATCH_ARGS": "--partition=no-such-partition"})
    assert first.returncode == 1, first.stdout + first.stderr
    assert "partition" in first.stderr.lower() and "sbatch refused the convert job" in first.stderr
    assert "already queued" not in first.stderr and first.stdout == ""
    later = slurm_cluster.run("bash", SLURM / "pipeline.sh", survey["sgy"], outdir, cwd=work, check=False,
                              extra_env={"CONVERT_SBATCH_ARGS": "--ntasks=1",
                                         "PREDICT_SBATCH_ARGS": "--partition=no-such-partition"})
    assert later.returncode == 1, later.stdout + later.stderr
    convert = later.stdout.split("convert: job ")[1].split()[0]
    assert "partition" in later.stderr.lower() and "sbatch refused the predict job" in later.stderr
    assert f"already queued: convert {convert}" in later.stderr
    assert "predict: job" not in later.stdout and "last job" not in later.stdout
    slurm_cluster.run("scancel", convert)


README_SNIPPET = "<!-- tests/test_slurm_cluster.py runs the next block as written -->"


def test_readme_cluster_snippet_runs_as_written(slurm_cluster, tmp_path):
    """The README's test-cluster block, line by line in one bash -e, from a checkout whose .venv is this
    environment; only its D=... folder is moved into tmp_path. Nothing of the test session's set-up
    is inherited: no HPCFAULT_ENV, no SLURM_CONF, the system PATH."""
    text = (REPO / "README.md").read_text()
    assert README_SNIPPET in text, "the README lost its test-cluster block (or the marker before it)"
    block = text.split(README_SNIPPET)[1].split("```bash\n")[1].split("```")[0]
    assert "HPCFAULT_ENV" in block and "slurm/predict.sbatch" in block
    lines = block.splitlines()
    d_lines = [k for k, line in enumerate(lines) if line.startswith("D=")]
    assert len(d_lines) == 1, "the block names its folder once, as D=..."
    lines[d_lines[0]] = f"D={tmp_path / 'cluster'}"
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name, target in ((".venv", Path(sys.prefix)), ("slurm", REPO / "slurm"), ("tools", REPO / "tools")):
        (checkout / name).symlink_to(target)
    env = {k: v for k, v in os.environ.items() if k not in ("HPCFAULT_ENV", "SLURM_CONF", "VIRTUAL_ENV")}
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    try:
        proc = subprocess.run(["bash", "-e", "-c", "\n".join(lines)], cwd=checkout, env=env, capture_output=True,
                              text=True, timeout=600)
    finally:
        load_cluster_tool().stop_cluster(tmp_path / "cluster")
    logs = {p.name: p.read_text() for p in checkout.glob("hpcfault-*.out")}
    assert proc.returncode == 0, proc.stdout + proc.stderr + "\n".join(logs.values())
    predict_log = next(v for k, v in logs.items() if k.startswith("hpcfault-predict-"))
    assert "on 2 ranks" in predict_log and "\r" not in predict_log, predict_log   # CPU defaults, no bar
    assert "COMPLETED" in proc.stdout
    out = read_volume(tmp_path / "cluster" / "faults.h5")
    assert out.shape == (64, 64, 64) and 0 <= out.min() and out.max() <= 1


def test_train_sbatch_checkpoints_requeues_and_resumes(slurm_cluster, work, train_config, train_reference):
    run_dir = work / "train-run"
    job = slurm_cluster.sbatch(*CPU2, SLURM / "train.sbatch", train_config, f"steps={TRAIN_STEPS}", "--run-dir",
                               run_dir, cwd=work)
    wait_for("a first checkpoint", lambda: (run_dir / "checkpoints" / "last.pt").exists(), timeout=150)
    # what --signal=USR1@120 does near the time limit: every task gets SIGUSR1
    slurm_cluster.run("scancel", "--signal=USR1", job)
    assert slurm_cluster.wait(job, timeout=180) == "COMPLETED"
    log = (work / f"hpcfault-train-{job}.out").read_text()
    assert " run 1:" in log, log
    steps = [m["step"] for m in read_metrics(run_dir) if m.get("kind") == "train"]
    assert max(steps) == TRAIN_STEPS and steps[0] == 1, steps
    assert len(steps) < 2 * TRAIN_STEPS, "the second run resumed instead of starting over"
    # 2 DDP tasks, interrupted, end with the parameters of 1 uninterrupted submitit task (same global
    # batch); BatchNorm running statistics are per-rank buffers and differ by design
    mine, ref = final_weights(run_dir), final_weights(train_reference)
    assert mine.keys() == ref.keys()
    for k in (k for k in ref if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))):
        np.testing.assert_allclose(mine[k], ref[k], atol=1e-5, err_msg=k)


# ---- submitit -----------------------------------------------------------------------------------

def test_submitit_convert_runs_every_task_under_mpi(slurm_cluster, work, survey):
    from hpcfault.cluster.submit import submit_command

    res = submit_command(["convert", str(survey["sgy"]), str(work / "sub-conv.h5"), "--no-progress"],
                         mode="slurm", folder=work / "jobs", tasks_per_node=2, mpi=True, time="10")
    assert res.job.results() == [0, 0]
    assert "2 ranks" in Path(res.stdout_path).read_text()
    np.testing.assert_array_equal(read_volume(work / "sub-conv.h5"), survey["data"])


def test_submitit_predict_interrupted_requeues_and_matches(slurm_cluster, work, survey, model, reference,
                                                           monkeypatch):
    from hpcfault.cluster.submit import submit_command

    for k, v in SLOW_BLOCKS.items():   # submitit's sbatch runs from this process: the job inherits it
        monkeypatch.setenv(k, v)
    out = work / "sub-pred" / "faults.h5"
    out.parent.mkdir()
    res = submit_command(["predict", str(survey["h5"]), "-m", str(model), "-o", str(out), *PREDICT_OPTS],
                         mode="slurm", folder=work / "jobs", tasks_per_node=2, mpi=True, time="10")
    wait_for("the first finished blocks in the ledger", lambda: ledger_lines(out.parent / "faults.h5.work") >= 1)
    res.job._interrupt(timeout=True)  # submitit's time-limit signal (USR2): checkpoint() -> requeue
    assert res.job.results() == [0, 0]
    assert "requeued" in Path(res.stdout_path).read_text().lower() or \
        "checkpoint" in Path(res.stdout_path).read_text().lower()
    summary = json.loads((out.parent / "faults.summary.json").read_text())
    assert summary["blocks_reused"] >= 1
    np.testing.assert_array_equal(read_volume(out), reference)


def test_submitit_trains_a_few_steps(train_reference):
    steps = [m["step"] for m in read_metrics(train_reference) if m.get("kind") == "train"]
    assert steps == list(range(1, TRAIN_STEPS + 1))
    assert (train_reference / "checkpoints" / "model.pt").exists()
