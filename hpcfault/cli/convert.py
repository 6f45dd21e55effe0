"""Convert a survey into a volume file (HDF5, dataset 'data', axes time,inline,xline), streamed.

Inputs: post-stack 3D SEG-Y (.sgy/.segy), .npy, raw .dat (FaultSeg3D), HDF5 (.h5/.hdf5).

Examples:
  hpcfault convert survey.sgy survey.h5
  hpcfault convert old.sgy old.h5 --iline 9 --xline 21            # line numbers at bytes 9/21
  hpcfault convert pc.sgy pc.h5 --endian little
  hpcfault convert cube.npy cube.h5 --axes inline,xline,time
  hpcfault convert 0.dat 0.h5 --shape 128 128 128                 # FaultSeg3D cube
  hpcfault convert other.h5 vol.h5 --dataset seis --axes xline,inline,time
  mpiexec -n 4 hpcfault convert big.sgy big.h5 --memory-budget 1GiB

Inline/crossline byte locations: 189/193 (SEG-Y rev1, default), 9/21 and 5/17 in older files.
'hpcfault info FILE.sgy --scan-bytes' shows which pair spans a full grid. Missing traces are filled
with zeros and marked in geometry/live. Under MPI the ranks read inline ranges in parallel and rank 0
writes; the result equals the one-rank result.
"""
from __future__ import annotations

import argparse

HELP = "SEG-Y / .npy / .dat / HDF5 -> volume file (streamed, MPI-aware)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from hpcfault.cli._sources import add_source_arguments

    p.add_argument("input", help="SEG-Y, .npy, .dat or HDF5 file")
    p.add_argument("output", help="volume file to write (.h5)")
    add_source_arguments(p)
    g = p.add_argument_group("run")
    g.add_argument("--memory-budget", default="256MiB", metavar="SIZE",
                   help="bound for the slab buffers per rank, e.g. 256MiB, 2GiB (default 256MiB)")
    g.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is none anyway when stderr is not a terminal)")


def paths(args: argparse.Namespace) -> tuple[list, list]:
    from hpcfault.io.paths import arg

    return [arg("INPUT", args.input)], [arg("OUTPUT", args.output)]


def run(args: argparse.Namespace) -> int:
    from hpcfault.cli import one_report
    from hpcfault.cluster.mpi import get_comm
    from hpcfault.fmt import plural
    from hpcfault.io.convert import convert
    from hpcfault.io.slabs import parse_size

    from hpcfault.cli._sources import source_options

    comm = get_comm()
    opts = source_options(args)
    with one_report(comm):
        report = convert(args.input, args.output, comm=comm, memory_budget=parse_size(args.memory_budget),
                         progress=not args.no_progress, **opts)
    if report is None:
        return 0
    t, i, x = report.shape
    mb = report.bytes_written / 1e6
    missing = (f"{plural(report.missing_traces, 'missing trace')} filled with zeros" if report.missing_traces
               else "no missing traces")
    values = (f"values {report.value_min:g}..{report.value_max:g}" if report.value_min <= report.value_max
              else "no finite value")
    print(f"wrote {args.output}: (time, inline, xline) = ({t}, {i}, {x}) float32, {missing}, {values}"
          + (f", {report.nonfinite} non-finite" if report.nonfinite else "")
          + f"; {plural(report.ranges, 'inline range')} on {plural(comm.size, 'rank')}, {report.seconds:.1f} s "
          f"({mb / max(report.seconds, 1e-9):.1f} MB/s)")
    return 0
