"""The `hpcfault` command: one subcommand per module in this package.

Each subcommand module defines HELP (one line), `add_arguments(parser)` and `run(args) -> int`, and
may set LOG_LEVEL (default WARNING: the command's own output is its stdout lines; `train` logs its
steps at INFO). Only the chosen module is imported, so `hpcfault --help` stays fast on a login node.

Logging: hpcfault's loggers print at LOG_LEVEL, `-v` adds INFO, `-vv` DEBUG (before or after the
subcommand); other libraries' loggers only print warnings.

A module whose command reads or writes files also defines `paths(args) -> (inputs, outputs)`
(hpcfault.io.paths.PathArg lists): `main` checks them with the one rule of hpcfault.io.paths
before `run` starts any work.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from typing import Any, Sequence

from hpcfault import __version__
from hpcfault.errors import HpcfaultError

@contextlib.contextmanager
def one_report(comm: Any):
    """Around collective work whose bad input every rank meets alike (an MPI command's checks):
    rank 0 lets the HpcfaultError through to `main`, which prints it; the other ranks exit 2
    quietly, so the user reads the error once."""
    try:
        yield
    except HpcfaultError:
        if comm.rank != 0:
            raise SystemExit(2) from None
        raise


# name -> (module, one-line help). Grouped in the order a user meets them.
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("hpcfault.cli.synth", "make a synthetic faulted survey with labels (families of wide ranges)"),
    "convert": ("hpcfault.cli.convert", "SEG-Y / .npy / .dat / HDF5 -> volume file (streamed, MPI-aware)"),
    "export": ("hpcfault.cli.export", "volume file -> SEG-Y with the headers of an original survey"),
    "info": ("hpcfault.cli.info", "shape, axes, geometry and value range of a SEG-Y or volume file"),
    "config": ("hpcfault.cli.config", "print a config file resolved with key=value overrides"),
    "models": ("hpcfault.cli.models", "list the models; --plan prints the largest block for a memory budget"),
    "import-weights": ("hpcfault.cli.import_weights", "published Fault-Net TorchScript -> project checkpoint"),
    "predict": ("hpcfault.cli.predict", "fault probabilities for a whole survey (MPI blocks, resumable)"),
    "labels": ("hpcfault.cli.labels", "training labels: keep sparse slices, inject false negatives"),
    "train": ("hpcfault.cli.train", "train a model from sparse slice labels (DDP, resumable)"),
    "plot-metrics": ("hpcfault.cli.plot_metrics", "draw a training run's metric curves"),
    "evaluate": ("hpcfault.cli.evaluate", "IoU, precision, recall, Tol-IoU@2 of a prediction"),
    "show": ("hpcfault.cli.show", "PNG of seismic slices with fault probabilities overlaid"),
    "faults": ("hpcfault.cli.faults", "fault objects, dip/strike, sticks for OpendTect/Petrel"),
    "horizons": ("hpcfault.cli.horizons", "iso-RGT horizons of a multitask prediction (HDF5, ASCII)"),
    "salt-tiles": ("hpcfault.cli.salt_tiles", "cut survey sections into TGS-layout tiles (PNG, RLE train.csv)"),
    "predict-tiles": ("hpcfault.cli.predict_tiles", "predict a TGS tile folder with a 2D model; submission CSV"),
}


def _top_parser() -> argparse.ArgumentParser:
    lines = "\n".join(f"  {name:<15} {help_}" for name, (_, help_) in COMMANDS.items())
    p = argparse.ArgumentParser(
        prog="hpcfault", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="3D seismic fault segmentation at survey scale.",
        epilog=f"subcommands:\n{lines}\n\n'hpcfault SUBCOMMAND --help' shows each one's options.")
    p.add_argument("--version", action="version", version=f"hpcfault {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="-v: progress details (INFO), -vv: debug")
    p.add_argument("command", metavar="SUBCOMMAND", choices=sorted(COMMANDS), help="see below")
    return p


def setup_logging(verbose: int, default: int = logging.WARNING) -> None:
    """hpcfault's loggers at `default`, one step more talkative per -v; other libraries at WARNING."""
    level = default if not verbose else min(default, logging.INFO if verbose == 1 else logging.DEBUG)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", force=True)
    logging.getLogger("hpcfault").setLevel(level)


def _count_verbose(argv: list[str]) -> int:
    """Leading -v / -vv / --verbose flags (before the subcommand), removed from argv."""
    n = 0
    while argv and (argv[0] == "--verbose" or (argv[0].startswith("-v") and set(argv[0][1:]) == {"v"})):
        n += 1 if argv[0] == "--verbose" else len(argv[0]) - 1
        argv.pop(0)
    return n


def subcommand_parser(name: str) -> tuple[Any, argparse.ArgumentParser]:
    """The module of subcommand `name` and its argument parser (tools/cli_reference.py prints it)."""
    module_name, help_ = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"hpcfault {name}", description=getattr(module, "__doc__", None) or help_,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    module.add_arguments(parser)
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log lines: -v progress details (INFO), -vv debug")
    return module, parser


def quiet_thread_waits() -> None:
    """Let idle OpenMP threads sleep instead of spinning, unless the user chose otherwise.

    torch's OpenMP threads spin while they wait for work; on a node that other jobs share (or a
    hyperthreaded allocation) a spinning thread takes the core from the one the others wait for.
    Measured: a 2-thread predict beside other jobs (load 10 on 2 cores) took 72-85 s spinning and
    16-18 s passive (docs/performance.md#busy-nodes). It takes effect only before torch is imported.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv: Sequence[str] | None = None) -> int:
    quiet_thread_waits()
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = _count_verbose(argv)
    setup_logging(verbose)
    if not argv:
        _top_parser().print_help(sys.stderr)
        return 2
    if argv[0].startswith("-") or argv[0] not in COMMANDS:
        _top_parser().parse_args(argv)  # prints help/version, or a usage error naming the choices
        return 2
    name, rest = argv[0], argv[1:]
    module, parser = subcommand_parser(name)
    args = parser.parse_args(rest)
    setup_logging(verbose + args.verbose, getattr(module, "LOG_LEVEL", logging.WARNING))
    if hasattr(module, "paths"):
        from hpcfault.io.paths import check_paths

        try:
            check_paths(*module.paths(args))
        except HpcfaultError as exc:
            from hpcfault.cluster.rankenv import read_rank_env

            if read_rank_env().rank == 0:   # under mpiexec every rank finds the same: say it once
                print(f"hpcfault {name}: error: {exc}", file=sys.stderr)
            return 2
    try:
        code = int(module.run(args) or 0)
        sys.stdout.flush()   # a closed pipe shows here, inside the handlers below, not at exit
        return code
    except HpcfaultError as exc:
        print(f"hpcfault {name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hpcfault {name}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:   # `hpcfault info X | head`: the reader left; stop quietly like other tools
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())   # so that the flush at exit does not fail again
        return 141
