"""The `hpcfault` command: one subcommand per module in this package.

Each subcommand module defines HELP (one line), `add_arguments(parser)` and `run(args) -> int`.
Only the chosen module is imported, so `hpcfault --help` stays fast on a login node.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from hpcfault import __version__
from hpcfault.errors import HpcfaultError

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
}


def _top_parser() -> argparse.ArgumentParser:
    lines = "\n".join(f"  {name:<15} {help_}" for name, (_, help_) in COMMANDS.items())
    p = argparse.ArgumentParser(
        prog="hpcfault", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="3D seismic fault segmentation at survey scale.",
        epilog=f"subcommands:\n{lines}\n\n'hpcfault SUBCOMMAND --help' shows each one's options.")
    p.add_argument("--version", action="version", version=f"hpcfault {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("command", metavar="SUBCOMMAND", choices=sorted(COMMANDS), help="see below")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = False
    while argv and argv[0] in ("-v", "--verbose"):
        verbose = True
        argv.pop(0)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if not argv:
        _top_parser().print_help(sys.stderr)
        return 2
    if argv[0].startswith("-") or argv[0] not in COMMANDS:
        _top_parser().parse_args(argv)  # prints help/version, or a usage error naming the choices
        return 2
    name, rest = argv[0], argv[1:]
    module_name, help_ = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"hpcfault {name}", description=getattr(module, "__doc__", None) or help_,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except HpcfaultError as exc:
        print(f"hpcfault {name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hpcfault {name}: interrupted", file=sys.stderr)
        return 130
