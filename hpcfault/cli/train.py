"""Train a model: faults from sparse slice labels, or a task such as salt (DDP; resumable; Slurm-ready).

  hpcfault train CONFIG [key=value ...] [--run-dir DIR]

The same command runs as one process, under `torchrun --nproc_per_node N`, under `srun` or
`mpiexec -n N` (one task per GPU), and through submitit (`--submit slurm|local`). Rerunning it on
an existing run directory resumes from the last checkpoint (the config must be the same; `steps`
may grow). SIGUSR1 / SIGTERM checkpoint after the current step, then requeue a Slurm job.

Examples:
  hpcfault train configs/train-cpu-small.yaml --run-dir runs/small
  hpcfault train configs/train-salt-improved.yaml --run-dir runs/salt --init resnet34.pth model.name=unet-resnet34
  torchrun --nproc_per_node 4 -m hpcfault train configs/train-paper.yaml --run-dir runs/paper
  hpcfault train configs/train-paper.yaml --run-dir runs/paper --submit slurm --nodes 2 \\
      --gpus-per-node 4 --partition gpu --time 24:00:00
"""
from __future__ import annotations

import argparse
import logging

HELP = "train a model from sparse slice labels (DDP, resumable)"
LOG_LEVEL = logging.INFO   # a training log's steps, validations and resumes are its story


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="training config (YAML, kind: train); see configs/train-*.yaml")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted-key overrides, e.g. steps=500 optim.lr=3e-4")
    p.add_argument("--run-dir", help="run directory (default: the config's run_dir); an existing one is resumed")
    p.add_argument("--init", metavar="FILE", help="initial weights: any state dict or checkpoint whose tensors fit by "
                                                  "name (e.g. a ResNet for the encoder); same as init=FILE")
    from hpcfault.cluster.submit import add_submit_arguments

    add_submit_arguments(p)  # --submit slurm|local, --nodes, --gpus-per-node, ..., --dry-run
    # key=value overrides may come before or after the options (`--run-dir D steps=10`)
    p.parse_args = p.parse_intermixed_args  # type: ignore[method-assign]


def paths(args: argparse.Namespace) -> tuple[list, list]:
    from hpcfault.config import load_config
    from hpcfault.io.paths import arg
    from hpcfault.train.rundir import resolve_run_dir

    cfg = load_config(args.config, args.overrides, cls=_config_class(args.config))
    run_dir = resolve_run_dir(cfg, args.run_dir)
    return [arg("CONFIG", args.config)], [arg("--run-dir" if args.run_dir else "run_dir", run_dir, folder=True)]


def run(args: argparse.Namespace) -> int:
    from hpcfault.config import load_config
    from hpcfault.train.rundir import resolve_run_dir

    overrides = list(args.overrides) + ([f"init={args.init}"] if args.init else [])
    cfg = load_config(args.config, overrides, cls=_config_class(args.config))
    if args.submit:
        from hpcfault.cluster.submit import submit_from_args

        resolve_run_dir(cfg, args.run_dir)  # no run directory at all: say so before submitting
        return submit_from_args(None, args, command="train")
    from hpcfault.train.trainer import train

    return train(cfg, args.run_dir)


def _config_class(path: str) -> type:
    """Accept files with `kind: train`; refuse a missing kind (as `hpcfault config` does) and other kinds."""
    from hpcfault.config import KINDS, read_yaml
    from hpcfault.errors import HpcfaultError
    from hpcfault.train.config import TrainConfig

    data = read_yaml(path)
    if "kind" not in data:
        raise HpcfaultError(f"{path}: missing required key 'kind'; valid kinds: {sorted(KINDS)} "
                            "(a training config starts with 'kind: train', see configs/train-*.yaml)")
    kind = data["kind"]
    if kind != "train":
        raise HpcfaultError(f"{path} is a {kind!r} config (got kind: {kind}); hpcfault train needs kind: train")
    return TrainConfig
