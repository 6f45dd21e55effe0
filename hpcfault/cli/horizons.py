"""Iso-RGT horizons: the surfaces where relative geologic time takes given values.

Reads the RGT of a prediction (a multitask model's output file; or any volume file, --dataset) in
inline slabs and writes, for each value, the time of the surface on every trace: one HDF5 file
OUT/horizons.h5 (dataset `time` in samples and `time_ms` in the survey's unit, shaped (values,
inline, xline), NaN where a trace does not reach the value) and one ASCII file per value,
OUT/horizons-VALUE.txt, with a line `inline xline x y time` per trace, the layout interpretation
software imports. The time on a trace is where RGT first reaches the value going down, linearly
interpolated between samples (hpcfault/tasks/multitask/horizons.py).

Examples:
  hpcfault horizons out.h5 --values 0.2 0.4 0.6 0.8 -o horizons/
  hpcfault horizons survey.h5 --dataset rgt --values 0.5 -o truth/ --name true
"""
from __future__ import annotations

import argparse

HELP = "iso-RGT horizons of a multitask prediction: HDF5 grids and ASCII inline xline x y time"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("volume", metavar="PRED.h5", help="volume file holding relative geologic time")
    p.add_argument("--values", nargs="+", type=float, required=True, metavar="V",
                   help="RGT values of the horizons, e.g. 0.2 0.4 0.6 0.8 (RGT is in [0, 1])")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for the horizon files")
    p.add_argument("--dataset", default="rgt", help="dataset holding RGT (default rgt)")
    p.add_argument("--name", default="horizons", help="file name stem (default horizons)")
    p.add_argument("--slab", type=int, default=32, metavar="N", help="inlines read at a time (default 32)")


def paths(args: argparse.Namespace) -> tuple[list, list]:
    from hpcfault.io.paths import arg

    return [arg("PRED.h5", args.volume)], [arg("-o", args.output, folder=True)]


def run(args: argparse.Namespace) -> int:
    from hpcfault.tasks.multitask.horizons import extract

    files = extract(args.volume, args.values, args.output, dataset=args.dataset, slab=args.slab, name=args.name)
    print(f"wrote {len(args.values)} horizon{'s' if len(args.values) != 1 else ''} of {args.volume}:{args.dataset} "
          f"to {args.output}: {files[0].name} and {len(files) - 1} ASCII file{'s' if len(files) != 2 else ''} "
          f"(inline xline x y time)")
    return 0
