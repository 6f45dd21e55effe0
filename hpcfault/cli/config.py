"""Print a config file resolved with key=value overrides (dotted keys), as YAML.

Example: hpcfault config configs/train-cpu-small.yaml optim.lr=3e-4 data.cube=64
"""
from __future__ import annotations

import argparse

HELP = "print a config file resolved with key=value overrides"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML config file (its 'kind' key names what it configures)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted-key overrides, values parsed as YAML")


def run(args: argparse.Namespace) -> int:
    from hpcfault.config import apply_overrides, dump_config, load_config, read_yaml

    kind = apply_overrides(read_yaml(args.config), args.overrides).get("kind")
    cfg = load_config(args.config, args.overrides)
    print(dump_config(cfg, kind=str(kind)), end="")
    return 0
