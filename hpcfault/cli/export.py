"""Write a volume file as SEG-Y with the headers of the survey it came from.

The output keeps the original textual, binary and trace headers (format code set to 5) and holds
the volume's values as IEEE float32, in the original trace order and byte order.

Examples:
  hpcfault export faults.h5 --like survey.sgy -o faults.sgy
  hpcfault export pred.h5 --dataset data --like old.sgy -o pred.sgy --iline 9 --xline 21
"""
from __future__ import annotations

import argparse

HELP = "volume file -> SEG-Y with the headers of an original survey"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("volume", help="volume file (.h5)")
    p.add_argument("--like", required=True, metavar="SURVEY.sgy", help="SEG-Y whose headers the output copies")
    p.add_argument("-o", "--output", required=True, metavar="OUT.sgy", help="SEG-Y to write")
    p.add_argument("--dataset", default=None,
                   help="dataset of the volume file to export (default: data, or a prediction's first output; e.g. rgt)")
    p.add_argument("--iline", type=int, default=None, metavar="BYTE",
                   help="inline byte of the survey (default: as stored by convert, else 189)")
    p.add_argument("--xline", type=int, default=None, metavar="BYTE",
                   help="crossline byte (default: as stored by convert, else 193)")
    p.add_argument("--endian", choices=("big", "little"), default=None, help="byte order of the survey (default: detected)")
    p.add_argument("--memory-budget", default="256MiB", metavar="SIZE", help="bound for the slab buffers (default 256MiB)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is none anyway when stderr is not a terminal)")


def paths(args: argparse.Namespace) -> tuple[list, list]:
    from hpcfault.io.paths import arg

    return [arg("VOLUME", args.volume), arg("--like", args.like)], [arg("-o", args.output)]


def run(args: argparse.Namespace) -> int:
    from hpcfault.io.export import export_segy
    from hpcfault.io.slabs import parse_size

    rep = export_segy(args.volume, args.like, args.output, dataset=args.dataset, iline=args.iline, xline=args.xline,
                      endian=args.endian, memory_budget=parse_size(args.memory_budget),
                      progress=not args.no_progress)
    t, i, x = rep.shape
    print(f"wrote {args.output}: {rep.traces} traces of {t} IEEE float32 samples ({i} x {x} grid) "
          f"with the headers of {args.like}")
    return 0
