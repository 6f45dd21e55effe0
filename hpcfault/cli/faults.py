"""Fault objects from a fault-probability volume: thinned faults, a fault-id volume, a table with
dip and strike, sticks for OpendTect and Petrel (Charisma), point sets. Streamed by inline slabs,
MPI-aware (mpiexec -n N); 1, 2 or N ranks write identical files.

The input is a volume file from 'hpcfault predict' (dataset 'fault' if present, else 'data'); a task
prediction's 'fault_dip'/'fault_strike' give the orientation unless --orientation tensor.
The output folder holds fault-ids.h5, thinned.h5 (export them with 'hpcfault export ... --like
SURVEY.sgy'), faults.csv and faults.json (one row per fault), points/NAME.csv and
sticks/{opendtect/NAME.txt, opendtect-all.txt, charisma.txt}. docs/faults.md describes every file,
the dip/strike conventions and the algorithm.

Examples:
  hpcfault faults pred.h5 -o faults/
  mpiexec -n 4 hpcfault faults pred.h5 -o faults/ --memory 2GiB
  hpcfault faults mtl.h5 --dataset fault --orientation tensor -o faults/ --min-area 500
  hpcfault export faults/fault-ids.h5 --like survey.sgy -o fault-ids.sgy
"""
from __future__ import annotations

import argparse

HELP = "fault objects, dip/strike table, sticks (OpendTect, Charisma) from fault probabilities"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from hpcfault.faults.plan import ORIENTATIONS, FaultParams

    d = FaultParams()
    p.add_argument("volume", metavar="PRED.h5", help="volume file with fault probabilities")
    p.add_argument("-o", "--output", metavar="DIR", required=True, help="output folder (created atomically)")
    p.add_argument("--dataset", default=None, help="probability dataset (default: 'fault' if present, else 'data')")
    p.add_argument("--orientation", choices=ORIENTATIONS, default=d.orientation,
                   help="auto (default): a prediction's fault_dip/fault_strike where it has them, else the "
                        "structure tensor; model: insist on them; tensor: ignore them")
    g = p.add_argument_group("thinning and linking")
    g.add_argument("--high", type=float, default=d.high, help=f"probability an object must reach (default {d.high})")
    g.add_argument("--low", type=float, default=d.low, help=f"probability a ridge voxel needs (default {d.low})")
    g.add_argument("--smooth", type=float, default=d.smooth, metavar="SIGMA",
                   help=f"Gaussian smoothing before the ridge search, voxels (default {d.smooth})")
    g.add_argument("--tensor-sigma", type=float, default=d.tensor, metavar="SIGMA",
                   help=f"structure tensor smoothing, voxels (default {d.tensor})")
    g.add_argument("--angle", type=float, default=d.angle, metavar="DEG",
                   help=f"neighbours join when their normals agree within this angle (default {d.angle:g})")
    g.add_argument("--planarity", type=float, default=d.planarity, metavar="P",
                   help=f"voxels whose structure tensor is less planar (where faults meet) link to no fault "
                        f"(default {d.planarity})")
    g.add_argument("--join-distance", type=float, default=d.join_distance, metavar="VOX",
                   help=f"touching fragments within this RMS distance of each other's plane join; 0: never "
                        f"(default {d.join_distance:g})")
    g.add_argument("--min-area", type=float, default=d.min_area, metavar="VOX2",
                   help=f"smallest fault kept in the table and id volume, voxel units (default {d.min_area:g})")
    g = p.add_argument_group("sticks")
    g.add_argument("--stick-every", type=int, default=d.stick_every, metavar="K",
                   help=f"a stick on every K-th inline (or crossline) (default {d.stick_every})")
    g.add_argument("--stick-step", type=int, default=d.stick_step, metavar="N",
                   help=f"samples between stick nodes (default {d.stick_step})")
    g = p.add_argument_group("run")
    g.add_argument("--memory", default="256MiB", metavar="SIZE",
                   help="memory budget of one slab per rank, e.g. 256MiB, 2GiB (default 256MiB)")
    g.add_argument("--slab-inlines", type=int, default=None, metavar="N",
                   help="at most N core inlines per slab (default: as many as --memory allows)")


def paths(args: argparse.Namespace) -> tuple[list, list]:
    from hpcfault.io.paths import arg

    return [arg("PRED.h5", args.volume)], [arg("-o", args.output, folder=True)]


def run(args: argparse.Namespace) -> int:
    from hpcfault.cli import one_report
    from hpcfault.cluster.mpi import get_comm
    from hpcfault.errors import HpcfaultError
    from hpcfault.faults.driver import extract_faults
    from hpcfault.faults.plan import FaultParams
    from hpcfault.io.slabs import parse_size

    comm = get_comm()
    with one_report(comm):
        if args.slab_inlines is not None and args.slab_inlines < 1:
            raise HpcfaultError(f"--slab-inlines must be >= 1 (got {args.slab_inlines})")
        params = FaultParams(smooth=args.smooth, tensor=args.tensor_sigma, high=args.high, low=args.low,
                             angle=args.angle, planarity=args.planarity, join_distance=args.join_distance,
                             min_area=args.min_area, stick_every=args.stick_every,
                             stick_step=args.stick_step, orientation=args.orientation)
        rep = extract_faults(args.volume, args.output, params, dataset=args.dataset,
                             memory=parse_size(args.memory), comm=comm, max_core=args.slab_inlines)
    if rep is None:
        return 0
    print(f"wrote {rep.out}/: {rep.faults} fault{'s' if rep.faults != 1 else ''} "
          f"({rep.thinned_objects} objects passed the thresholds, {rep.objects} linked), "
          f"{rep.fault_voxels} of {rep.ridge_voxels} ridge voxels, {rep.sticks} sticks; orientation from "
          f"{rep.orientation}; {rep.slabs} slab{'s' if rep.slabs != 1 else ''} of {rep.slab_inlines} inlines "
          f"(+{rep.halo} halo) on {rep.ranks} rank{'s' if rep.ranks != 1 else ''}, {rep.seconds:.1f} s")
    return 0
