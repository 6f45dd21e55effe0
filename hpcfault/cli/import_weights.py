"""Convert a published Fault-Net TorchScript file into a project checkpoint.

Example:
  hpcfault import-weights ../shared/weights/FaultNet_Gamma0.7.pt -o faultnet-g07.pt

The checkpoint holds the state_dict, the model config read from the weight shapes and the
provenance (source file name and path, sha256, gamma parsed from the name, import time); the
import runs both models on a 32^3 test input and refuses a file whose output differs by > 1e-5.
"""
from __future__ import annotations

import argparse

HELP = "published Fault-Net TorchScript -> project checkpoint"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="published TorchScript file, e.g. FaultNet_Gamma0.7.pt")
    p.add_argument("-o", "--output", required=True, help="project checkpoint to write (.pt)")
    p.add_argument("--no-check", action="store_true", help="skip the output comparison with the TorchScript file")


def paths(args: argparse.Namespace) -> tuple[list, list]:
    from hpcfault.io.paths import arg

    return [arg("SOURCE", args.source)], [arg("-o", args.output)]


def run(args: argparse.Namespace) -> int:
    from hpcfault.models.checkpoint import save_checkpoint
    from hpcfault.models.published import import_published
    from hpcfault.models.registry import count_parameters

    model, name, config, provenance = import_published(args.source, check_shape=None if args.no_check else (32, 32, 32))
    save_checkpoint(args.output, model, name, config, provenance)
    check = provenance.get("check", {})
    diff = f", max abs diff vs TorchScript {check['max_abs_diff']:.1e}" if check else ""
    print(f"{args.output}: model {name} {config['widths']} ({count_parameters(model):,} parameters), "
          f"gamma {provenance['gamma']}, sha256 {provenance['sha256'][:12]}...{diff}")
    return 0
