#!/usr/bin/env python
"""How a fault model does on surveys it never saw: a held-out panel, side by side with the published
Fault-Net gamma-0.7 weights, everything through `hpcfault predict` + `hpcfault evaluate` as a user runs it.

    .venv/bin/python tools/bench_generalization.py                       # the embedded default model
    .venv/bin/python tools/bench_generalization.py -m runs/default/checkpoints/model.pt --json gen.json
    .venv/bin/python tools/bench_generalization.py --quick               # 2 small volumes per family

The panel (none of it used for training or for choosing a checkpoint; seeds 8000+):

  heldout-wavelet  minimum-phase (causal) wavelets, a family the training never saw
  heldout-noise    acquisition footprint (periodic striping) and trace-independent noise at 3-12 dB
  heldout-faults   arcuate faults (traces bent in map view), half of them listric
  heldout-thin     beds of 0.7-1.3 samples at 30-60 Hz (thinner than any training volume)
  classic          the FaultSeg3D-like family (clean layers, 4-8 planar faults)
  fault-free       the training ranges without faults: the share of voxels flagged (p >= 0.5)
  f3               the real F3 crop of ../shared/segy-test-data/f3.sgy: share flagged, and agreement
                   (IoU, Tol-IoU@2) with the published weights' faults

Synthetic volumes are scored against their labels (Tol-IoU@2, IoU, precision, recall at 0.5), pooled
over the family's volumes. Prints one table row per family and model, then whether the targets of
issue 11 hold: Tol-IoU@2 >= 0.95 x the published weights' on every synthetic family, <= 1 % flagged
on fault-free volumes.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
WEIGHTS = SHARED / "weights" / "FaultNet_Gamma0.7.pt"
F3 = SHARED / "segy-test-data" / "f3.sgy"
FAMILIES = ("heldout-wavelet", "heldout-noise", "heldout-faults", "heldout-thin", "classic")


def hpcfault(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "hpcfault", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    if proc.returncode:
        raise SystemExit(f"hpcfault {' '.join(map(str, args))} failed:\n{proc.stderr}")
    return proc


def predict(survey: Path, model: Path, out: Path, threads: int) -> Path:
    if not out.exists():
        hpcfault("predict", survey, "-m", model, "-o", out, "--threads", threads, "--no-progress")
    return out


def counts(pred: Path, labels: Path, work: Path) -> dict:
    report = work / (pred.stem + "-vs-" + labels.stem + ".json")
    hpcfault("evaluate", pred, labels, "--json", report)
    return json.loads(report.read_text())["counts"]


def flagged(pred: Path) -> tuple[int, int]:
    import h5py
    import numpy as np

    with h5py.File(pred, "r") as f:
        p = f["data"][...]
    return int(np.count_nonzero(p >= 0.5)), int(p.size)


def pooled(all_counts: list[dict]) -> dict:
    from hpcfault.metrics import scores

    total: dict = {}
    for c in all_counts:
        for k, v in c.items():
            total[k] = total.get(k, 0) + v
    s = scores(total)
    return {k: round(s[k], 4) for k in ("tol_iou", "iou", "precision", "recall")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", default=str(REPO / "hpcfault" / "assets" / "faultnet-default.pt"),
                    help="checkpoint to test (default: the embedded default model)")
    ap.add_argument("--volumes", type=int, default=3, help="volumes per synthetic family (default 3)")
    ap.add_argument("--shape", type=int, nargs=3, default=[128, 128, 128], help="synthetic volume shape")
    ap.add_argument("--quick", action="store_true", help="2 volumes of 64 x 96 x 96 per family")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", help="folder for surveys and predictions (kept; default a temporary folder)")
    ap.add_argument("--json", help="write the figures as JSON")
    args = ap.parse_args()
    if args.quick:
        args.volumes, args.shape = 2, [64, 96, 96]
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-gen-"))
    work.mkdir(parents=True, exist_ok=True)
    models = {"model": Path(args.model)}
    tags = {"model": hashlib.sha256(Path(args.model).read_bytes()).hexdigest()[:10], "published-g07": "published-g07"}
    if WEIGHTS.is_file():
        models["published-g07"] = work / "published-g07.pt"
        if not models["published-g07"].exists():
            hpcfault("import-weights", WEIGHTS, "-o", models["published-g07"])
    else:
        print(f"({WEIGHTS} is absent: the published weights' column is left out)")
    shape = [str(n) for n in args.shape]
    rows: dict = {"machine_note": "2-core VM", "model": str(args.model), "shape": args.shape,
                  "volumes": args.volumes, "families": {}}
    for fam_index, family in enumerate((*FAMILIES, "fault-free")):
        per_model: dict = {name: [] for name in models}
        flags: dict = {name: [0, 0] for name in models}
        for v in range(args.volumes):
            seed = 8000 + 100 * fam_index + v
            survey = work / f"{family}-{seed}.h5"
            if not survey.exists():
                hpcfault("synth", survey, "--shape", *shape, "--seed", seed, "--family", family, "--no-progress")
            for name, ckpt in models.items():
                pred = predict(survey, ckpt, work / f"{family}-{seed}-{tags[name]}.h5", args.threads)
                if family == "fault-free":
                    n, total = flagged(pred)
                    flags[name][0] += n
                    flags[name][1] += total
                else:
                    per_model[name].append(counts(pred, survey, work))
        if family == "fault-free":
            rows["families"][family] = {name: {"flagged": round(f[0] / f[1], 5)} for name, f in flags.items()}
        else:
            rows["families"][family] = {name: pooled(c) for name, c in per_model.items()}
        print(json.dumps({family: rows["families"][family]}), flush=True)
    if F3.is_file():
        import h5py
        import numpy as np

        from hpcfault.metrics import score_counts, scores

        preds = {name: predict(F3, ckpt, work / f"f3-{tags[name]}.h5", args.threads) for name, ckpt in models.items()}
        f3 = {name: {"flagged": round(flagged(p)[0] / flagged(p)[1], 5)} for name, p in preds.items()}
        if "published-g07" in preds:
            with h5py.File(preds["model"], "r") as a, h5py.File(preds["published-g07"], "r") as b:
                mine, ref = a["data"][...], (b["data"][...] >= 0.5).astype(np.uint8)
            s = scores(score_counts(mine, ref, None, threshold=0.5, radius=2))
            f3["agreement_with_published"] = {"iou": round(s["iou"], 4), "tol_iou": round(s["tol_iou"], 4)}
        rows["families"]["f3"] = f3
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


def table(rows: dict) -> str:
    fams = rows["families"]
    lines = [f"{'family':<16} {'model':<14} {'Tol-IoU@2':>9} {'IoU':>7} {'prec.':>7} {'recall':>7} {'flagged':>8}"]
    verdict = []
    for family, per in fams.items():
        for name, s in per.items():
            if name == "agreement_with_published":
                lines.append(f"{family:<16} {'vs published':<14} {s['tol_iou']:>9.3f} {s['iou']:>7.3f}")
                continue
            if "tol_iou" in s:
                lines.append(f"{family:<16} {name:<14} {s['tol_iou']:>9.3f} {s['iou']:>7.3f} {s['precision']:>7.3f} "
                             f"{s['recall']:>7.3f}")
            else:
                lines.append(f"{family:<16} {name:<14} {'':>9} {'':>7} {'':>7} {'':>7} {100 * s['flagged']:>7.2f}%")
        if family in FAMILIES and "published-g07" in per:
            ratio = per["model"]["tol_iou"] / max(per["published-g07"]["tol_iou"], 1e-9)
            verdict.append(f"{family}: {ratio:.3f} x published ({'ok' if ratio >= 0.95 else 'BELOW 0.95'})")
        if family == "fault-free":
            f = per["model"]["flagged"]
            verdict.append(f"fault-free: {100 * f:.2f} % flagged ({'ok' if f <= 0.01 else 'ABOVE 1 %'})")
    return "\n".join(lines + ["", "targets: " + "; ".join(verdict)])


if __name__ == "__main__":
    raise SystemExit(main())
