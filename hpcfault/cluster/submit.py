"""Run `hpcfault ARGV` as a Slurm job (or a local one) through submitit, resumably.

    submit_command(["predict", "survey.h5", "-m", "model.pt", "-o", "out.h5"], mode="slurm",
                   folder="jobs", nodes=2, tasks_per_node=4, gpus_per_node=4, mpi=True)

Every task of the job runs the CLI in-process (`hpcfault.cli.main(argv)`); under Slurm each task
is started by srun, so `hpcfault.cluster.rankenv` reads its rank from SLURM_PROCID etc., and MPI
jobs get `srun --mpi=pmi2` (or $HPCFAULT_SRUN_MPI). The commands are resumable by design (predict
keeps a ledger, train resumes its run directory), so `CommandJob.checkpoint` simply resubmits the
same command: on a timeout or preemption signal submitit requeues the job and it continues.

The train and predict CLIs add the options with `add_submit_arguments(parser)` and hand over with
`submit_from_args(argv, args)` when `--submit` is given.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from hpcfault.cluster.slurm import Resources, local_parameters, submitit_parameters
from hpcfault.errors import HpcfaultError

log = logging.getLogger(__name__)

MODES = ("slurm", "local", "debug")
#: Flags of a first run that must not be repeated when a job resumes (they would start over).
_FIRST_RUN_ONLY = ("--restart",)


@dataclass(frozen=True)
class SubmitResult:
    job_id: str
    stdout_path: str
    stderr_path: str
    text: str
    job: Any = field(default=None, repr=False, compare=False)  # the submitit Job (None for --dry-run)


def resume_argv(argv: Sequence[str]) -> list[str]:
    """The command line a requeued job reruns: the same, without flags that start over."""
    return [a for a in argv if a not in _FIRST_RUN_ONLY]


def _mpiexec() -> str:
    for cand in (Path(sys.executable).parent / "mpiexec", shutil.which("mpiexec")):
        if cand and Path(cand).exists():
            return str(cand)
    raise HpcfaultError("no mpiexec found for a local MPI job (got none on PATH); "
                        "install mpich or use --tasks-per-node 1")


class CommandJob:
    """A picklable callable: `hpcfault ARGV` in each task; submitit checkpoints it by resubmitting."""

    def __init__(self, argv: Sequence[str], *, local_mpi_ranks: int = 0) -> None:
        self.argv = [str(a) for a in argv]
        self.local_mpi_ranks = local_mpi_ranks  # local mode: run the command under mpiexec -n N

    def __repr__(self) -> str:
        return f"CommandJob(hpcfault {shlex.join(self.argv)})"

    def __call__(self) -> int:
        if self.local_mpi_ranks > 1:
            cmd = [_mpiexec(), "-n", str(self.local_mpi_ranks), sys.executable, "-m", "hpcfault", *self.argv]
            code = subprocess.call(cmd)
        else:
            from hpcfault.cli import main  # rankenv reads this task's rank from srun or submitit


            code = main(list(self.argv))
        if code != 0:
            raise HpcfaultError(f"hpcfault {shlex.join(self.argv)} failed (exit status {code}); see this job's log")
        return code

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """submitit's checkpoint protocol: the command resumes from its own files, so rerun it."""
        import submitit

        log.info("checkpoint: requeueing %r", self)
        return submitit.helpers.DelayedSubmission(CommandJob(resume_argv(self.argv),
                                                             local_mpi_ranks=self.local_mpi_ranks))


def fresh_folder(folder: str | os.PathLike) -> Path:
    """A new sub-folder per submission: Slurm job ids restart with a fresh cluster state, and an
    old result file with the same id must never be mistaken for this job's."""
    stamp = _time.strftime("%Y%m%d-%H%M%S")
    return Path(folder).resolve() / f"{stamp}-{secrets.token_hex(3)}"


def _submitit_command(folder: Path) -> str:
    return f"{shlex.quote(sys.executable)} -u -m submitit.core._submit {shlex.quote(str(folder))}"


def submit_command(argv: Sequence[str], *, mode: str, folder: str | os.PathLike, nodes: int = 1,
                   tasks_per_node: int = 1, gpus_per_node: int = 0, cpus_per_task: int | None = None,
                   partition: str | None = None, account: str | None = None, time: str = "01:00:00",
                   mem: str | None = None, mpi: bool = False, dry_run: bool = False,
                   job_name: str | None = None, signal_delay_s: int = 120) -> SubmitResult:
    """Submit `hpcfault ARGV` (every task runs it) and return at once with the job id and log paths."""
    if mode not in MODES:
        raise HpcfaultError(f"unknown submission mode (got {mode!r}); use one of {', '.join(MODES)}")
    argv = [str(a) for a in argv]
    if not argv:
        raise HpcfaultError("nothing to submit (got an empty command); give e.g. ['predict', 'survey.h5', ...]")
    res = Resources(nodes=nodes, tasks_per_node=tasks_per_node, gpus_per_node=gpus_per_node,
                    cpus_per_task=cpus_per_task, partition=partition, account=account, time=time, mem=mem,
                    job_name=job_name or f"hpcfault-{argv[0]}")
    where = fresh_folder(folder)
    if mode == "slurm":
        params = submitit_parameters(res, mpi=mpi, signal_delay_s=signal_delay_s)
        job_fn = CommandJob(argv)
    else:
        params = local_parameters(res, mpi=mpi)
        job_fn = CommandJob(argv, local_mpi_ranks=res.tasks_per_node if mpi else 0)
    if dry_run:
        return _dry_run(mode, where, params, job_fn)
    import submitit

    if mode == "slurm":
        if shutil.which("sbatch") is None:
            raise HpcfaultError("--submit slurm needs Slurm's sbatch and srun on PATH (got none); "
                                "run on a login node, or use --submit local")
        executor: Any = submitit.SlurmExecutor(folder=where, max_num_timeout=3)
    elif mode == "local":
        executor = submitit.LocalExecutor(folder=where, max_num_timeout=3)
    else:
        executor = submitit.DebugExecutor(folder=where)
    executor.update_parameters(**params)
    job = executor.submit(job_fn)
    text = ""
    sub = job.paths.submission_file
    if sub.exists():
        text = sub.read_text()
    result = SubmitResult(str(job.job_id), str(job.paths.stdout), str(job.paths.stderr), text, job)
    log.info("submitted %r as %s job %s; logs %s", job_fn, mode, result.job_id, result.stdout_path)
    return result


def _dry_run(mode: str, where: Path, params: dict, job_fn: CommandJob) -> SubmitResult:
    if mode == "slurm":
        from submitit.slurm.slurm import _make_sbatch_string

        text = _make_sbatch_string(command=_submitit_command(where), folder=where, **params)
        text += f"# (dry run) every task runs, through submitit: hpcfault {shlex.join(job_fn.argv)}\n"
    else:
        text = json.dumps({"executor": mode, "folder": str(where), "parameters": params,
                           "command": ["hpcfault", *job_fn.argv],
                           "mpiexec_ranks": job_fn.local_mpi_ranks}, indent=2) + "\n"
    return SubmitResult("", str(where / "%j_0_log.out"), str(where / "%j_0_log.err"), text)


# ---- the shared command-line options -------------------------------------------------------

_OPTIONS = (
    ("--submit", dict(choices=("slurm", "local"), default=None,
                      help="submit this command through submitit instead of running it here")),
    ("--nodes", dict(type=int, default=1, help="nodes (--submit; default 1)")),
    ("--tasks-per-node", dict(type=int, default=None,
                              help="tasks per node, one per GPU (default: --gpus-per-node, or 1)")),
    ("--gpus-per-node", dict(type=int, default=0, help="GPUs per node (default 0)")),
    ("--cpus-per-task", dict(type=int, default=None, help="CPUs per task (default: the site's)")),
    ("--partition", dict(default=None, help="Slurm partition (default: the site's default partition)")),
    ("--account", dict(default=None, help="Slurm account to charge (default: yours)")),
    ("--time", dict(default="01:00:00", help="time limit per run, HH:MM:SS or D-HH:MM:SS (default 01:00:00); "
                                             "a timed-out job is requeued and resumes")),
    ("--mem", dict(default=None, help="memory per node, e.g. 64G (default: the site's)")),
    ("--submit-folder", dict(default="hpcfault-jobs",
                             help="where submitit keeps job files and logs (a fresh sub-folder per "
                                  "submission; default ./hpcfault-jobs)")),
)
_SUBMIT_ONLY = {name for name, _ in _OPTIONS if name != "--submit"}


def add_submit_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --submit slurm|local and the Slurm resource options (skipping any the command already has);
    with --submit, --dry-run prints the sbatch text / submitit parameters instead of submitting."""
    group = parser.add_argument_group("submission (Slurm or local, through submitit)")
    taken = set(parser._option_string_actions)  # noqa: SLF001 - argparse has no public lookup
    for name, kw in _OPTIONS:
        if name not in taken:
            group.add_argument(name, **kw)
    if "--dry-run" not in taken:
        group.add_argument("--dry-run", action="store_true",
                           help="with --submit: print the sbatch text or submitit parameters, submit nothing")


def strip_submit_arguments(argv: Sequence[str]) -> list[str]:
    """ARGV without the submission options (and --dry-run), i.e. what each task runs."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        name = a.split("=", 1)[0]
        if name in ("--submit", *_SUBMIT_ONLY):
            skip = "=" not in a
            continue
        if a == "--dry-run":
            continue
        out.append(a)
    return out


def submit_from_args(argv: Sequence[str] | None, args: argparse.Namespace, *, command: str | None = None,
                     mpi: bool = False) -> int:
    """Submit the command the user typed (ARGV, default sys.argv[1:]) as described by ARGS; print the
    job id and log paths (or, with --dry-run, the text), and return the CLI exit status."""
    raw = list(sys.argv[1:] if argv is None else argv)
    while raw and raw[0] in ("-v", "--verbose"):
        raw.pop(0)
    if command and (not raw or raw[0] != command):
        if argv is None:
            raise HpcfaultError(f"cannot find the '{command}' command line to submit (got {raw[:3]!r} in "
                                "sys.argv); pass argv to submit_from_args explicitly")
        raw.insert(0, command)
    task_argv = strip_submit_arguments(raw)
    gpus = int(getattr(args, "gpus_per_node", 0) or 0)
    tasks = getattr(args, "tasks_per_node", None) or max(gpus, 1)
    result = submit_command(task_argv, mode=args.submit, folder=args.submit_folder, nodes=args.nodes,
                            tasks_per_node=tasks, gpus_per_node=gpus, cpus_per_task=args.cpus_per_task,
                            partition=args.partition, account=args.account, time=args.time, mem=args.mem,
                            mpi=mpi, dry_run=bool(getattr(args, "dry_run", False)))
    if not result.job_id:
        print(result.text, end="")
        return 0
    print(f"submitted job {result.job_id} ({args.submit}): hpcfault {shlex.join(task_argv)}")
    print(f"  stdout: {result.stdout_path}")
    print(f"  stderr: {result.stderr_path}")
    if args.submit != "local":
        return 0
    try:  # a local job runs on this machine: wait for it, like a plain run
        result.job.results()
    except Exception as exc:  # noqa: BLE001 - submitit re-raises the task's failure with its traceback
        print(f"job {result.job_id} failed: {str(exc).strip().splitlines()[-1]}", file=sys.stderr)
        return 1
    print(f"job {result.job_id} finished")
    return 0
