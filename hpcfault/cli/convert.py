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
    p.add_argument("input", help="SEG-Y, .npy, .dat or HDF5 file")
    p.add_argument("output", help="volume file to write (.h5)")
    g = p.add_argument_group("SEG-Y")
    g.add_argument("--iline", type=int, default=189, metavar="BYTE", help="inline number byte (default 189)")
    g.add_argument("--xline", type=int, default=193, metavar="BYTE", help="crossline number byte (default 193)")
    g.add_argument("--endian", choices=("big", "little"), default=None,
                   help="byte order (default: big for SEG-Y, little for raw .dat)")
    g.add_argument("--min-live", type=float, default=None, metavar="FRACTION",
                   help="refuse grids with fewer live traces than this share (default 0.5)")
    g = p.add_argument_group("arrays (.npy, .dat, HDF5)")
    g.add_argument("--axes", default=None, help="axis order of the input, e.g. inline,xline,time or ixt")
    g.add_argument("--shape", type=int, nargs=3, default=None, metavar="N", help="raw .dat sizes in file order")
    g.add_argument("--dtype", default="float32", help="raw .dat sample type (default float32)")
    g.add_argument("--dataset", default=None, help="HDF5 dataset to read (default 'data')")
    g = p.add_argument_group("run")
    g.add_argument("--memory-budget", default="256MiB", metavar="SIZE",
                   help="bound for the slab buffers per rank, e.g. 256MiB, 2GiB (default 256MiB)")
    g.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is none anyway when stderr is not a terminal)")


def run(args: argparse.Namespace) -> int:
    from hpcfault.cluster.mpi import get_comm
    from hpcfault.errors import HpcfaultError
    from hpcfault.fmt import plural
    from hpcfault.io.convert import convert
    from hpcfault.io.slabs import parse_size

    comm = get_comm()
    opts = dict(iline=args.iline, xline=args.xline, endian=args.endian, axes=args.axes, shape=args.shape,
                dtype=args.dtype, dataset=args.dataset)
    if args.min_live is not None:
        opts["min_live"] = args.min_live
    try:
        report = convert(args.input, args.output, comm=comm, memory_budget=parse_size(args.memory_budget),
                         progress=not args.no_progress, **opts)
    except HpcfaultError:
        if comm.rank != 0:  # every rank met the same error; rank 0 prints it once
            return 2
        raise
    if report is None:
        return 0
    t, i, x = report.shape
    mb = report.bytes_written / 1e6
    missing = (f"{plural(report.missing_traces, 'missing trace')} filled with zeros" if report.missing_traces
               else "no missing traces")
    print(f"wrote {args.output}: (time, inline, xline) = ({t}, {i}, {x}) float32, {missing}, "
          f"values {report.value_min:g}..{report.value_max:g}"
          + (f", {report.nonfinite} non-finite" if report.nonfinite else "")
          + f"; {plural(report.ranges, 'inline range')} on {plural(comm.size, 'rank')}, {report.seconds:.1f} s "
          f"({mb / max(report.seconds, 1e-9):.1f} MB/s)")
    return 0
