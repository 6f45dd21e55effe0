"""The input options shared by every command that reads a survey file (convert, info, predict).

One option group, so that an error about the input ("declare its order with --axes", "--endian
little", "pass --shape") names an option the command has. Raw sample types are `--raw-dtype`
(`--dtype` in convert and info, where it does not clash with predict's compute precision).
"""
from __future__ import annotations

import argparse
from typing import Any

SEGY_KEYS = ("iline", "xline")
OTHER_KEYS = ("endian", "axes", "shape", "dtype", "dataset", "min_live")


def add_source_arguments(p: argparse.ArgumentParser, dtype_alias: bool = True) -> None:
    g = p.add_argument_group("input: SEG-Y")
    g.add_argument("--iline", type=int, default=189, metavar="BYTE",
                   help="SEG-Y trace-header byte of the inline number (default 189; `hpcfault info --scan-bytes` "
                        "finds it)")
    g.add_argument("--xline", type=int, default=193, metavar="BYTE",
                   help="SEG-Y trace-header byte of the crossline number (default 193)")
    g.add_argument("--endian", choices=("big", "little"), default=None,
                   help="byte order (default: big for SEG-Y, little for raw .dat)")
    g.add_argument("--min-live", type=float, default=None, metavar="FRACTION",
                   help="refuse grids with fewer live traces than this share (default 0.5)")
    g = p.add_argument_group("input: arrays (.npy, .dat, HDF5)")
    g.add_argument("--axes", default=None, help="axis order of the input, e.g. inline,xline,time or ixt "
                                                "(volume files store theirs)")
    g.add_argument("--shape", type=int, nargs=3, default=None, metavar="N", help="raw .dat sizes in file order")
    flags = ("--dtype", "--raw-dtype") if dtype_alias else ("--raw-dtype",)
    g.add_argument(*flags, dest="raw_dtype", default="float32", metavar="TYPE",
                   help="raw .dat sample type (default float32)")
    g.add_argument("--dataset", default=None, help="HDF5 dataset to read (default 'data')")


def source_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for hpcfault.io.sources.open_source from the parsed options."""
    opts: dict[str, Any] = dict(iline=args.iline, xline=args.xline, endian=args.endian, axes=args.axes,
                                shape=args.shape, dtype=args.raw_dtype, dataset=args.dataset)
    if args.min_live is not None:
        opts["min_live"] = args.min_live
    return opts
