"""Slurm job text as data: time limits, directives, submitit parameters, --dry-run goldens, the scripts.

No cluster needed. Golden files live in tests/golden/; after an intended change regenerate them with
    HPCFAULT_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_slurm_text.py
and review the diff.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hpcfault.cluster.slurm import (MPICH_SHM_CLEANUP, Resources, local_parameters, parse_time, sbatch_directives,
                                    sbatch_script, slurm_srun_args, submitit_parameters)
from hpcfault.cluster.submit import (add_submit_arguments, resume_argv, strip_submit_arguments, submit_command)
from hpcfault.errors import HpcfaultError

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden"
SCRIPTS = sorted((REPO / "slurm").glob("*.sbatch"))


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("HPCFAULT_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} is missing; create it with HPCFAULT_UPDATE_GOLDEN=1 pytest {__file__}"
    assert text == path.read_text(), (
        f"text differs from {path}; if the change is intended, regenerate with "
        f"HPCFAULT_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_slurm_text.py and review the diff")


@pytest.mark.parametrize("text,minutes", [("30", 30), ("1:30", 2), ("01:00:00", 60), ("00:00:01", 1),
                                          ("1-00", 1440), ("2-01:30", 2970), ("1-00:00:30", 1441)])
def test_parse_time(text, minutes):
    assert parse_time(text) == minutes


@pytest.mark.parametrize("text", ["", "1h", "00:00:00", "a-1", "1:2:3:4"])
def test_parse_time_rejects(text):
    with pytest.raises(HpcfaultError, match="time limit"):
        parse_time(text)


def test_resources_reject_bad_counts():
    with pytest.raises(HpcfaultError, match="--nodes must be at least 1"):
        Resources(nodes=0)
    with pytest.raises(HpcfaultError, match="--gpus-per-node"):
        Resources(gpus_per_node=-1)


def test_directives_name_no_site_unless_given():
    text = "\n".join(sbatch_directives(Resources()))
    assert "--partition" not in text and "--account" not in text and "--gpus" not in text
    text = "\n".join(sbatch_directives(Resources(partition="gpu", account="p1", gpus_per_node=4, mem="64G"),
                                       signal="USR1@120", requeue=True))
    for line in ("--partition=gpu", "--account=p1", "--gpus-per-node=4", "--mem=64G", "--signal=USR1@120",
                 "--requeue"):
        assert f"#SBATCH {line}" in text


def test_srun_mpi_plugin(monkeypatch):
    monkeypatch.delenv("HPCFAULT_SRUN_MPI", raising=False)
    assert slurm_srun_args(Resources(), mpi=False) == []
    assert slurm_srun_args(Resources(), mpi=True) == ["--mpi=pmi2", "--kill-on-bad-exit=1"]
    assert slurm_srun_args(Resources(tasks_per_node=2), mpi=False)[0] == "--mpi=pmi2"
    monkeypatch.setenv("HPCFAULT_SRUN_MPI", "pmix")
    assert submitit_parameters(Resources(), mpi=True)["srun_args"][0] == "--mpi=pmix"


def test_mpich_shm_cleanup_is_the_same_in_scripts_and_submitit():
    params = submitit_parameters(Resources(tasks_per_node=2), mpi=True)
    assert params["setup"] == [MPICH_SHM_CLEANUP]
    assert "setup" not in submitit_parameters(Resources(), mpi=False)
    for name in ("predict.sbatch", "convert.sbatch", "survey-array.sbatch", "train.sbatch"):
        assert "/dev/shm/mpich_shm_*" in (REPO / "slurm" / name).read_text()


def test_local_parameters():
    assert local_parameters(Resources(tasks_per_node=3), mpi=True)["tasks_per_node"] == 1
    assert local_parameters(Resources(tasks_per_node=3), mpi=False)["tasks_per_node"] == 3
    with pytest.raises(HpcfaultError, match="this machine only"):
        local_parameters(Resources(nodes=2), mpi=False)


def _normalized(text: str, folder: Path) -> str:
    text = text.replace(sys.executable, "PYTHON")
    return re.sub(re.escape(str(folder.resolve())) + r"/[0-9]{8}-[0-9]{6}-[0-9a-f]{6}", "FOLDER", text)


def test_dry_run_slurm_predict_golden(tmp_path, monkeypatch):
    monkeypatch.delenv("HPCFAULT_SRUN_MPI", raising=False)
    res = submit_command(["predict", "survey.sgy", "-m", "model.pt", "-o", "faults.h5"], mode="slurm",
                         folder=tmp_path, nodes=2, tasks_per_node=4, gpus_per_node=4, cpus_per_task=8,
                         partition="PARTITION", account="ACCOUNT", time="04:00:00", mem="64G", mpi=True,
                         dry_run=True)
    assert res.job_id == "" and not any(tmp_path.iterdir()), "a dry run must not create files"
    check_golden("submit-predict-slurm.sbatch", _normalized(res.text, tmp_path))


def test_dry_run_slurm_train_golden(tmp_path, monkeypatch):
    monkeypatch.delenv("HPCFAULT_SRUN_MPI", raising=False)
    res = submit_command(["train", "configs/train-tiny.yaml", "--run-dir", "runs/x"], mode="slurm",
                         folder=tmp_path, nodes=1, tasks_per_node=2, time="00:30:00", dry_run=True)
    check_golden("submit-train-slurm.sbatch", _normalized(res.text, tmp_path))


def test_dry_run_local_mpi_is_one_task_running_mpiexec(tmp_path):
    res = submit_command(["convert", "a.sgy", "a.h5"], mode="local", folder=tmp_path, tasks_per_node=3,
                         mpi=True, dry_run=True)
    assert '"mpiexec_ranks": 3' in res.text and '"tasks_per_node": 1' in res.text


def test_sbatch_script_builder_golden():
    text = sbatch_script(Resources(nodes=2, tasks_per_node=4, gpus_per_node=4, time="24:00:00"),
                         ['srun --mpi=pmi2 hpcfault train "$@"'], setup=["# module load cuda"],
                         signal="USR1@120", requeue=True, output="%x-%j.out")
    check_golden("builder-train.sbatch", text)


def test_submit_options_and_stripping():
    p = argparse.ArgumentParser()
    p.add_argument("survey")
    p.add_argument("--dry-run", action="store_true", help="the command's own plan")
    add_submit_arguments(p)  # must not clash with the command's --dry-run
    args = p.parse_args(["s.h5", "--submit", "slurm", "--nodes", "2", "--time=02:00:00", "--dry-run"])
    assert args.submit == "slurm" and args.nodes == 2 and args.time == "02:00:00" and args.dry_run
    argv = ["predict", "s.h5", "-o", "o.h5", "--submit", "slurm", "--nodes", "2", "--time=02:00:00",
            "--partition", "gpu", "--dry-run", "--submit-folder", "jobs"]
    assert strip_submit_arguments(argv) == ["predict", "s.h5", "-o", "o.h5"]
    assert resume_argv(["predict", "s.h5", "--restart", "-o", "o.h5"]) == ["predict", "s.h5", "-o", "o.h5"]


def test_unknown_mode_is_refused(tmp_path):
    with pytest.raises(HpcfaultError, match="unknown submission mode"):
        submit_command(["info", "x"], mode="pbs", folder=tmp_path)


# ---- the scripts users copy ----------------------------------------------------------------------

@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_sbatch_line_is_documented(script):
    lines = script.read_text().splitlines()
    directives = [i for i, line in enumerate(lines) if line.startswith("#SBATCH")]
    assert directives, f"{script.name} has no #SBATCH lines"
    for i in directives:
        assert lines[i + 1].startswith("#   ") or lines[i + 1].startswith("##SBATCH"), \
            f"{script.name}:{i + 1}: {lines[i]!r} is not followed by a '#   ' line documenting it"
    text = "\n".join(lines)
    assert not re.search(r"^#SBATCH --(partition|account)", text, re.M), "no site names in active lines"
    assert "HPCFAULT_ENV" in text and "module load" in text


@pytest.mark.parametrize("script", SCRIPTS + [REPO / "slurm" / "pipeline.sh"], ids=lambda p: p.name)
def test_scripts_parse_and_print_usage(script):
    subprocess.run(["bash", "-n", str(script)], check=True)
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                          env={**os.environ, "HPCFAULT_ENV": ""})
    assert proc.returncode == 2 and "usage:" in proc.stderr


# ---- issue 19 item 4: Slurm 22.05-23.02 do not pass sbatch's --cpus-per-task on to srun ----------

@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_srun_of_hpcfault_restates_cpus_per_task(script):
    lines = [ln for ln in script.read_text().splitlines() if ln.strip().startswith("srun") and "hpcfault" in ln]
    for ln in lines:
        assert '--cpus-per-task="$CPUS"' in ln, f"{script.name}: srun line without --cpus-per-task: {ln.strip()}"
    if lines:
        assert "CPUS=${SLURM_CPUS_PER_TASK:-1}" in script.read_text()


def test_submitit_restates_cpus_per_task_and_sets_threads():
    res = Resources(tasks_per_node=2, cpus_per_task=8)
    assert slurm_srun_args(res, mpi=True) == ["--mpi=pmi2", "--cpus-per-task=8", "--kill-on-bad-exit=1"]
    assert slurm_srun_args(Resources(cpus_per_task=4), mpi=False) == ["--cpus-per-task=4"]
    params = submitit_parameters(res, mpi=True)
    assert params["setup"] == ["export OMP_NUM_THREADS=8", MPICH_SHM_CLEANUP]
    assert params["cpus_per_task"] == 8
