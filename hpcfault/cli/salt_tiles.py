"""Cut the sections of a survey into TGS-layout tiles (train/images, train/masks, train.csv,
depths.csv), so that anything that reads TGS Salt Identification data reads our surveys.

SURVEY.h5 is a volume file; with a `salt` dataset (e.g. `hpcfault synth --family salt`) the
tiles get masks and train.csv, with --no-labels only test/images. The seismic is scaled over the
whole survey as training and predict scale it, then written as 8-bit PNG. OUT_DIR must be new or
empty; it appears only when complete.

Examples:
  hpcfault synth salt.h5 --family salt --seed 3 --shape 128 128 128
  hpcfault salt-tiles salt.h5 tiles/ --size 101
  hpcfault salt-tiles big.h5 tiles/ --size 101 --every 10 --axes inline
  hpcfault salt-tiles s1.h5 s2.h5 s3.h5 tiles/ --every 4         (one folder from several surveys)
"""
from __future__ import annotations

import argparse

HELP = "cut survey sections into TGS-layout tiles (PNG, RLE train.csv, depths.csv)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="SURVEY.h5 [...] OUT_DIR",
                   help="volume file(s), their 'salt' datasets give the masks (tile ids of several surveys start with "
                        "the file name), then a new (or empty) folder for the TGS layout")
    p.add_argument("--size", type=int, default=101, help="tile edge in pixels (default 101, the TGS size)")
    p.add_argument("--stride", type=int, help="pixels between tiles (default: the size, no overlap)")
    p.add_argument("--every", type=int, default=1, help="cut every k-th section (default 1)")
    p.add_argument("--axes", default="inline,xline", help="section directions: inline, xline or both (default)")
    p.add_argument("--no-labels", action="store_true", help="test tiles without masks (the survey needs no 'salt')")


def paths(args: argparse.Namespace) -> tuple[list, list]:
    from hpcfault.io.paths import arg

    if len(args.paths) < 2:
        return [], []                  # run says what is missing
    return ([arg("SURVEY.h5", p) for p in args.paths[:-1]], [arg("OUT_DIR", args.paths[-1], folder=True)])


def run(args: argparse.Namespace) -> int:
    from hpcfault.fmt import plural
    from hpcfault.tasks.salt.tiles import cut_tiles

    if len(args.paths) < 2:
        from hpcfault.errors import HpcfaultError

        raise HpcfaultError(f"give a survey and an output folder (got {args.paths}); e.g. salt.h5 tiles/")
    rep = cut_tiles(args.paths[:-1], args.paths[-1], size=args.size, stride=args.stride, every=args.every,
                    sections=[s.strip() for s in args.axes.split(",") if s.strip()], labels=not args.no_labels)
    what = f", {rep['with_salt']} with salt; masks and train.csv" if rep["labelled"] else " (no masks)"
    surveys = f" of {plural(rep['surveys'], 'survey')}" if rep["surveys"] > 1 else ""
    print(f"wrote {rep['out']}: {plural(rep['tiles'], 'tile')} of {rep['size']}x{rep['size']} in {rep['part']}/images "
          f"from {plural(rep['sections'], 'section')}{surveys}{what}; depths.csv")
    return 0
