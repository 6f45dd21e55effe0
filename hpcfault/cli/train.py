"""Train a fault segmentation model from sparse slice labels (DDP; resumable; Slurm-ready).

  hpcfault train CONFIG [key=value ...] [--run-dir DIR]

The same command runs as one process, under `torchrun --nproc_per_node N`, under `srun` or
`mpiexec -n N` (one task per GPU), and through submitit (`--submit slurm|local`). Rerunning it on
an existing run directory resumes from the last checkpoint (the config must be the same; `steps`
may grow). SIGUSR1 / SIGTERM checkpoint after the current step, then requeue a Slurm job.

Examples:
  hpcfault train configs/train-cpu-small.yaml --run-dir runs/small
  torchrun --nproc_per_node 4 -m hpcfault train configs/train-paper.yaml --run-dir runs/paper
  hpcfault train configs/train-paper.yaml --run-dir runs/paper --submit slurm --nodes 2 \\
      --gpus-per-node 4 --partition gpu --time 24:00:00
"""
from __future__ import annotations

import argparse
import os
import sys

HELP = "train a model from sparse slice labels (DDP, resumable)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="training config (YAML, kind: train); see configs/train-*.yaml")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted-key overrides, e.g. steps=500 optim.lr=3e-4")
    p.add_argument("--run-dir", help="run directory (default: the config's run_dir); an existing one is resumed")
    s = p.add_argument_group("submission (submitit)")
    s.add_argument("--submit", choices=("slurm", "local"), help="submit through submitit instead of running here")
    s.add_argument("--nodes", type=int, default=1)
    s.add_argument("--gpus-per-node", type=int, default=0)
    s.add_argument("--tasks-per-node", type=int, default=None, help="default: gpus-per-node, or 1 without GPUs")
    s.add_argument("--cpus-per-task", type=int, default=None)
    s.add_argument("--partition")
    s.add_argument("--account")
    s.add_argument("--time", default="01:00:00", help="wall time limit, HH:MM:SS (default %(default)s)")
    s.add_argument("--mem", help="memory per node, e.g. 64G")
    s.add_argument("--dry-run", action="store_true", help="print what would be submitted and stop")


def run(args: argparse.Namespace) -> int:
    from hpcfault.config import load_config
    from hpcfault.train.rundir import resolve_run_dir

    cfg = load_config(args.config, args.overrides, cls=_config_class(args.config))
    if args.submit:
        run_dir = resolve_run_dir(cfg, args.run_dir)
        return _submit(args, run_dir)
    from hpcfault.train.trainer import train

    return train(cfg, args.run_dir)


def _config_class(path: str) -> type:
    """Accept files without `kind` or with `kind: train`; refuse other kinds clearly."""
    from hpcfault.config import read_yaml
    from hpcfault.errors import HpcfaultError
    from hpcfault.train.config import TrainConfig

    kind = read_yaml(path).get("kind", "train")
    if kind != "train":
        raise HpcfaultError(f"{path} is a {kind!r} config (got kind: {kind}); hpcfault train needs kind: train")
    return TrainConfig


def _submit(args: argparse.Namespace, run_dir) -> int:
    from hpcfault.cluster.submit import submit_command

    argv = ["train", os.path.abspath(args.config), *args.overrides, "--run-dir", str(run_dir)]
    tasks = args.tasks_per_node or (args.gpus_per_node or 1)
    res = submit_command(argv, mode=args.submit, folder=run_dir / "jobs", nodes=args.nodes,
                         tasks_per_node=tasks, gpus_per_node=args.gpus_per_node, cpus_per_task=args.cpus_per_task,
                         partition=args.partition, account=args.account, time=args.time, mem=args.mem,
                         dry_run=args.dry_run)
    if args.dry_run:
        print(res.text)
        return 0
    print(f"submitted job {res.job_id} ({args.submit}): {args.nodes} node(s) x {tasks} task(s); run dir {run_dir}")
    print(f"stdout: {res.stdout_path}")
    print(f"stderr: {res.stderr_path}")
    sys.stdout.flush()
    return 0
