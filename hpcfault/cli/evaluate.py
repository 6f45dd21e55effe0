"""Scores of a prediction against labels: for faults IoU, precision, recall, F1 and Tol-IoU@2;
for other tasks their own metrics (the prediction file names its task; hpcfault/tasks).

PRED.h5 is a volume file of fault probabilities ('data'); LABELS.h5 a volume file with a 'labels'
dataset (a synthetic survey from 'hpcfault synth'), or whose 'data' is the labels. Both are read
in inline slabs (with a halo of --radius inlines for the tolerance matching), so any survey size
works; under mpiexec the ranks share the slabs.

Definitions: fault = probability >= threshold; IoU = TP / (TP + FP + FN); Tol-IoU@r = F1/(2 - F1)
of the tolerance F1, where a predicted voxel counts as correct when a label voxel lies within r
voxels (Euclidean) and a label voxel as found when a predicted voxel does. The best threshold is
the one of 0.05, 0.10, ..., 0.95 with the highest IoU.

Salt predictions (a volume of the salt task, a submission CSV or a folder of mask PNGs) get the
salt task's scores instead: pixel IoU, Dice, precision, recall and the TGS metric
(hpcfault/tasks/salt/scoring.py).

Examples:
  hpcfault evaluate pred.h5 survey.h5
  hpcfault evaluate submission.csv tiles/          (predict-tiles' CSV against a TGS-layout folder)
  hpcfault evaluate pred.h5 labelled.h5 --mask --threshold 0.4 --json scores.json
"""
from __future__ import annotations

import argparse
import json

HELP = "IoU, precision, recall, Tol-IoU@2 of a prediction"

ROWS = [("IoU", "iou"), ("precision", "precision"), ("recall", "recall"), ("F1", "f1"),
        ("Tol-IoU", "tol_iou"), ("tol. precision", "tol_precision"), ("tol. recall", "tol_recall"),
        ("tol. F1", "tol_f1")]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("prediction", metavar="PRED.h5", help="volume file of fault (or salt) probabilities; salt tiles: "
                                                      "a submission CSV or a folder of masks")
    p.add_argument("labels", metavar="LABELS.h5", help="volume file with 'labels' (or labels in 'data'; salt: 'salt'); "
                                                       "salt tiles: a TGS-layout folder")
    p.add_argument("--mask", action="store_true", help="score only voxels where LABELS.h5's 'mask' is 1")
    p.add_argument("--threshold", type=float, default=0.5, help="fault if probability >= this (0.5)")
    p.add_argument("--radius", type=float, default=2.0, help="tolerance matching radius in voxels (2)")
    p.add_argument("--slab", type=int, metavar="N", help="inlines per slab (default: fit 256 MiB)")
    p.add_argument("--json", metavar="OUT.json", help="also write the report as JSON (atomic)")


def paths(args: argparse.Namespace) -> tuple[list, list]:
    import os

    from hpcfault.io.paths import arg

    # salt tiles: a folder of mask PNGs against a TGS-layout folder
    return ([arg("PRED.h5", args.prediction, folder=os.path.isdir(args.prediction)),
             arg("LABELS.h5", args.labels, folder=os.path.isdir(args.labels))], [arg("--json", args.json)])


def report_text(rep: dict) -> str:
    """The terminal table: one line per score, labels in a 16-character column: the fault scores
    (when the report has them) and the task's own rows."""
    rows = [(str(label), str(value)) for label, value in rep.get("rows", [])]
    if "radius" in rep and "scores" in rep:  # fault scores (hpcfault.metrics.evaluate_files)
        lines = _fault_lines(rep)
    elif rows and rows[0][0] == "prediction":    # a task whose rows say it all (salt)
        lines = []
    else:
        lines = [("prediction", rep.get("prediction", ""))]
    lines += rows
    return "\n".join(f"{label:<16}{value}" for label, value in lines)


def _fault_lines(rep: dict) -> list[tuple[str, str]]:
    s, c, r = rep["scores"], rep["counts"], rep["radius"]
    best = rep["best_threshold"]
    lines = [("prediction", rep["prediction"]),
             ("labels", rep["labels"] + (" (mask)" if rep["mask"] else "")),
             ("scored voxels", f"{c['tp'] + c['fp'] + c['fn'] + c['tn']} "
                               f"(label {c['label_pos']}, predicted {c['pred_pos']})")]
    for label, key in ROWS:
        if key == "iou":
            label = f"IoU@{rep['threshold']:g}"
        elif key == "tol_iou":
            label = f"Tol-IoU@{r:g}"
        lines.append((label, f"{s[key]:.4f}"))
    lines.append(("best threshold", f"{best['threshold']:g} (IoU {best['iou']:.4f})"))
    return lines


def task_metrics(pred_path: str):
    """The scoring function of the task that made `pred_path` (its `task` attribute; none: fault).
    Salt tile predictions (a submission CSV or a folder of mask PNGs from predict-tiles) and volumes
    with a 'salt' dataset and no 'data' or task attribute are the salt task's."""
    import importlib
    from pathlib import Path

    import h5py

    from hpcfault.tasks import task_spec

    p = Path(pred_path)
    if p.is_dir() or p.suffix.lower() == ".csv":
        name = "salt"
    else:
        try:
            with h5py.File(pred_path, "r") as f:
                name = f.attrs.get("task", None)
                if name is None and "salt" in f and "data" not in f:
                    name = "salt"
        except OSError:
            name = None      # open_volume in the scoring function says what is wrong with the file
    module, _, func = task_spec(None if name is None else str(name)).metrics.partition(":")
    return getattr(importlib.import_module(module), func)


def run(args: argparse.Namespace) -> int:
    from hpcfault.cli import one_report
    from hpcfault.cluster.mpi import get_comm
    from hpcfault.errors import HpcfaultError
    from hpcfault.io.atomic import write_text_atomic
    from hpcfault.metrics import check_score_options

    comm = get_comm()
    with one_report(comm):
        check_score_options(args.threshold, args.radius)
        if args.slab is not None and args.slab < 1:
            raise HpcfaultError(f"--slab must be >= 1 inline (got {args.slab})")
        rep = task_metrics(args.prediction)(args.prediction, args.labels, use_mask=args.mask,
                                            threshold=args.threshold, radius=args.radius, slab=args.slab, comm=comm)
    if comm.rank == 0:
        print(report_text(rep))
        if args.json:
            write_text_atomic(args.json, json.dumps(rep, indent=2) + "\n")
            print(f"wrote {args.json}")
    return 0
