#!/usr/bin/env python3
"""What makes RGT hard on a family of synthetic surveys: RGT error within blocks for oracles that
know part of the truth, beside a trained model's.

Per block of EDGE^3 (random places, the same for every row) the true RGT is scaled to [0, 1] like a
training cube, each candidate is fitted to it by the best affine map (RGT is relative) and the mean
absolute error is averaged over the blocks. The candidates, all built with the `integrated` form
of hpcfault/models/mtl.py (increments down each trace plus a value per trace integrated from
lateral gradients), so they differ only in what they know:

- time: RGT = the time index (flat layers; the baseline every model must beat);
- true increments and lateral gradients (the form's own error: it can hold the truth);
- true lateral gradients, even spacing: layer thickness unknown;
- true lateral gradients without fault throws (|gradient| >= 1 sample per trace set to 0), even
  spacing: the layers' dips only;
- structure-tensor slopes of the clean target image (`dhr`) or of the degraded input (`data`),
  even spacing: dips as classical seismic processing measures them;
- each --model checkpoint's RGT output on the block's input (scaled as in training), as it
  predicts one block.

    hpcfault synth s.h5 --family multitask --shape 64 96 96 --seed 9401     # (and more seeds)
    python tools/rgt_oracles.py s.h5 [more.h5 ...] --edge 32 --blocks 6 --model hpcfault/assets/multitask-default.pt
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def affine_mae(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean absolute error after the best affine fit of `pred` to `truth` (as `hpcfault evaluate`)."""
    from hpcfault.tasks.multitask.metrics import affine_fit, fit_sums

    a, b = affine_fit(fit_sums(pred, truth))
    return float(np.abs(a * np.asarray(pred, np.float64) + b - truth).mean())


def integrate(increments: np.ndarray, gi: np.ndarray, gx: np.ndarray) -> np.ndarray:
    """RGT of the integrated form from per-voxel increments (> 0) and lateral gradients."""
    import torch

    from hpcfault.models.mtl import integrated_rgt

    raw = np.log(np.expm1(np.maximum(increments, 1e-6)))          # softplus^-1
    out = integrated_rgt(torch.from_numpy(raw[None, None].astype(np.float32)),
                         torch.from_numpy(np.stack([gi, gx])[None].astype(np.float32)))
    return out[0, 0].numpy().astype(np.float64)


def structure_slopes(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reflector slopes (time samples per trace along inline, crossline) from the gradient
    structure tensor (gradients of the image smoothed by sigma 1, products smoothed by sigma 3)."""
    from scipy.ndimage import gaussian_filter

    g = np.gradient(gaussian_filter(image, 1.0))
    tt = gaussian_filter(g[0] * g[0], 3.0) + 1e-9
    return -gaussian_filter(g[0] * g[1], 3.0) / tt, -gaussian_filter(g[0] * g[2], 3.0) / tt


def candidates(t: np.ndarray, block: dict[str, np.ndarray], models: list) -> dict[str, np.ndarray]:
    """Every candidate RGT of one block (`t`: the true RGT scaled to [0, 1]; `block`: its dhr, data
    and `input`, the data scaled over the whole survey as in training)."""
    ones = np.ones_like(t)
    dt = np.gradient(t, axis=0)
    step = float(dt.mean())
    gi, gx = np.gradient(t, axis=1) / step, np.gradient(t, axis=2) / step       # in samples per trace
    out = {"time": np.broadcast_to(np.arange(t.shape[0], dtype=np.float64)[:, None, None], t.shape),
           "true increments and lateral gradients": integrate(dt / step, gi, gx),
           "true lateral gradients, even spacing": integrate(ones, gi, gx),
           "true dips without fault throws, even spacing": integrate(ones, np.where(abs(gi) < 1, gi, 0),
                                                                     np.where(abs(gx) < 1, gx, 0))}
    for key in ("dhr", "data"):
        pi, px = structure_slopes(block[key])
        out[f"structure-tensor dips of {key}, even spacing"] = integrate(ones, -pi, -px)
    if models:
        import torch

        from hpcfault.tasks import task_spec

        rgt = task_spec("multitask").channel_slices()["rgt"]
        x = torch.from_numpy(np.ascontiguousarray(block["input"], np.float32))[None, None]
        for name, model in models:
            with torch.inference_mode():
                out[f"model {name}"] = model(x)[0, rgt][0].numpy()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("surveys", nargs="+", help="hpcfault synth files with rgt, dhr and data")
    ap.add_argument("--edge", type=int, default=32, help="block edge (the model's training cube)")
    ap.add_argument("--blocks", type=int, default=6, help="blocks per survey")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--model", action="append", default=[], help="a multitask checkpoint (repeatable)")
    args = ap.parse_args(argv)
    import h5py

    from hpcfault.data.cube_sources import training_normalizer
    from hpcfault.models import load_model, prepare_for_inference

    models = [(Path(m).name, prepare_for_inference(load_model(m)).eval()) for m in args.model]
    rng = np.random.default_rng(args.seed)
    scores: dict[str, list[float]] = {}
    for path in args.surveys:
        with h5py.File(path, "r") as f:
            vol = {k: f[k][...].astype(np.float64) for k in ("rgt", "dhr", "data")}
        vol["input"] = training_normalizer(vol["data"]).apply(vol["data"])    # scaled as the model saw it in training
        for _ in range(args.blocks):
            o = [int(rng.integers(0, n - args.edge + 1)) for n in vol["rgt"].shape]
            sl = tuple(slice(a, a + args.edge) for a in o)
            t = vol["rgt"][sl]
            t = (t - t.min()) / max(float(t.max() - t.min()), 1e-12)
            block = {k: v[sl] for k, v in vol.items()}
            for name, pred in candidates(t, block, models).items():
                scores.setdefault(name, []).append(affine_mae(pred, t))
    n = len(next(iter(scores.values())))
    print(f"RGT error within {n} blocks of {args.edge}^3 from {len(args.surveys)} survey(s) "
          "(mean absolute error after the best affine fit; RGT scaled to [0, 1] per block)")
    for name, v in scores.items():
        print(f"  {np.mean(v):.4f}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
