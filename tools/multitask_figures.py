#!/usr/bin/env python3
"""The multitask figures on held-out synthetic surveys, through the survey-scale engine: MTI, then
MTR after 1, 2, 3 iterations, scored; and the engine's checks on a survey several blocks wide.

For each seed a `multitask`-family survey is written (`hpcfault synth`), predicted with
`mpiexec -n RANKS hpcfault predict SURVEY -m MTI [--refine MTR --refine-iterations k]` (blocks of
the training cube: Task.cube_blocks) and scored with `hpcfault evaluate --json`. On the first seed
it also measures what the engine must guarantee:

- RGT of the merged file: the share of vertical steps that go back in time (monotonic on every
  trace means 0), the largest jump across a block border (the planes where one block's read
  region starts or ends) vs the largest inside the blocks, and the change across each overlap zone
  (where the taper blends two blocks, so a level difference becomes a ramp) vs the change over the
  same span inside blocks, along each axis;
- every output against one forward of the whole survey (no blocks; instance statistics are running
  averages in inference, so a voxel depends only on its receptive field): the largest and mean
  differences (dip and strike on every voxel, and where the whole-volume fault probability is >= 0.5). RGT is
  defined per training cube, so its whole-volume forward is no reference: it is compared with the
  truth (evaluate) instead;
- the baseline RGT must beat: the time index (flat horizons), scored by the same evaluation;
- the MTI file written by 1 rank vs RANKS ranks, and by RANKS ranks with one rank killed (SIGKILL,
  the engine's test hook HPCFAULT_TEST_CRASH_AFTER_BLOCKS) and resumed: byte-identical datasets.

    python tools/multitask_figures.py --mti hpcfault/assets/multitask-default.pt \\
        --mtr hpcfault/assets/multitask-refine-cpu.pt --seeds 9401 9402 9403 9404 --out /tmp/mtfig \\
        --png docs/figures/multitask-heldout.png --png-iterations docs/figures/multitask-iterations.png
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OUTPUTS = ("fault", "fault_dip", "fault_strike", "rgt", "dhr")


def hpcfault(*args, ranks: int = 0, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "hpcfault", *map(str, args)]
    if ranks:
        cmd = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(ranks), *cmd]
    full = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), **(env or {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full)
    if check and proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def shas(path: Path) -> dict:
    import h5py

    with h5py.File(path, "r") as f:
        return {k: hashlib.sha256(np.ascontiguousarray(f[k][...]).tobytes()).hexdigest() for k in OUTPUTS}


def rgt_checks(pred: Path) -> dict:
    """Monotonicity in time and jumps at block borders vs inside blocks, per axis."""
    import h5py

    from hpcfault.infer.plan import make_plan

    with h5py.File(pred, "r") as f:
        rgt = f["rgt"][...].astype(np.float64)
        p = json.loads(f.attrs["plan"])
    plan = make_plan(p["shape"], p["block"], p["overlap"], align=p["align"][0])
    rep = {"back_steps_share": float((np.diff(rgt, axis=0) < 0).mean()),
           "traces_monotonic_share": float((np.diff(rgt, axis=0) >= 0).all(axis=0).mean())}
    for axis, name in enumerate(("time", "inline", "xline")):
        cuts = set()
        for k in range(len(plan)):
            r = plan.block(k).read
            cuts |= {r.offset[axis], r.offset[axis] + r.shape[axis]}
        n = rgt.shape[axis]
        cuts = sorted(c for c in cuts if 0 < c < n)
        d = np.abs(np.diff(rgt, axis=axis))                 # d[c - 1] is the step from c - 1 to c
        at = np.zeros(n - 1, bool)
        at[[c - 1 for c in cuts]] = True
        take = lambda m: np.moveaxis(d, axis, 0)[m]         # noqa: E731
        # the change across each overlap zone (where two blocks are blended) vs over the same span inside blocks
        starts = sorted({plan.block(k).read.offset[axis] for k in range(len(plan))} - {0})
        ends = sorted({plan.block(k).read.offset[axis] + plan.block(k).read.shape[axis] for k in range(len(plan))} - {n})
        zones = list(zip(starts, ends))
        a = np.moveaxis(rgt, axis, 0)
        across, inside = [], []
        for zs, ze in zones:
            span = ze - zs + 1
            across.append(np.abs(a[ze] - a[zs - 1]).ravel())
            free = [q for q in range(n - span) if all(q + span < z0 or q > z1 for z0, z1 in zones)]
            inside += [np.abs(a[q + span] - a[q]).ravel() for q in free]
        zone_rep = {}
        if zones and inside:
            across_v, inside_v = np.concatenate(across), np.concatenate(inside)
            zone_rep = {"overlap_zones": zones, "mean_change_across_zones": float(across_v.mean()),
                        "mean_change_same_span_inside": float(inside_v.mean()),
                        "p99_change_across_zones": float(np.percentile(across_v, 99)),
                        "p99_change_same_span_inside": float(np.percentile(inside_v, 99))}
        rep[name] = {**zone_rep, "borders": cuts, "max_jump_at_borders": float(take(at).max()) if at.any() else 0.0,
                     "max_jump_inside": float(take(~at).max()),
                     "p99_jump_at_borders": float(np.percentile(take(at), 99)) if at.any() else 0.0,
                     "p99_jump_inside": float(np.percentile(take(~at), 99))}
    return rep


def whole_volume_checks(mti_path: str, survey: Path, pred: Path) -> dict:
    """Every output of the blocks vs one forward of the whole survey (RGT excluded, see module doc)."""
    import h5py
    import torch

    from hpcfault.models import load_model, prepare_for_inference
    from hpcfault.normalize import Normalizer
    from hpcfault.tasks import task_spec
    from hpcfault.tasks.decode import decode

    with h5py.File(pred, "r") as f:
        norm = Normalizer.from_dict(json.loads(f.attrs["normalizer"]))
        got = {k: f[k][...].astype(np.float64) for k in OUTPUTS}
    with h5py.File(survey, "r") as f:
        x = norm.apply(f["data"][...])
    model = prepare_for_inference(load_model(mti_path)).eval()
    with torch.inference_mode():
        want = decode(task_spec("multitask"), model(torch.from_numpy(x)[None, None])[0]).numpy().astype(np.float64)
    rep = {}
    on = want[0] >= 0.5
    stats = lambda d: {"max": float(d.max()), "mean": float(d.mean()), "p99": float(np.percentile(d, 99)),  # noqa: E731
                       "voxels": int(d.size)} if d.size else {"voxels": 0}
    for k, name in enumerate(OUTPUTS):
        if name == "rgt":
            continue
        diff = np.abs(got[name] - want[k])
        if name in ("fault_dip", "fault_strike"):   # the angle decodes whatever the probability: all voxels too
            period = 360.0 if name == "fault_dip" else 180.0
            diff = np.minimum(diff, period - diff)
            rep[name] = {"all_voxels": stats(diff), "where_fault_ge_0.5": stats(diff[on])}
        else:
            rep[name] = stats(diff)
    rep["dhr_range"] = float(want[4].max() - want[4].min())
    return rep


def time_baseline(pred: Path, labels: Path) -> dict:
    """RGT = the time index (flat horizons), scored like a prediction: the baseline RGT must beat."""
    import shutil

    import h5py

    base = pred.with_name(pred.stem + "-time-baseline.h5")
    shutil.copyfile(pred, base)
    with h5py.File(base, "r+") as f:
        nt = f["rgt"].shape[0]
        f["rgt"][...] = np.broadcast_to((np.arange(nt, dtype=np.float32) / (nt - 1))[:, None, None], f["rgt"].shape)
    hpcfault("evaluate", base, labels, "--json", base.with_suffix(".json"))
    rep = json.loads(base.with_suffix(".json").read_text())["rgt"]
    return {"rgt_mae": rep["mae"], "horizons_within_2": rep["horizons"]["share_within"],
            "horizon_error": rep["horizons"]["mean_error_samples"]}


def summarize(rep: dict) -> dict:
    return {"dhr_psnr_db": rep["dhr"]["psnr_db"], "input_psnr_db": rep["dhr"]["input_psnr_db"],
            "dhr_ssim": rep["dhr"]["ssim"], "input_ssim": rep["dhr"]["input_ssim"], "rgt_mae": rep["rgt"]["mae"],
            "horizons_within_2": rep["rgt"]["horizons"]["share_within"],
            "horizon_error": rep["rgt"]["horizons"]["mean_error_samples"],
            "fault_iou": rep["fault"]["scores"]["iou"], "fault_tol_iou": rep["fault"]["scores"]["tol_iou"],
            "dip_mae_deg": rep["fault_dip"]["mae_deg"], "strike_mae_deg": rep["fault_strike"]["mae_deg"]}


def figure(png: Path, labels: Path, preds: list[Path], names: list[str], inline: int) -> None:
    import h5py
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with h5py.File(labels, "r") as f:
        t = {k: f[k][:, inline, :] for k in ("data", "dhr", "rgt", "labels", "fault_dip")}
    with h5py.File(preds[0], "r") as f:
        p = {k: f[k][:, inline, :] for k in OUTPUTS}
    with h5py.File(preds[-1], "r") as f:
        r = {k: f[k][:, inline, :] for k in ("rgt", "fault")}
    fig, ax = plt.subplots(2, 5, figsize=(19, 7.2))
    panels = [("input (degraded)", t["data"], "gray", None, None), ("DHR, MTI", p["dhr"], "gray", None, None),
              ("DHR target", t["dhr"], "gray", None, None),
              ("RGT, MTI (contours every 0.05)", p["rgt"], "turbo", p["rgt"], None),
              ("RGT target", t["rgt"], "turbo", t["rgt"], None),
              ("fault labels", t["labels"], "gray_r", None, None),
              ("fault probability, MTI", p["fault"], "gray_r", None, (0, 1)),
              (f"fault probability, {names[-1]}", r["fault"], "gray_r", None, (0, 1)),
              ("dip, MTI, on the true fault voxels", np.where(t["labels"] > 0, p["fault_dip"], np.nan), "viridis",
               None, (40, 90)),
              ("dip labels", np.where(t["labels"] > 0, t["fault_dip"], np.nan), "viridis", None, (40, 90))]
    for a, (title, img, cmap, cont, lim) in zip(ax.ravel(), panels):
        lo, hi = lim if lim else (np.nanpercentile(img, [1, 99]) if cmap == "gray" else (np.nanmin(img), np.nanmax(img)))
        im = a.imshow(img, cmap=cmap, aspect="auto", vmin=lo, vmax=hi, interpolation="nearest")
        if cont is not None:
            a.contour(cont, levels=np.arange(0.05, 1.0, 0.05), colors="k", linewidths=0.5)
        if title.startswith("dip"):
            fig.colorbar(im, ax=a, fraction=0.046, label="degrees")
        a.set_title(title, fontsize=10)
        a.set_xlabel("crossline index")
        a.set_ylabel("time sample")
    fig.suptitle(f"held-out {labels.name}, inline index {inline} (predicted by hpcfault predict in blocks)")
    fig.tight_layout()
    fig.savefig(png, dpi=72)
    plt.close(fig)


def iteration_figure(png: Path, summary: dict, baseline: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary)
    rows = [("DHR PSNR (dB)", "dhr_psnr_db", "input_psnr_db"), ("DHR SSIM", "dhr_ssim", "input_ssim"),
            ("RGT MAE (affine fit)", "rgt_mae", None), ("horizons within 2 samples", "horizons_within_2", None),
            ("fault Tol-IoU@2", "fault_tol_iou", None), ("dip / strike error (deg)", "dip_mae_deg", "strike_mae_deg")]
    fig, ax = plt.subplots(1, len(rows), figsize=(19, 3.4))
    xs = np.arange(len(names))
    for a, (title, key, other) in zip(ax, rows):
        a.plot(xs, [summary[n][key] for n in names], "o-", label="dip" if key == "dip_mae_deg" else "prediction")
        if other:
            lab = "strike" if other == "strike_mae_deg" else "input (baseline)"
            a.plot(xs, [summary[n][other] for n in names], "s--", label=lab)
        if key in baseline:
            a.axhline(baseline[key], color="C1", ls="--", label="RGT = time index (baseline)")
        if other or key in baseline:
            a.legend(fontsize=8)
        a.set_xticks(xs, names, fontsize=8)
        a.set_title(title, fontsize=10)
        a.grid(alpha=0.3)
    fig.suptitle("held-out surveys (mean): MTI and MTR after 1, 2, 3 iterations", fontsize=11)
    fig.tight_layout()
    fig.savefig(png, dpi=72)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mti", required=True)
    ap.add_argument("--mtr", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[9401, 9402, 9403, 9404])
    ap.add_argument("--shape", type=int, nargs=3, default=[64, 96, 96])
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--overlap", type=int, default=None, help="predict --overlap (default: the engine's)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--png", default=None, help="draw the first survey's middle inline here")
    ap.add_argument("--png-iterations", default=None, help="draw the mean scores per iteration here")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    opts = ["--no-progress", "--threads", "1"] + (["--overlap", args.overlap] if args.overlap is not None else [])
    names = ["MTI"] + [f"MTR x{k}" for k in range(1, args.iterations + 1)]
    table = {n: [] for n in names}
    checks = {}
    baselines = []
    t0 = time.time()
    for seed in args.seeds:
        labels = out / f"survey-{seed}.h5"
        if not labels.exists():
            hpcfault("synth", labels, "--family", "multitask", "--shape", *args.shape, "--seed", seed, "--no-progress")
        preds = []
        for k, name in enumerate(names):
            path = out / f"pred-{seed}-{name.replace(' ', '')}.h5"
            refine = ["--refine", args.mtr, "--refine-iterations", k] if k else []
            hpcfault("predict", labels, "-m", args.mti, *refine, "-o", path, "--restart", *opts, ranks=args.ranks)
            hpcfault("evaluate", path, labels, "--json", path.with_suffix(".json"))
            table[name].append(json.loads(path.with_suffix(".json").read_text()))
            preds.append(path)
        baselines.append(time_baseline(preds[0], labels))
        if seed == args.seeds[0]:
            one, killed = out / f"pred-{seed}-MTI-1rank.h5", out / f"pred-{seed}-MTI-killed.h5"
            hpcfault("predict", labels, "-m", args.mti, "-o", one, "--restart", *opts, ranks=1)
            crash = hpcfault("predict", labels, "-m", args.mti, "-o", killed, "--restart", *opts, ranks=args.ranks,
                             env={"HPCFAULT_TEST_CRASH_AFTER_BLOCKS": "1:2"}, check=False)
            resumed = hpcfault("predict", labels, "-m", args.mti, "-o", killed, *opts, ranks=args.ranks)
            ref = shas(preds[0])
            checks = {"seed": seed, "rgt": {n: rgt_checks(p) for n, p in zip(names, preds)},
                      "whole_volume": whole_volume_checks(args.mti, labels, preds[0]),
                      "one_rank_identical": shas(one) == ref,
                      "killed_exit_code": crash.returncode,
                      "resumed_from_ledger": "from the ledger" in resumed.stdout,
                      "killed_and_resumed_identical": shas(killed) == ref}
            with __import__("h5py").File(preds[0], "r") as f:
                checks["plan"] = json.loads(f.attrs["plan"])
            if args.png:
                figure(Path(args.png), labels, preds, names, args.shape[1] // 2)
        print(f"seed {seed} done ({time.time() - t0:.0f} s)", flush=True)
    summary = {n: {k: float(np.mean([summarize(r)[k] for r in reps])) for k in summarize(reps[0])}
               for n, reps in table.items()}
    per_seed = {n: [summarize(r) for r in reps] for n, reps in table.items()}
    baseline = {k: float(np.mean([b[k] for b in baselines])) for k in baselines[0]}
    (out / "summary.json").write_text(json.dumps({"seeds": args.seeds, "shape": args.shape, "summary": summary,
                                                   "per_seed": per_seed, "rgt_time_baseline": baseline,
                                                   "checks": checks}, indent=2) + "\n")
    if args.png_iterations:
        iteration_figure(Path(args.png_iterations), summary, baseline)
    cols = list(summary[names[0]])
    print("| model | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, s in summary.items():
        print(f"| {name} | " + " | ".join(f"{s[c]:.3f}" for c in cols) + " |")
    print("RGT = time index (baseline):", json.dumps(baseline))
    print(json.dumps(checks, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
