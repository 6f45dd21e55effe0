#!/usr/bin/env python
"""Fault objects against the known faults of synthetic surveys: labels and a model's predictions.

For each seed: `hpcfault synth` (planar faults by default), optionally `hpcfault predict` with a
checkpoint, then `hpcfault faults` on the labels and on the prediction, and the comparison of
hpcfault/faults/truth.py per labelled fault piece. Prints one line per piece and a summary per input.

    python tools/faults_truth.py --seeds 1 2 3 --shape 128 128 128 --count 3 -m g07.pt
    python tools/faults_truth.py --seeds 5 --count 2 --json out.json faults.dip=[60,70]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PLANAR = ["faults.listric_prob=0", "faults.arcuate_prob=0", "faults.tip_prob=0", "faults.conjugate_prob=0"]


def run(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "hpcfault", *args], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--shape", type=int, nargs=3, default=[128, 128, 128])
    p.add_argument("--count", type=int, default=3, help="faults per survey")
    p.add_argument("--family", default="classic")
    p.add_argument("-m", "--model", help="checkpoint for hpcfault predict (also run on its predictions)")
    p.add_argument("--min-area", type=float, default=100.0, help="hpcfault faults --min-area")
    p.add_argument("--score-area", type=float, default=None,
                   help="score the fault segments of at least this area (voxel units; default --min-area)")
    p.add_argument("--work", help="folder for the surveys and outputs (default: a temporary one)")
    p.add_argument("--json", help="write every piece's figures here")
    p.add_argument("--faults-args", default="", help="extra options for hpcfault faults, e.g. '--angle 10'")
    p.add_argument("overrides", nargs="*", help="synth KEY=VALUE overrides (after the planar ones)")
    args = p.parse_args(argv)
    from hpcfault.faults.truth import by_fault, compare, summary

    work = Path(args.work or tempfile.mkdtemp(prefix="faults-truth-"))
    work.mkdir(parents=True, exist_ok=True)
    results = {}
    for seed in args.seeds:
        synth = work / f"synth-{seed}.h5"
        run("synth", str(synth), "--shape", *map(str, args.shape), "--seed", str(seed), "--family", args.family,
            "--no-progress", f"faults.count=[{args.count},{args.count}]", *PLANAR, *args.overrides)
        inputs = {"labels": (synth, "labels")}
        if args.model:
            pred = work / f"pred-{seed}.h5"
            run("predict", str(synth), "-m", args.model, "-o", str(pred), "--no-progress", "--restart")
            inputs["prediction"] = (pred, "data")
        for name, (vol, ds) in inputs.items():
            out = work / f"faults-{name}-{seed}"
            run("faults", str(vol), "--dataset", ds, "-o", str(out), "--min-area", str(args.min_area),
                *args.faults_args.split())
            matches = compare(synth, out, args.score_area or args.min_area)
            n = json.loads((out / "faults.json").read_text())["counts"]["faults"]
            results.setdefault(name, []).append((seed, matches, n))
    report = {}
    for name, runs in results.items():
        print(f"== {name}")
        print(" seed piece  voxels meets  object found share purity fault-purity beyond 1:1  dip-err strike-err  (fitted plane)  ridge<=1")
        every, kinds = [], []
        for seed, matches, n in runs:
            kinds.extend(by_fault(matches).values())
            for m in matches:
                e, ef = m.errors(), m.errors(fitted=True)
                print(f" {seed:4d} {m.fault}.{m.piece:<3d} {m.voxels:7d} {','.join(map(str, m.meets)) or '-':>5s} "
                      f"{m.object:7d} {m.found:5.2f} {m.share:5.2f} {m.purity:6.2f} {m.fault_purity:12.2f} {m.beyond:6.2f} {'yes' if m.recovered else 'no ':>3s} "
                      f"{e[0]:7.2f} {e[1]:10.2f}  ({ef[0]:5.2f} {ef[1]:5.2f})  {m.ridge_within_1:8.3f}")
            every.extend(matches)
            report.setdefault(name, []).append({"seed": seed, "faults": n, "summary": summary(matches, n),
                                                "by_fault": by_fault(matches),
                                                "pieces": [m.__dict__ for m in matches]})
        s = summary(every, sum(n for _, _, n in runs))
        fmt = (lambda v, d=2: "-" if v is None else f"{v:.{d}f}")  # noqa: E731
        print(f" all: {s['recovered']}/{s['pieces']} segments of area >= {args.score_area or args.min_area:g} recovered "
              f"as one object ({s['objects']} fault objects in all); dip error median {fmt(s['median_dip_error'])}, "
              f"worst {fmt(s['max_dip_error'])}; strike error median {fmt(s['median_strike_error'])}, worst "
              f"{fmt(s['max_strike_error'])} (fitted planes: worst {fmt(s['max_dip_error_fitted'])} / "
              f"{fmt(s['max_strike_error_fitted'])}); ridge voxels within 1 voxel: median "
              f"{fmt(s['median_ridge_within_1'], 3)}, worst {fmt(s['min_ridge_within_1'], 3)}")
        whole = sum(k != "missed" for k in kinds)
        print(f" faults: {whole}/{len(kinds)} recovered (every piece found, not split, in objects of this fault "
              f"only): {kinds.count('one object')} as one object, {kinds.count('one per piece')} one object per "
              f"offset piece, {kinds.count('mixed')} mixed")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=list))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
