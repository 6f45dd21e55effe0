#!/usr/bin/env python3
"""The multitask model's scores as a function of how degraded its input is.

The held-out figures (tools/multitask_figures.py) mix every degradation the `multitask` family
draws: lateral blur of sigma 1.5-3 traces and noise of 0-50 % of the image maximum. Here the same
seeds are rendered once per condition with only the degradation fixed (KEY=VALUE overrides of
`hpcfault synth`; the degradation is drawn after the geology, so every condition has the same
layers, faults and targets), predicted through the block engine and scored with `hpcfault
evaluate`. RGT is also scored for RGT = time (flat horizons), the baseline it must beat.

    python tools/multitask_by_degradation.py --mti hpcfault/assets/multitask-default.pt \\
        --seeds 9401 9402 9403 9404 --out /tmp/mtdeg
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))   # tools/ is not a package
from multitask_figures import hpcfault, summarize, time_baseline  # noqa: E402

# name -> generator overrides; noise levels are x the clean image's maximum |amplitude|
CONDITIONS = {
    "clean input (no blur, no noise)": ["degrade.blur_prob=0", "degrade.noise_prob=0"],
    "blur only": ["degrade.noise_prob=0"],
    "blur + noise 10 %": ["degrade.noise_level=[0.1,0.1]"],
    "blur + noise 25 %": ["degrade.noise_level=[0.25,0.25]"],
    "blur + noise 50 %": ["degrade.noise_level=[0.5,0.5]"],
}
COLUMNS = [("input_psnr_db", "input PSNR", "{:.2f}"), ("dhr_psnr_db", "DHR PSNR", "{:.2f}"),
           ("input_ssim", "input SSIM", "{:.3f}"), ("dhr_ssim", "DHR SSIM", "{:.3f}"),
           ("rgt_mae", "RGT MAE", "{:.3f}"),
           ("time_rgt_mae", "time's RGT MAE", "{:.3f}"), ("horizons_within_2", "horizons within 2", "{:.1%}"),
           ("fault_tol_iou", "Tol-IoU@2", "{:.3f}"), ("dip_mae_deg", "dip", "{:.1f}°"),
           ("strike_mae_deg", "strike", "{:.1f}°")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mti", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[9401, 9402, 9403, 9404])
    ap.add_argument("--shape", type=int, nargs=3, default=[64, 96, 96])
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--conditions", type=int, nargs="+", default=list(range(len(CONDITIONS))),
                    help="which rows of CONDITIONS, by index (default: all)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, t0 = {}, time.time()
    for c, (name, overrides) in enumerate(CONDITIONS.items()):
        if c not in args.conditions:
            continue
        scores = []
        for seed in args.seeds:
            survey, pred = out / f"survey-{seed}-c{c}.h5", out / f"pred-{seed}-c{c}.h5"
            hpcfault("synth", survey, "--family", "multitask", "--shape", *args.shape, "--seed", seed,
                     "--no-progress", *overrides)
            hpcfault("predict", survey, "-m", args.mti, "-o", pred, "--restart", "--no-progress", "--threads", "1",
                     ranks=args.ranks)
            hpcfault("evaluate", pred, survey, "--json", pred.with_suffix(".json"))
            s = summarize(json.loads(pred.with_suffix(".json").read_text()))
            s["time_rgt_mae"] = time_baseline(pred, survey)["rgt_mae"]
            scores.append(s)
        rows[name] = {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
        print(f"{name}: done ({time.time() - t0:.0f} s)", flush=True)
    (out / "by_degradation.json").write_text(json.dumps({"seeds": args.seeds, "shape": args.shape,
                                                         "mti": args.mti, "rows": rows}, indent=1))
    print(f"\nmeans over seeds {' '.join(map(str, args.seeds))}, shape {' x '.join(map(str, args.shape))}, "
          f"model {args.mti}\n")
    print("| input | " + " | ".join(h for _, h, _ in COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(f.format(r[k]) for k, _, f in COLUMNS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
