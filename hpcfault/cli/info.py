"""Shape, axes, geometry, storage and value range of a SEG-Y, volume (.h5), .npy or .dat file.

Examples:
  hpcfault info survey.sgy
  hpcfault info survey.sgy --scan-bytes        # which trace-header bytes hold the line numbers
  hpcfault info survey.h5 --text               # also print the SEG-Y textual header kept in the file
  hpcfault info cube.npy --axes inline,xline,time --no-values
"""
from __future__ import annotations

import argparse

HELP = "shape, axes, geometry and value range of a SEG-Y or volume file"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="SEG-Y, volume file (.h5), .npy or .dat")
    p.add_argument("--scan-bytes", action="store_true",
                   help="SEG-Y: try the usual inline/crossline byte pairs (189/193, 9/21, 5/17, ...) and "
                        "say which span a full grid")
    p.add_argument("--text", action="store_true", help="print the SEG-Y textual header")
    p.add_argument("--no-values", action="store_true", help="skip the value range (which reads the whole file)")
    from hpcfault.cli._sources import add_source_arguments

    add_source_arguments(p)
    p.add_argument("--memory-budget", default="256MiB", metavar="SIZE",
                   help="bound for the read buffers of the value range (default 256MiB)")


def paths(args: argparse.Namespace) -> tuple[list, list]:
    from hpcfault.io.paths import arg

    return [arg("FILE", args.file)], []


def _print_scan(path: str, endian: str | None) -> None:
    from hpcfault.io.segy_scan import detect_endian, scan_bytes

    print(f"line-number candidates in {path} (bytes: distinct values, range):")
    for r in scan_bytes(path, endian=endian or detect_endian(path)):
        if r["fits"]:
            verdict = f"grid, {100 * r['fill']:.0f}% filled  <- --iline {r['iline_byte']} --xline {r['xline_byte']}"
        elif r["fill"] > 1 or r["inlines"] * r["xlines"] == 1:
            verdict = "no: several traces per position"
        else:
            verdict = f"no: grid only {100 * r['fill']:.0f}% filled"
        print(f"  {r['iline_byte']:>3}/{r['xline_byte']:<3}  inline {r['inlines']:>6} {str(r['iline_range']):>16}  "
              f"crossline {r['xlines']:>6} {str(r['xline_range']):>16}  {verdict}")


def run(args: argparse.Namespace) -> int:
    from hpcfault.io.describe import describe
    from hpcfault.io.slabs import parse_size
    from hpcfault.io.sources import source_kind

    kind = source_kind(args.file)
    if args.scan_bytes:
        if kind != "segy":
            from hpcfault.errors import HpcfaultError
            raise HpcfaultError(f"--scan-bytes reads SEG-Y trace headers (got a {kind} file {args.file!r})")
        _print_scan(args.file, args.endian)
    from hpcfault.cli._sources import source_options

    opts = source_options(args)
    if kind == "segy":
        from hpcfault.io.segy_scan import detect_endian

        opts = dict(iline=args.iline, xline=args.xline, endian=args.endian or detect_endian(args.file),
                    **({"min_live": args.min_live} if args.min_live is not None else {}))
    else:
        opts = {k: v for k, v in opts.items() if k not in ("iline", "xline")}
    rows = describe(args.file, values=not args.no_values, memory_budget=parse_size(args.memory_budget), **opts)
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    if args.text:
        from hpcfault.io.sources import open_source

        with open_source(args.file, **opts) as src:
            print(src.geometry.text_header)
    return 0
