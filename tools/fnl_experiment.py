#!/usr/bin/env python
"""The paper's central claim at small scale: false-negative labels hurt lambda-BCE more than MD.

    .venv/bin/python tools/fnl_experiment.py --out runs/fnl                 # 6 runs, 2 at a time
    .venv/bin/python tools/fnl_experiment.py --out runs/fnl --report-only   # table/figure from what ran

Dou et al. (2021) train Fault-Net from sparse labels (every 30th inline) in which some faults are
missing from the labelled slices (false-negative labels, FNL) and find that the MD loss keeps its
validation IoU while lambda-BCE degrades. This script repeats that on the project's own data:

1. training data: `--surveys` synthetic surveys (`hpcfault synth`, seeds 7000, 7001, ...) turned
   into sparse labels with `hpcfault labels sparsify --every 30 --axis inline --drop-faults F` for
   each F in `--drops` (the same surveys and the same kept slices for every F; the dropped faults
   are chosen per survey by its seed; their voxels stay in the mask, so they are taught as
   "no fault");
2. one `hpcfault train` run per (loss, F) with the SAME budget (steps, batch, cube, model, seed,
   data stream): loss `bce` (lambda-BCE, class-balanced) and `md` (MD, gamma 0.7);
3. validation every `--val-every` steps on two held-out synthetic surveys with DENSE labels, and at
   the end the final weights of each run scored on 4 other held-out TEST surveys (dense labels,
   scaled like the training cubes): IoU@0.5 and Tol-IoU@2; the table gives the test figures, the IoU
   drop relative to the same loss at F = 0, and the mean of the last 3 validations; results go to
   OUT/fnl.json and a figure (default docs/figures/fnl.png).

Runs are ordinary run directories (OUT/runs/<loss>-drop<F>): rerunning the command resumes
unfinished runs and skips finished ones. At most `--parallel` runs go at once, each with
`--threads` torch threads. The figures are whatever the runs show, with the budget printed.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench_all import machine  # tools/ is on sys.path when a tool runs: one description of the machine

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

LOSSES = {"bce": {"name": "bce", "balanced": True}, "md": {"name": "md", "gamma": 0.7}}
LOSS_LABEL = {"bce": "lambda-BCE", "md": "MD (gamma 0.7)"}
PRESETS = {  # Fault-Net options by size: the published widths, or a narrow one for short budgets
    "published": {},
    "narrow": {"widths": [4, 8, 16]},
}


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/fnl", help="work folder: data, configs, run dirs, fnl.json")
    p.add_argument("--drops", type=float, nargs="+", default=[0.0, 0.3, 0.6],
                   help="fractions of the faults dropped from the labelled slices (default 0 0.3 0.6)")
    p.add_argument("--losses", nargs="+", choices=sorted(LOSSES), default=["bce", "md"])
    p.add_argument("--surveys", type=int, default=6, help="training surveys (default 6)")
    p.add_argument("--shape", type=int, nargs=3, default=[96, 128, 128], help="training survey shape (T I X)")
    p.add_argument("--every", type=int, default=30, help="label every k-th inline (default 30)")
    p.add_argument("--steps", type=int, default=300, help="optimizer steps per run (the budget)")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--cube", type=int, default=48)
    p.add_argument("--min-fault-voxels", type=int, default=48)
    p.add_argument("--model", choices=sorted(PRESETS), default="published", help="Fault-Net widths preset")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0, help="training seed (same for every run)")
    p.add_argument("--val-seeds", type=int, nargs="+", default=[9301, 9302], help="held-out synthetic surveys")
    p.add_argument("--val-shape", type=int, nargs=3, default=[64, 128, 128])
    p.add_argument("--test-seeds", type=int, nargs="+", default=[9401, 9402, 9403, 9404],
                   help="held-out surveys scoring each run's final weights (shape --val-shape)")
    p.add_argument("--val-every", type=int, default=25, help="validate every N steps (0: last step only)")
    p.add_argument("--parallel", type=int, default=2, help="runs at once (default 2)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    p.add_argument("--figure", default=str(REPO / "docs" / "figures" / "fnl.png"), help="figure to write ('' = none)")
    p.add_argument("--report-only", action="store_true", help="no training: table, JSON and figure from the runs")
    p.add_argument("--data-only", action="store_true", help="make the training data, then stop")
    return p.parse_args(argv)


def hpcfault(*args: str, threads: int = 1, log: Path | None = None, wait: bool = True):
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "hpcfault", *args]
    if not wait:
        out = open(log, "a") if log else subprocess.DEVNULL
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    return subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)


def make_data(args: argparse.Namespace, out: Path) -> dict[float, list[str]]:
    """Dense synthetic surveys once, then one sparse-label copy per drop fraction."""
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    files: dict[float, list[str]] = {}
    for k in range(args.surveys):
        seed = 7000 + k
        dense = data / f"dense-{seed}.h5"
        if not dense.is_file():
            hpcfault("synth", str(dense), "--shape", *map(str, args.shape), "--seed", str(seed), "--no-progress")
        for drop in args.drops:
            sparse = data / f"sparse-{seed}-every{args.every}-drop{drop:g}.h5"
            if not sparse.is_file():
                hpcfault("labels", "sparsify", str(dense), str(sparse), "--every", str(args.every), "--axis",
                         "inline", "--drop-faults", str(drop), "--seed", str(seed))
            files.setdefault(drop, []).append(str(sparse.resolve()))
    return files


def run_name(loss: str, drop: float) -> str:
    return f"{loss}-drop{drop:g}"


def write_config(args: argparse.Namespace, out: Path, loss: str, drop: float, files: list[str]) -> Path:
    import yaml

    cfg = {
        "kind": "train", "seed": args.seed, "steps": args.steps, "batch": args.batch, "micro_batch": 1,
        "model": {"name": "faultnet", "options": PRESETS[args.model]},
        "loss": LOSSES[loss], "optim": {"lr": args.lr, "clip_grad_norm": 1.0},
        "data": {"cube": args.cube, "min_fault_voxels": args.min_fault_voxels, "augment": True,
                 "sources": [{"kind": "volume", "path": f, "weight": 1.0} for f in files]},
        "validation": {"every": args.val_every or args.steps, "synthetic_seeds": list(args.val_seeds),
                       "synthetic_shape": list(args.val_shape)},
        "device": "cpu", "threads": args.threads, "log_every": 10, "checkpoint_every": 25,
    }
    path = out / "configs" / f"{run_name(loss, drop)}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# written by tools/fnl_experiment.py\n" + yaml.safe_dump(cfg, sort_keys=False)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


def train_all(args: argparse.Namespace, out: Path, files: dict[float, list[str]]) -> None:
    jobs = [(loss, drop) for drop in args.drops for loss in args.losses]
    running: list[tuple[str, subprocess.Popen, float]] = []
    while jobs or running:
        while jobs and len(running) < args.parallel:
            loss, drop = jobs.pop(0)
            name = run_name(loss, drop)
            cfg = write_config(args, out, loss, drop, files[drop])
            log = out / "logs" / f"{name}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            print(f"  start {name}", flush=True)
            proc = hpcfault("train", str(cfg), "--run-dir", str(out / "runs" / name), threads=args.threads,
                            log=log, wait=False)
            running.append((name, proc, time.perf_counter()))
        time.sleep(2)
        for item in list(running):
            name, proc, t0 = item
            if proc.poll() is not None:
                running.remove(item)
                state = "done" if proc.returncode == 0 else f"FAILED (exit {proc.returncode}, see logs/{name}.log)"
                print(f"  {name}: {state} in {time.perf_counter() - t0:.0f} s", flush=True)


def read_run(run_dir: Path, steps: int, last_k: int = 3) -> dict | None:
    """A run's validation figures: at its last validation, and averaged over its last `last_k`
    validations (single validations of a short run are noisy); None when it has none yet."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return None
    vals, rates = {}, []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("kind") == "val" and rec.get("step", 0) > 0:
            vals[rec["step"]] = rec
        elif rec.get("kind") == "train" and "cubes_per_s" in rec:
            rates.append(rec["cubes_per_s"])
    if not vals:
        return None
    recent = [vals[k] for k in sorted(vals)[-last_k:]]
    last = recent[-1]
    mean = {f"{k}_mean": round(sum(r[k] for r in recent) / len(recent), 4) for k in ("iou", "tol_iou")}
    return {"step": last["step"], "complete": last["step"] >= steps, "iou": last["iou"], "tol_iou": last["tol_iou"],
            "precision": last["precision"], "recall": last["recall"], **mean,
            "mean_of_steps": [r["step"] for r in recent],
            "curve": [{"step": k, "iou": vals[k]["iou"], "tol_iou": vals[k]["tol_iou"]} for k in sorted(vals)],
            "cubes_per_s": round(sum(rates) / len(rates), 3) if rates else None}


def test_scores(run_dir: Path, seeds: list[int], shape: list[int], threads: int) -> dict | None:
    """The run's final weights (checkpoints/model.pt) scored on held-out TEST surveys (dense labels,
    seeds not used for validation), scaled like the training cubes; cached in RUN_DIR/test-scores.json."""
    import torch

    ckpt, cache = run_dir / "checkpoints" / "model.pt", run_dir / "test-scores.json"
    if not ckpt.is_file():
        return None
    key = {"seeds": list(seeds), "shape": list(shape), "mtime": ckpt.stat().st_mtime}
    if cache.is_file():
        old = json.loads(cache.read_text())
        if old.get("key") == key:
            return old["scores"]
    import numpy as np

    from hpcfault.data.synth import synthesize
    from hpcfault.metrics import score_counts, scores
    from hpcfault.models import load_model, read_checkpoint
    from hpcfault.train.validate import scale01

    torch.set_num_threads(threads)
    model, total = load_model(ckpt), {}
    for seed in seeds:
        seis, labels, _, _ = synthesize(tuple(shape), seed)
        with torch.inference_mode():
            prob = model(torch.from_numpy(scale01(seis))[None, None])[0, 0].numpy()
        for k, v in score_counts(prob, (labels > 0).astype(np.uint8), None, threshold=0.5, radius=2).items():
            total[k] = total.get(k, 0) + int(v)
    result = {k: round(v, 4) for k, v in scores(total).items()}
    result["step"] = int(read_checkpoint(ckpt)["provenance"].get("step", -1))
    cache.write_text(json.dumps({"key": key, "scores": result}, indent=1) + "\n")
    return result


def report(args: argparse.Namespace, out: Path, wall_s: float | None) -> dict:
    rows = []
    for loss in args.losses:
        base = None
        for drop in args.drops:
            run_dir = out / "runs" / run_name(loss, drop)
            r = read_run(run_dir, args.steps)
            row = {"loss": loss, "drop": drop, **(r or {"step": 0, "complete": False})}
            t = test_scores(run_dir, args.test_seeds, args.val_shape, args.threads) if r and r["complete"] else None
            if t:
                row["test"] = t
            if t and drop == min(args.drops):
                base = t
            if t and base:  # on the test figures of the final weights
                row["iou_drop"] = round(base["iou"] - t["iou"], 4)
                row["iou_drop_rel"] = round((base["iou"] - t["iou"]) / base["iou"], 4) if base["iou"] > 0 else None
                row["tol_iou_drop"] = round(base["tol_iou"] - t["tol_iou"], 4)
            rows.append(row)
    budget = {k: getattr(args, k) for k in ("steps", "batch", "cube", "model", "lr", "seed", "surveys", "every",
                                             "threads")}
    budget["shape"], budget["val_seeds"], budget["val_shape"] = args.shape, args.val_seeds, args.val_shape
    budget["test_seeds"] = args.test_seeds
    result = {"budget": budget, "rows": rows, "wall_s": wall_s, "machine": machine()}
    print(f"\nFNL experiment: Fault-Net ({args.model}), {args.steps} steps x batch {args.batch} cubes of "
          f"{args.cube}^3, labels on every {args.every}th inline of {args.surveys} surveys "
          f"{'x'.join(map(str, args.shape))}")
    print(f"test: final weights on {len(args.test_seeds)} held-out dense-labelled surveys "
          f"{'x'.join(map(str, args.val_shape))} (seeds {args.test_seeds}); IoU drop relative to the same loss "
          f"without dropped faults; val: mean of the last 3 validations (seeds {args.val_seeds})")
    print(f"{'loss':<16}{'dropped':>8}{'step':>6}{'test IoU':>10}{'Tol-IoU@2':>11}{'IoU drop':>10}{'rel.':>7}"
          f"{'precision':>10}{'recall':>8}{'val IoU':>9}{'val Tol-IoU':>12}")
    for r in rows:
        if "test" not in r:
            print(f"{LOSS_LABEL[r['loss']]:<16}{r['drop']:>7.0%} {r['step']:>5}   (not complete yet)")
            continue
        t = r["test"]
        rel = f"{r['iou_drop_rel']:.0%}" if r.get("iou_drop_rel") is not None else "-"
        print(f"{LOSS_LABEL[r['loss']]:<16}{r['drop']:>7.0%} {r['step']:>5}{t['iou']:>10.4f}{t['tol_iou']:>11.4f}"
              f"{r.get('iou_drop', float('nan')):>10.4f}{rel:>7}{t['precision']:>10.4f}{t['recall']:>8.4f}"
              f"{r['iou_mean']:>9.4f}{r['tol_iou_mean']:>12.4f}")
    from hpcfault.io.atomic import write_text_atomic

    write_text_atomic(out / "fnl.json", json.dumps(result, indent=1) + "\n")
    print(f"wrote {out / 'fnl.json'}")
    if args.figure:
        figure(rows, args, Path(args.figure))
        print(f"wrote {args.figure}")
    return result


def figure(rows: list[dict], args: argparse.Namespace, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(7.2, 2.9), dpi=90)
    for loss, style in zip(args.losses, ("o-", "s--")):
        pts = [r for r in rows if r["loss"] == loss and "test" in r]
        for ax, key in zip(axes, ("iou", "tol_iou")):
            ax.plot([100 * r["drop"] for r in pts], [r["test"][key] for r in pts], style, label=LOSS_LABEL[loss])
    for ax, title in zip(axes, ("test IoU@0.5", "test Tol-IoU@2")):
        ax.set_xlabel("faults dropped from labelled inlines (%)")
        ax.set_title(title, fontsize=10)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"false-negative labels: Fault-Net, {args.steps} steps x {args.batch} cubes {args.cube}^3, "
                 f"every {args.every}th inline", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def main(argv=None) -> int:
    args = parse(argv)
    out = Path(args.out).resolve()
    t0 = time.perf_counter()
    if not args.report_only:
        print(f"data: {args.surveys} surveys {'x'.join(map(str, args.shape))}, drops {args.drops}", flush=True)
        files = make_data(args, out)
        if args.data_only:
            return 0
        train_all(args, out, files)
    report(args, out, None if args.report_only else round(time.perf_counter() - t0, 1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
