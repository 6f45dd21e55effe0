"""PNG of seismic slices with fault probabilities overlaid (or labels | prediction side by side).

Without --inline/--xline/--time the figure shows the three central slices; with one of them, that
slice alone; with several, one panel each. Inline and xline are survey NUMBERS from the volume's
geometry (as in 'hpcfault info'), time is a sample time/depth in the survey's unit (nearest sample).
Only the drawn slices are read from the files. The overlay's opacity grows with the probability, so
the reflectors stay visible under it; its colours contrast with the chosen seismic colormap.

Examples:
  hpcfault show survey.h5 --faults pred.h5 -o three-view.png
  hpcfault show survey.h5 --faults pred.h5 --inline 1250 --cmap seismic -o il1250.png
  hpcfault show synth.h5 --faults synth.h5 --faults-dataset labels --time 400 -o labels.png
  hpcfault show synth.h5 --faults pred.h5 --labels synth.h5 -o labels-vs-prediction.png
  hpcfault show mti.h5 --dataset rgt --inline 1250 -o rgt.png
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
    p.add_argument("--labels", metavar="LABELS.h5",
                   help="draw these labels beside the --faults prediction (one row per slice: labels | prediction)")
    p.add_argument("--labels-dataset", default="labels", metavar="NAME",
                   help="dataset of --labels (default labels, as 'hpcfault synth' writes it)")
    p.add_argument("--dataset", default=None, metavar="NAME",
                   help="dataset to draw (default: data, or a prediction's first output); a model output "
                        "(e.g. rgt, fault_strike of a task prediction) is drawn in its own colours")
    p.add_argument("--inline", type=float, metavar="N", help="inline number")
    p.add_argument("--xline", type=float, metavar="N", help="crossline number")
    p.add_argument("--time", type=float, metavar="T", help="sample time/depth (survey unit)")
    p.add_argument("--cmap", choices=("gray", "seismic"), default="gray",
                   help="seismic colormap (default gray; seismic = red-white-blue, the overlay turns green)")
    p.add_argument("--threshold", type=float, default=0.5, metavar="P",
                   help="probabilities below P are not drawn (default 0.5)")
    p.add_argument("--faults-ids", metavar="FAULT-IDS.h5",
                   help="colour each fault object of an 'hpcfault faults' output (its sticks too, when beside it)")


def paths(args: argparse.Namespace) -> tuple[list, list]:
    from hpcfault.io.paths import arg

    return ([arg("VOLUME.h5", args.volume), arg("--faults", args.faults), arg("--faults-ids", args.faults_ids)],
            [arg("-o", args.output)])


def run(args: argparse.Namespace) -> int:
    from hpcfault.io.paths import check_suffix
    from hpcfault.viz import show_volume

    check_suffix("-o", args.output, (".png",), "hpcfault show writes PNG images")
    if args.faults_ids:
        from hpcfault.faults.picture import show_faults_cli

        print(f"wrote {show_faults_cli(args)}")
        return 0
    out = show_volume(args.volume, args.output, faults=args.faults, faults_dataset=args.faults_dataset,
                      labels=args.labels, labels_dataset=args.labels_dataset, dataset=args.dataset, inline=args.inline, xline=args.xline, time=args.time,
                      cmap=args.cmap, threshold=args.threshold)
    print(f"wrote {out}")
    return 0
