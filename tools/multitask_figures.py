#!/usr/bin/env python3
"""The multitask figures on held-out synthetic surveys: MTI, then MTR after 1, 2, 3 iterations.

For each seed a `multitask`-family survey is written (labels), the models run in-process on it in
blocks of their training cube (50 % overlap; the chain y = mti(x), y = mtr(y) k times on each
block), the blocks are blended with triangular weights (angles as their probability-weighted
vectors, RGT after the per-block affine alignment of hpcfault/infer/align.py, then scaled to
[0, 1]) and written as prediction files with the task's datasets, and every file is scored by
hpcfault.tasks.multitask.metrics.evaluate. This stands in for the survey-scale engine
(hpcfault predict) until it runs multitask models; the figures are those of docs/multitask.md.

    python tools/multitask_figures.py --mti hpcfault/assets/multitask-default.pt \\
        --mtr hpcfault/assets/multitask-refine-default.pt --seeds 9401 9402 9403 9404 --out /tmp/mtfig
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def tiles(n: int, block: int) -> list[int]:
    """Starts of blocks of `block` covering [0, n) with a stride of half a block."""
    if n <= block:
        return [0]
    step = block // 2
    starts = list(range(0, n - block + 1, step))
    if starts[-1] != n - block:
        starts.append(n - block)
    return starts


def taper(block: int) -> np.ndarray:
    i = np.arange(block, dtype=np.float64)
    return np.minimum(i + 0.5, block - i - 0.5) / (block / 2.0)


def predict_chain(mti, mtr, x: np.ndarray, block: int, iterations: int) -> list[np.ndarray]:
    """Merged raw channels (7, T, I, X) and RGT of the MTI output and of each MTR iteration."""
    import torch

    from hpcfault.infer.align import pair_stats, solve

    shape = x.shape
    starts = [(t, i, j) for t in tiles(shape[0], block) for i in tiles(shape[1], block) for j in tiles(shape[2], block)]
    w1 = taper(block)
    w = w1[:, None, None] * w1[None, :, None] * w1[None, None, :]
    outs = [np.zeros((7, *shape)) for _ in range(iterations + 1)]
    rgts = [[] for _ in range(iterations + 1)]
    wsum = np.zeros(shape)
    with torch.inference_mode():
        for (t, i, j) in starts:
            cube = torch.from_numpy(np.ascontiguousarray(x[t:t + block, i:i + block, j:j + block]))[None, None]
            y = mti(cube)
            ys = [y]
            for _ in range(iterations):
                ys.append(mtr(ys[-1]))
            sl = (slice(t, t + block), slice(i, i + block), slice(j, j + block))
            for k, yk in enumerate(ys):
                raw = yk[0].double().numpy()
                outs[k][(slice(None), *sl)] += raw * w
                rgts[k].append(raw[5])
            wsum[sl] += w
    results = []
    for k in range(iterations + 1):
        raw = outs[k] / wsum
        # RGT: one (scale, offset) per block from the overlaps, then the blend, then [0, 1]
        pairs = []
        for a in range(len(starts)):
            for b in range(a + 1, len(starts)):
                lo = [max(p, q) for p, q in zip(starts[a], starts[b])]
                hi = [min(p, q) + block for p, q in zip(starts[a], starts[b])]
                if all(h > l for l, h in zip(lo, hi)):
                    sa = tuple(slice(l - s, h - s) for l, h, s in zip(lo, hi, starts[a]))
                    sb = tuple(slice(l - s, h - s) for l, h, s in zip(lo, hi, starts[b]))
                    pairs.append((a, b, pair_stats(rgts[k][a][sa], rgts[k][b][sb])))
        ranges = [(float(r.min()), float(r.max())) for r in rgts[k]]
        scales, offsets = solve(len(starts), pairs, ranges)
        rgt = np.zeros(shape)
        for n, (t, i, j) in enumerate(starts):
            sl = (slice(t, t + block), slice(i, i + block), slice(j, j + block))
            rgt[sl] += (rgts[k][n] * scales[n] + offsets[n]) * w
        rgt /= wsum
        raw[5] = (rgt - rgt.min()) / max(rgt.max() - rgt.min(), 1e-12)
        results.append(raw)
    return results


def write_prediction(path: Path, raw: np.ndarray, geom) -> None:
    import torch

    from hpcfault.io.volume import create_volume
    from hpcfault.tasks import task_spec
    from hpcfault.tasks.decode import decode

    task = task_spec("multitask")
    out = decode(task, torch.from_numpy(raw.astype(np.float32))).numpy()
    with create_volume(path, raw.shape[1:], "float32", geometry=geom,
                       extra={o: "float32" for o in task.output_names}) as f:
        for k, o in enumerate(task.output_names):
            f[o][...] = out[k]


def figure(png: Path, labels: Path, preds: list[Path], inline: int) -> None:
    import h5py
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with h5py.File(labels, "r") as f:
        t = {k: f[k][:, inline, :] for k in ("data", "dhr", "rgt", "labels")}
    with h5py.File(preds[0], "r") as f:
        p = {k: f[k][:, inline, :] for k in ("dhr", "rgt", "fault", "fault_dip", "fault_strike")}
    with h5py.File(preds[-1], "r") as f:
        r = {k: f[k][:, inline, :] for k in ("rgt", "fault")}
    fig, ax = plt.subplots(2, 4, figsize=(16, 7.5))
    panels = [("input (degraded)", t["data"], "gray", None), ("DHR, MTI", p["dhr"], "gray", None),
              ("DHR target", t["dhr"], "gray", None), ("fault labels", t["labels"], "gray_r", None),
              ("RGT, MTI (contours every 0.05)", p["rgt"], "turbo", p["rgt"]),
              ("RGT target", t["rgt"], "turbo", t["rgt"]),
              ("fault probability, MTI", p["fault"], "gray_r", None),
              (f"fault probability, MTR x{len(preds) - 1}", r["fault"], "gray_r", None)]
    for a, (title, img, cmap, cont) in zip(ax.ravel(), panels):
        lo, hi = np.percentile(img, [1, 99]) if cmap == "gray" else (img.min(), img.max())
        a.imshow(img, cmap=cmap, aspect="auto", vmin=lo, vmax=hi, interpolation="nearest")
        if cont is not None:
            a.contour(cont, levels=np.arange(0.05, 1.0, 0.05), colors="k", linewidths=0.5)
        a.set_title(title, fontsize=10)
        a.set_xlabel("crossline index")
        a.set_ylabel("time sample")
    fig.suptitle(f"{labels.name}, inline index {inline}")
    fig.tight_layout()
    fig.savefig(png, dpi=80)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mti", required=True)
    ap.add_argument("--mtr", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[9401, 9402, 9403, 9404])
    ap.add_argument("--shape", type=int, nargs=3, default=[64, 96, 96])
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--block", type=int, default=0, help="block edge (default: the MTI checkpoint's training cube)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--png", default=None, help="also draw the first survey's middle inline here")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    import torch

    from hpcfault.data.cube_sources import training_normalizer
    from hpcfault.data.synth import synth_geometry, write_synthetic
    from hpcfault.data.synth_config import synth_config
    from hpcfault.io.volume import open_volume
    from hpcfault.models import load_model, read_checkpoint
    from hpcfault.tasks.multitask.metrics import evaluate

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    mti, mtr = load_model(args.mti, expect="mtl"), load_model(args.mtr, expect="mtl-refine")
    cube = read_checkpoint(args.mti)["provenance"].get("cube", 32)
    block = args.block or int(cube if isinstance(cube, int) else min(cube))
    names = ["MTI"] + [f"MTR x{k}" for k in range(1, args.iterations + 1)]
    table = {n: [] for n in names}
    t0 = time.time()
    for seed in args.seeds:
        labels = out / f"survey-{seed}.h5"
        if not labels.exists():
            write_synthetic(labels, args.shape, seed, config=synth_config("multitask"), family="multitask")
        with open_volume(labels) as f:
            x = f["data"][...]
        x = training_normalizer(x).apply(x)
        raws = predict_chain(mti, mtr, x, block, args.iterations)
        preds = []
        for name, raw in zip(names, raws):
            path = out / f"pred-{seed}-{name.replace(' ', '')}.h5"
            write_prediction(path, raw, synth_geometry(args.shape, seed))
            table[name].append(evaluate(str(path), str(labels)))
            preds.append(path)
        if args.png and seed == args.seeds[0]:
            figure(Path(args.png), labels, preds, args.shape[1] // 2)
        print(f"seed {seed} done ({time.time() - t0:.0f} s)", flush=True)
    summary = {}
    for name, reps in table.items():
        mean = lambda f: float(np.mean([f(r) for r in reps]))   # noqa: E731
        summary[name] = {
            "dhr_psnr_db": mean(lambda r: r["dhr"]["psnr_db"]), "input_psnr_db": mean(lambda r: r["dhr"]["input_psnr_db"]),
            "dhr_ssim": mean(lambda r: r["dhr"]["ssim"]), "input_ssim": mean(lambda r: r["dhr"]["input_ssim"]),
            "rgt_mae": mean(lambda r: r["rgt"]["mae"]),
            "horizons_within_2": mean(lambda r: r["rgt"]["horizons"]["share_within"]),
            "fault_iou": mean(lambda r: r["fault"]["scores"]["iou"]),
            "fault_tol_iou": mean(lambda r: r["fault"]["scores"]["tol_iou"]),
            "dip_mae_deg": mean(lambda r: r["fault_dip"]["mae_deg"]),
            "strike_mae_deg": mean(lambda r: r["fault_strike"]["mae_deg"])}
    (out / "summary.json").write_text(json.dumps({"seeds": args.seeds, "shape": args.shape, "block": block,
                                                   "summary": summary}, indent=2) + "\n")
    cols = ["dhr_psnr_db", "input_psnr_db", "dhr_ssim", "input_ssim", "rgt_mae", "horizons_within_2", "fault_iou",
            "fault_tol_iou", "dip_mae_deg", "strike_mae_deg"]
    print("| model | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, s in summary.items():
        print(f"| {name} | " + " | ".join(f"{s[c]:.3f}" for c in cols) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
