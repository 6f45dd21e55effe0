"""PNG of seismic slices with fault probabilities overlaid.

Without --inline/--xline/--time the figure shows the three central slices; with one of them, that
slice alone; with several, one panel each. Inline and xline are survey NUMBERS from the volume's
geometry (as in 'hpcfault info'), time is a sample time/depth in the survey's unit (nearest sample).
Only the drawn slices are read from the files.

Examples:
  hpcfault show survey.h5 --faults pred.h5 -o three-view.png
  hpcfault show survey.h5 --faults pred.h5 --inline 1250 --cmap seismic -o il1250.png
  hpcfault show synth.h5 --faults synth.h5 --faults-dataset labels --time 400 -o labels.png
  hpcfault show survey.h5 --faults-ids faults/fault-ids.h5 -o fault-objects.png
"""
from __future__ import annotations

import argparse

HELP = "PNG of seismic slices with fault probabilities overlaid"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("volume", metavar="VOLUME.h5", help="volume file with the seismic in 'data'")
    p.add_argument("-o", "--output", metavar="FIG.png", required=True, help="PNG to write (atomic)")
    p.add_argument("--faults", metavar="PRED.h5", help="volume file with fault probabilities to overlay")
    p.add_argument("--faults-dataset", default="data", metavar="NAME",
                   help="dataset of --faults to draw (default data; 'labels' for a synthetic's labels)")
    p.add_argument("--dataset", default="data", metavar="NAME", help="seismic dataset (default data)")
    p.add_argument("--inline", type=float, metavar="N", help="inline number")
    p.add_argument("--xline", type=float, metavar="N", help="crossline number")
    p.add_argument("--time", type=float, metavar="T", help="sample time/depth (survey unit)")
    p.add_argument("--cmap", choices=("gray", "seismic"), default="gray", help="seismic colormap")
    p.add_argument("--threshold", type=float, default=0.5, metavar="P",
                   help="probabilities below P are not drawn (default 0.5)")
    p.add_argument("--faults-ids", metavar="FAULT-IDS.h5",
                   help="colour each fault object of an 'hpcfault faults' output (its sticks too, when beside it)")


def run(args: argparse.Namespace) -> int:
    if args.faults_ids:
        from hpcfault.faults.picture import show_faults_cli

        print(f"wrote {show_faults_cli(args)}")
        return 0
    from hpcfault.viz import show_volume

    out = show_volume(args.volume, args.output, faults=args.faults, faults_dataset=args.faults_dataset,
                      dataset=args.dataset, inline=args.inline, xline=args.xline, time=args.time,
                      cmap=args.cmap, threshold=args.threshold)
    print(f"wrote {out}")
    return 0
