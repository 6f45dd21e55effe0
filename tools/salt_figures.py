#!/usr/bin/env python
"""The salt figures of docs/salt.md: the seed's recipe and the improved one, ResNet-18 and -34,
trained on TGS-layout tiles cut from synthetic salt surveys and scored on held-out surveys.

    python tools/salt_figures.py data RUNS                  # surveys + tile folders (a few minutes)
    python tools/salt_figures.py train RUNS r18-seed        # one run (resumable: rerun to continue)
    python tools/salt_figures.py score RUNS                 # every finished run -> RUNS/figures.json, a table

Data (RUNS/data): 12 training surveys of the salt family (seeds 1000-1011, 128 x 160 x 160), cut by
`hpcfault salt-tiles --size 101 --every 4` into 3,840 tiles (the TGS competition had 4,000), split
by the seed's proportions (3420 / 380 / 200: train / val / test, by tile); 3 held-out surveys (seeds
2000-2002) cut the same way (960 tiles) and a salt-free survey (seed 3000, family salt-free).

Runs (RUNS/<model>-<recipe>): configs/train-salt-seed.yaml or -improved.yaml with the model
(unet-resnet18 / -34), the folder's train split and its val split for validation, and the length
scaled to this 2-core CPU: STEPS steps of BATCH tiles (the phases split at the middle, as the
seed's 20 + 20 epochs), validation every VAL_EVERY steps, one process, one thread.

Scores: predict-tiles (the real CLI) on the held-out tiles -> submission CSV -> the salt task's
evaluate (pixel IoU, Dice, precision, recall, TGS metric); on each held-out survey, every inline
and every crossline section predicted whole, and their average (what predict --axes-2d does);
and the salt-free survey: the share of its pixels called salt.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRAIN_SEEDS = range(1000, 1012)
HELDOUT_SEEDS = (2000, 2001, 2002)
SHAPE = ("128", "160", "160")
MODELS = {"r18": "unet-resnet18", "r34": "unet-resnet34"}
RECIPES = {"seed": "train-salt-seed.yaml", "improved": "train-salt-improved.yaml"}
STEPS, BATCH, VAL_EVERY = 120, 16, 40


def hpcfault(*args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "hpcfault", *map(str, args)], env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"hpcfault {' '.join(map(str, args))} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def data(runs: Path) -> None:
    d = runs / "data"
    d.mkdir(parents=True, exist_ok=True)
    for name, family, seeds in (("train", "salt", TRAIN_SEEDS), ("heldout", "salt", HELDOUT_SEEDS),
                                ("saltfree", "salt-free", (3000,))):
        for s in seeds:
            if not (d / f"{name}-{s}.h5").exists():
                print(hpcfault("synth", d / f"{name}-{s}.h5", "--family", family, "--seed", s, "--shape", *SHAPE,
                               "--no-progress").splitlines()[0])
    for folder, pattern in (("tgs", "train-*.h5"), ("tgs-heldout", "heldout-*.h5"), ("tgs-saltfree", "saltfree-*.h5")):
        if not (d / folder).exists():
            print(hpcfault("salt-tiles", *sorted(d.glob(pattern)), d / folder, "--size", "101", "--every", "4").strip())


def train(runs: Path, run: str) -> None:
    model, recipe = run.split("-")
    tgs = runs / "data" / "tgs"
    half = STEPS // 2
    phases = {"seed": f"[{{steps: {half}, loss: {{name: bce, balanced: false}}}}, {{steps: {half}, loss: {{name: dice}}}}]",
              "improved": f"[{{steps: {half}, loss: {{name: dice, bce_weight: 1.0}}}}, {{steps: {half}, loss: {{name: lovasz}}}}]"}
    t0 = time.time()
    out = hpcfault("train", REPO / "configs" / RECIPES[recipe], "--run-dir", runs / run, f"model.name={MODELS[model]}",
                   f"data.sources=[{{kind: tgs, path: {tgs}, split: train}}]", f"validation.tgs={tgs}",
                   f"steps={STEPS}", f"batch={BATCH}", f"phases={phases[recipe]}", f"validation.every={VAL_EVERY}",
                   f"checkpoint_every={VAL_EVERY}", "log_every=10", "optim.warmup=10", "device=cpu", "threads=1")
    print(out.strip(), f"({(time.time() - t0) / 60:.0f} min)")


def section_volumes(model, seismic, batch: int = 8):
    """Inline-only, crossline-only and averaged probability volumes of a whole survey."""
    import numpy as np
    import torch

    from hpcfault.train.validate2d import predict_images

    dev = torch.device("cpu")
    il = predict_images(model, np.moveaxis(seismic, 1, 0), dev, None, batch)      # (I, T, X)
    xl = predict_images(model, np.moveaxis(seismic, 2, 0), dev, None, batch)      # (X, T, I)
    il, xl = np.moveaxis(il, 0, 1), np.moveaxis(xl, 0, 2)
    return {"inline": il, "xline": xl, "average": 0.5 * (il + xl)}


def score(runs: Path) -> None:
    import h5py

    from hpcfault.io.volume import create_volume
    from hpcfault.models import load_model, read_checkpoint
    from hpcfault.tasks.salt import evaluate
    from hpcfault.train.validate import scale01

    d = runs / "data"
    rows = {}
    for run in sorted(p.name for p in runs.iterdir() if (p / "checkpoints" / "model.pt").exists()):
        ck = runs / run / "checkpoints" / "model.pt"
        res: dict = {"run": run}
        for folder in ("tgs-heldout", "tgs-saltfree"):
            csv = runs / run / f"{folder}.csv"
            if not csv.exists():
                hpcfault("predict-tiles", d / folder, "-m", ck, "-o", csv)
            rep = evaluate(str(csv), str(d / folder))
            res[folder] = {**rep["scores"], "images": rep["images"], "pixels": rep["pixels"]}
        model = load_model(ck)
        th = float(read_checkpoint(ck)["provenance"].get("threshold", 0.5))
        res["threshold"] = th
        for name in [f"heldout-{s}" for s in HELDOUT_SEEDS] + ["saltfree-3000"]:
            with h5py.File(d / f"{name}.h5") as f:
                seismic, truth = scale01(f["data"][...]), f["salt"][...]
            for view, prob in section_volumes(model, seismic).items():
                path = runs / run / f"{name}-{view}.h5"
                if not path.exists():
                    with create_volume(path, prob.shape, "float32", extra={"salt": "float32"}) as g:
                        g["salt"][...] = prob
                rep = evaluate(str(path), str(d / f"{name}.h5"), threshold=th)
                res.setdefault(name, {})[view] = {**rep["scores"], "salt_share": float((prob >= th).mean()),
                                                  "truth_share": float(truth.mean())}
        rows[run] = res
        print(json.dumps(res))
    (runs / "figures.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {runs / 'figures.json'}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("data", "train", "score"))
    p.add_argument("runs", type=Path)
    p.add_argument("run", nargs="?", help="train: r18-seed, r18-improved, r34-seed or r34-improved")
    a = p.parse_args(argv)
    if a.what == "data":
        data(a.runs)
    elif a.what == "train":
        if a.run not in [f"{m}-{r}" for m in MODELS for r in RECIPES]:
            p.error(f"give a run: r18-seed, r18-improved, r34-seed or r34-improved (got {a.run})")
        train(a.runs, a.run)
    else:
        score(a.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
