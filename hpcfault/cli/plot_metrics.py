"""Draw a training run's curves: training loss, and validation IoU, precision, recall, Tol-IoU@2
(salt runs: IoU, precision, recall, Dice, TGS metric).

  hpcfault plot-metrics RUN_DIR [-o curves.png]

Reads RUN_DIR/metrics.jsonl (written by `hpcfault train`); works while the run is going on.
"""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "draw a training run's metric curves"
VAL_KEYS = (("iou", "IoU@0.5"), ("precision", "precision"), ("recall", "recall"), ("tol_iou", "Tol-IoU@2"),
            ("dice", "Dice"), ("tgs", "TGS metric"))            # the last two: salt (2D section models)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="training run directory (or its metrics.jsonl)")
    p.add_argument("-o", "--output", help="PNG to write (default RUN_DIR/curves.png)")
    p.add_argument("--title", help="figure title (default: the run directory's name)")


def _output(args: argparse.Namespace) -> Path:
    src = Path(args.run_dir)
    return Path(args.output) if args.output else (src if src.is_dir() else src.parent) / "curves.png"


def paths(args: argparse.Namespace) -> tuple[list, list]:
    import os

    from hpcfault.io.paths import arg

    from hpcfault.train.metrics_log import NAME

    folder = os.path.isdir(args.run_dir)
    metrics = os.path.join(args.run_dir, NAME) if folder else args.run_dir
    return [arg("RUN_DIR", args.run_dir, folder=folder), arg("the metrics file", metrics)], [arg("-o", _output(args))]


def plot(records: list[dict], out: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hpcfault.io.atomic import atomic_path

    train = [r for r in records if r.get("kind") == "train"]
    val = [r for r in records if r.get("kind") == "val"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot([r["step"] for r in train], [r["loss"] for r in train], lw=1, color="tab:blue")
    a.set(xlabel="step", ylabel="training loss", title="loss")
    a.grid(alpha=0.3)
    for key, label in VAL_KEYS:
        pts = [(r["step"], r[key]) for r in val if key in r]
        if pts:
            b.plot(*zip(*pts), marker="o", ms=3, label=label)
    b.set(xlabel="step", ylabel="score", title="validation", ylim=(0, 1))
    b.grid(alpha=0.3)
    if val:
        b.legend(loc="best", fontsize=8, framealpha=0.7)
    else:
        b.text(0.5, 0.5, "no validation records", ha="center", transform=b.transAxes)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    from hpcfault.errors import HpcfaultError
    from hpcfault.io.paths import check_suffix
    from hpcfault.train.metrics_log import read_metrics

    check_suffix("-o", _output(args), (".png",), "plot-metrics writes PNG images")
    src = Path(args.run_dir)
    records = read_metrics(src)
    if not records:
        raise HpcfaultError(f"no records in the metrics file (got an empty file under {src}); "
                            "train for at least log_every steps first")
    run_dir = src if src.is_dir() else src.parent
    out = _output(args)
    plot(records, out, args.title if args.title is not None else run_dir.resolve().name)
    n_val = sum(r.get("kind") == "val" for r in records)
    print(f"wrote {out} ({len(records) - n_val} training and {n_val} validation records)")
    return 0
