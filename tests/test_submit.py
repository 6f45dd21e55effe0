"""submit_command without a Slurm cluster: submitit's debug executor (in this process) and its local
executor (real subprocesses; an MPI command runs under mpiexec), --dry-run, the checkpoint protocol."""
from __future__ import annotations

import argparse
import pickle

import h5py
import numpy as np
import pytest

from hpcfault.cluster.submit import CommandJob, SubmitResult, submit_command, submit_from_args
from hpcfault.errors import HpcfaultError

from conftest import REPO, run_cli


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    d = tmp_path_factory.mktemp("submit")
    run_cli("synth", d / "s.h5", "--shape", "16", "32", "32", "--seed", "2", "--segy", d / "s.sgy", "--no-progress")
    with h5py.File(d / "s.h5") as f:
        return d, f["data"][...]


def test_debug_executor_runs_the_cli_in_process(tmp_path, survey):
    d, data = survey
    res = submit_command(["convert", str(d / "s.sgy"), str(tmp_path / "a.h5"), "--no-progress"], mode="debug",
                         folder=tmp_path / "jobs")
    assert isinstance(res, SubmitResult) and res.job_id
    assert res.job.result() == 0
    with h5py.File(tmp_path / "a.h5") as f:
        np.testing.assert_array_equal(f["data"][...], data)


def test_a_failing_command_fails_the_job(tmp_path):
    res = submit_command(["convert", str(tmp_path / "missing.sgy"), str(tmp_path / "a.h5")], mode="debug",
                         folder=tmp_path / "jobs")
    # (the debug executor's result() would open pdb on the failure: ask for the exception instead)
    assert "exit status 2" in str(res.job.exception())


def test_local_executor_mpi_job_runs_mpiexec(tmp_path, survey):
    d, data = survey
    res = submit_command(["convert", str(d / "s.sgy"), str(tmp_path / "b.h5"), "--no-progress"], mode="local",
                         folder=tmp_path / "jobs", tasks_per_node=2, mpi=True, time="5")
    assert res.job.result() == 0
    with h5py.File(tmp_path / "b.h5") as f:
        np.testing.assert_array_equal(f["data"][...], data)
    assert "2 ranks" in open(res.stdout_path).read()


def test_each_submission_gets_a_fresh_folder(tmp_path):
    a = submit_command(["info", "x"], mode="slurm", folder=tmp_path, dry_run=True)
    b = submit_command(["info", "x"], mode="slurm", folder=tmp_path, dry_run=True)
    assert a.stdout_path != b.stdout_path


def test_checkpoint_resubmits_the_same_command_without_restart():
    job = CommandJob(["predict", "s.h5", "-o", "o.h5", "--restart"])
    delayed = job.checkpoint()
    again = delayed.function
    assert isinstance(again, CommandJob) and again.argv == ["predict", "s.h5", "-o", "o.h5"]
    assert pickle.loads(pickle.dumps(again)).argv == again.argv


def test_submit_from_args_dry_run_prints_the_sbatch_text(capsys, tmp_path):
    args = argparse.Namespace(submit="slurm", submit_folder=str(tmp_path), nodes=2, tasks_per_node=None,
                              gpus_per_node=4, cpus_per_task=None, partition="p", account=None,
                              time="02:00:00", mem=None, dry_run=True)
    assert submit_from_args(["train", "c.yaml", "--submit", "slurm", "--nodes", "2", "--dry-run"], args) == 0
    out = capsys.readouterr().out
    assert "#SBATCH --ntasks-per-node=4" in out and "#SBATCH --nodes=2" in out and "#SBATCH --time=120" in out
    assert not any(tmp_path.iterdir())


def test_submit_from_args_needs_the_command_line(monkeypatch, tmp_path):
    monkeypatch.setattr("sys.argv", ["pytest", "-q"])
    args = argparse.Namespace(submit="local", submit_folder=str(tmp_path), nodes=1, tasks_per_node=None,
                              gpus_per_node=0, cpus_per_task=None, partition=None, account=None,
                              time="01:00:00", mem=None, dry_run=True)
    with pytest.raises(HpcfaultError, match="pass argv"):
        submit_from_args(None, args, command="train")


def test_cli_predict_submit_local_runs_mpiexec_through_submitit(tmp_path, survey):
    pytest.importorskip("torch")
    import torch

    from hpcfault.models.checkpoint import save_checkpoint
    from hpcfault.models.registry import build_model

    d, _ = survey
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "m.pt", build_model("faultnet", widths=[4, 8, 8], expansion=4, blocks=1), "faultnet")
    out = tmp_path / "faults.h5"
    proc = run_cli("predict", d / "s.h5", "-m", tmp_path / "m.pt", "-o", out, "--block", "16", "--overlap", "4",
                   "--no-progress", "--submit", "local", "--tasks-per-node", "2", "--submit-folder", tmp_path / "jobs")
    assert "submitted job" in proc.stdout and "finished" in proc.stdout, proc.stdout + proc.stderr
    with h5py.File(out) as f:
        assert f["data"].shape == (16, 32, 32)
    logs = list((tmp_path / "jobs").glob("*/*_0_log.out"))
    assert len(logs) == 1 and "2 ranks" in logs[0].read_text()


def test_cli_train_submit_dry_run_prints_sbatch_text(tmp_path):
    proc = run_cli("train", "configs/train-tiny.yaml", "--run-dir", tmp_path / "run", "--submit", "slurm",
                   "--nodes", "2", "--gpus-per-node", "4", "--partition", "gpu", "--time", "24:00:00", "--dry-run",
                   "--submit-folder", tmp_path / "jobs", cwd=str(REPO))
    assert "#SBATCH --nodes=2" in proc.stdout and "#SBATCH --gpus-per-node=4" in proc.stdout
    assert "#SBATCH --partition=gpu" in proc.stdout and "#SBATCH --time=1440" in proc.stdout
    assert not (tmp_path / "jobs").exists() and not (tmp_path / "run").exists()
