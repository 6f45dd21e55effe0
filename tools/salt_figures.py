#!/usr/bin/env python
"""The salt figures of docs/salt.md: the seed's recipe and the improved one, ResNet-18 and -34,
trained on TGS-layout tiles cut from synthetic salt surveys and scored on held-out surveys.

    python tools/salt_figures.py data RUNS                  # surveys + tile folders (a few minutes)
    python tools/salt_figures.py train RUNS r18-seed        # one run (resumable: rerun to continue)
    python tools/salt_figures.py train RUNS r34-improved --device cuda   # the recipe's full length on a GPU
    python tools/salt_figures.py train RUNS r34-improved-sections --device cuda   # on sections of surveys
    python tools/salt_figures.py score RUNS                 # every finished run -> RUNS/figures.json, a table
    python tools/salt_figures.py install RUNS default       # RUNS/default's (or a run folder's) best checkpoint
                                                            # -> hpcfault/assets/salt-default.pt + record
    python tools/salt_figures.py data RUNS --held-out-only  # only the held-out surveys and tiles (for the default model)
    python tools/salt_figures.py data RUNS --held-out-only --sections --workers 8   # and the section runs' surveys
    python tools/salt_figures.py surveys RUNS [MODEL.pt]    # held-out surveys through hpcfault predict: inline, xline, both
    python tools/salt_figures.py pictures RUNS [MODEL.pt]   # docs/figures/salt-synthetic.png and salt-heldout.png

Data (RUNS/data): 24 training surveys of the salt family (seeds 1000-1023, 192 x 160 x 160: deeper
than a tile, so that salt at the bottom of a survey is not always at the bottom of a tile), cut by
`hpcfault salt-tiles --size 101 --every 8` into 3,840 tiles (the TGS competition had 4,000), split
by the seed's proportions (3420 / 380 / 200: train / val / test, by tile); 6 held-out surveys (seeds
2000-2005) cut the same way (960 tiles) and a salt-free survey (seed 3000, family salt-free).

Runs (RUNS/<model>-<recipe>): configs/train-salt-seed.yaml or -improved.yaml with the model
(MODELS below: the reference widths, or the same stages at a quarter width), the folder's train
split and its val split for validation, and the length scaled to this 2-core CPU: STEPS steps of
BATCH tiles (the phases split at the middle, as the seed's 20 + 20 epochs), validation every
VAL_EVERY steps, one process, one thread.

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
TRAIN_SEEDS = range(1000, 1024)
HELDOUT_SEEDS = (2000, 2001, 2002, 2003, 2004, 2005)
SHAPE = ("192", "160", "160")
# r18 / r34: the reference widths (14.3 M / 24.4 M parameters); r18w16 / r34w16: the same stages at a
# quarter of the width (encoder 16-128 channels, decoder 64-4; 0.9 M / 1.5 M), ~7x cheaper per tile
MODELS = {"r18": ("unet-resnet18", {}), "r34": ("unet-resnet34", {}),
          "r18w16": ("unet-resnet18", {"width": 16, "decoder": [64, 32, 16, 8, 4]}),
          "r34w16": ("unet-resnet34", {"width": 16, "decoder": [64, 32, 16, 8, 4]})}
RECIPES = {"seed": "train-salt-seed.yaml", "improved": "train-salt-improved.yaml"}
STEPS, BATCH, VAL_EVERY = 1000, 16, 200


def hpcfault(*args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "hpcfault", *map(str, args)], env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"hpcfault {' '.join(map(str, args))} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def data(runs: Path, held_out_only: bool = False, sections: bool = False, workers: int = 0) -> None:
    if sections:
        print(f"training surveys of the section runs in {section_surveys(runs, workers)}")
    d = runs / "data"
    d.mkdir(parents=True, exist_ok=True)
    for name, family, seeds in (("train", "salt", () if held_out_only else TRAIN_SEEDS), ("heldout", "salt", HELDOUT_SEEDS),
                                ("saltfree", "salt-free", (3000,))):
        for s in seeds:
            if not (d / f"{name}-{s}.h5").exists():
                print(hpcfault("synth", d / f"{name}-{s}.h5", "--family", family, "--seed", s, "--shape", *SHAPE,
                               "--no-progress").splitlines()[0])
    for folder, pattern in (("tgs", "train-*.h5"), ("tgs-heldout", "heldout-*.h5"), ("tgs-saltfree", "saltfree-*.h5")):
        if not (d / folder).exists() and any(d.glob(pattern)):
            print(hpcfault("salt-tiles", *sorted(d.glob(pattern)), d / folder, "--size", "101", "--every", "8").strip())


DEFAULT_RECIPE = REPO / "configs" / "train-salt-default.yaml"


def section_surveys(runs: Path, workers: int = 0) -> Path:
    """Make (once) the default salt model's training surveys - 36 salt and 4 salt-free synthetic
    surveys, configs/train-salt-default.yaml - in RUNS/sections/data, in `workers` processes."""
    from hpcfault.config import load_config
    from hpcfault.train.stream import prepare_surveys

    prepare_surveys(load_config(DEFAULT_RECIPE), runs / "sections", workers)
    return runs / "sections" / "data"


def section_data(runs: Path, run_dir: Path) -> list[str]:
    """Config keys that train a run on sections instead of tiles: the default salt model's data and
    its validation on two held-out surveys. The run links RUNS/sections/data as its data folder,
    so its surveys are made once for every such run (section_surveys)."""
    import yaml

    default = yaml.safe_load(DEFAULT_RECIPE.read_text())
    shared = runs / "sections" / "data"
    shared.mkdir(parents=True, exist_ok=True)
    if not run_dir.exists():
        run_dir.mkdir(parents=True)
        (run_dir / "data").symlink_to(shared.resolve(), target_is_directory=True)
    val = default["validation"]
    return [f"data.sources={json.dumps(default['data']['sources'])}", "validation.tgs=''",
            f"validation.synthetic_seeds={json.dumps(val['synthetic_seeds'])}",
            f"validation.synthetic_shape={json.dumps(val['synthetic_shape'])}",
            f"validation.synthetic_family={val['synthetic_family']}", f"validation.section_every={val['section_every']}"]


def train(runs: Path, run: str, device: str = "cpu", workers: int = 2, steps: int = 0) -> None:
    """One run. On the CPU the length is scaled to this 2-core machine (STEPS steps of BATCH tiles,
    one thread); on a GPU (`device` cuda) the recipe's own length: 4280 steps of 32 tiles, the
    phases split at the middle (the seed's 20 + 20 epochs of 3420 tiles), TF32, `workers` processes
    preparing the batches. `steps` > 0: that many instead (a trial run). A run named
    MODEL-RECIPE-sections trains on sections of surveys (section_data), not on the tiles."""
    model, recipe, *on = run.split("-")
    tgs = runs / "data" / "tgs"
    gpu = device == "cuda"
    steps, batch, every = (steps or 4280, 32, 535) if gpu else (steps or STEPS, BATCH, VAL_EVERY)
    every = min(every, steps)
    half = steps // 2
    phases = {"seed": f"[{{steps: {half}, loss: {{name: bce, balanced: false}}}}, {{steps: {half}, loss: {{name: dice}}}}]",
              "improved": f"[{{steps: {half}, loss: {{name: dice, bce_weight: 1.0}}}}, {{steps: {half}, loss: {{name: lovasz}}}}]"}
    name, options = MODELS[model]
    options = {**options, **({"flip_tta": True} if recipe == "improved" else {})}
    where = ["device=cuda", "amp=tf32", f"data.workers={workers}"] if gpu else ["device=cpu", "threads=1", "optim.warmup=10"]
    data = (section_data(runs, runs / run) if on == ["sections"] else
            [f"data.sources=[{{kind: tgs, path: {tgs}, split: train}}]", f"validation.tgs={tgs}"])
    t0 = time.time()
    out = hpcfault("train", REPO / "configs" / RECIPES[recipe], "--run-dir", runs / run, f"model.name={name}",
                   f"model.options={json.dumps(options)}", *data,
                   f"steps={steps}", f"batch={batch}", f"phases={phases[recipe]}", f"validation.every={every}",
                   f"checkpoint_every={every}", "log_every=10", *where)
    print(out.strip(), f"({(time.time() - t0) / 60:.1f} min)")


def score(runs: Path, device: str = "cpu") -> None:
    """Every finished run: its held-out tiles through predict-tiles and evaluate, its held-out surveys
    section by section (held_out_scores, on `device`); -> RUNS/figures.json."""
    from hpcfault.tasks.salt import evaluate

    d = runs / "data"
    path = runs / "figures.json"
    rows = json.loads(path.read_text()) if path.exists() else {}
    for run in sorted(p.name for p in runs.iterdir() if (p / "checkpoints" / "model.pt").exists()):
        ck = runs / run / "checkpoints" / "model.pt"
        stamp = (runs / run / "checkpoints" / "model.pt").stat().st_mtime
        if rows.get(run, {}).get("stamp") == stamp:
            continue
        res: dict = {"stamp": stamp}
        csv = runs / run / "tgs-heldout.csv"
        hpcfault("predict-tiles", d / "tgs-heldout", "-m", ck, "-o", csv)
        rep = evaluate(str(csv), str(d / "tgs-heldout"))
        res["tiles"] = {**rep["scores"], "images": rep["images"]}
        res["sections"] = held_out_scores(ck, d, device)
        rows[run] = res
        print(run, json.dumps({"tiles": res["tiles"], "average": res["sections"]["average"]}))
        path.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {path}")
    for run, r in rows.items():
        t, a = r["tiles"], r["sections"]
        print(f"{run:<18} tiles IoU {t['iou']:.3f} TGS {t['tgs']:.3f} | sections IoU il {a['inline']['iou']:.3f} "
              f"xl {a['xline']['iou']:.3f} avg {a['average']['iou']:.3f} TGS {a['average']['tgs']:.3f} | salt-free "
              f"{100 * r['sections']['salt_free']['average']['salt_share']:.2f} %")


def held_out_scores(ck: Path, d: Path, device: str = "cpu") -> dict:
    """Scores of checkpoint `ck` on the held-out surveys of data dir `d` (every inline, every
    crossline, averaged), pooled over the surveys, and the salt-free survey's salt share."""
    import h5py

    from hpcfault.models import load_model, read_checkpoint
    from hpcfault.tasks.salt import metrics as sm
    from hpcfault.tasks.salt.scoring import section_counts
    from hpcfault.tasks.salt.sections import predict_sections
    from hpcfault.train.validate import scale01

    model = load_model(ck, device=device)
    th = float(read_checkpoint(ck)["provenance"].get("threshold", 0.5))
    j = sm.nearest_index(sm.DEFAULT_THRESHOLDS, th)
    pooled: dict = {}
    out: dict = {"threshold": th}
    for name in [f"heldout-{s}" for s in HELDOUT_SEEDS] + ["saltfree-3000"]:
        with h5py.File(d / f"{name}.h5") as f:
            seismic, truth = scale01(f["data"][...]), f["salt"][...]
        for view, prob in predict_sections(model, seismic).items():
            if name.startswith("saltfree"):
                out.setdefault("salt_free", {})[view] = {"salt_share": float((prob >= th).mean())}
                continue
            counts = sm.empty_counts()
            for k in range(prob.shape[1]):                      # inline sections, 101-pixel tiles for the TGS metric
                counts = sm.add(counts, section_counts(prob[:, k], truth[:, k], None, 101))
            pooled[view] = sm.add(pooled.get(view, sm.empty_counts()), counts)
            out.setdefault("surveys", {}).setdefault(name, {})[view] = sm.scores_at(counts, j)
    for view, counts in pooled.items():
        out[view] = sm.scores_at(counts, j)
    return out


def install(runs: Path, run: str, last: bool = False) -> None:
    """Copy RUNS/RUN's best checkpoint (`last`: its final one, model.pt) to
    hpcfault/assets/salt-default.pt with its record."""
    import hashlib
    import platform
    import shutil

    import yaml

    from hpcfault.models import read_checkpoint

    run_dir = Path(run) if Path(run).is_dir() else runs / run      # a run folder, or a run under RUNS
    best = run_dir / "checkpoints" / "best.pt"
    ck = best if best.exists() and not last else run_dir / "checkpoints" / "model.pt"
    dest = REPO / "hpcfault" / "assets" / "salt-default.pt"
    shutil.copyfile(ck, dest)
    payload = read_checkpoint(dest)
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    from hpcfault.models import count_parameters, model_from_checkpoint

    params = count_parameters(model_from_checkpoint(payload))
    rec = {"model": f"unet-resnet18 at a quarter width (encoder 16-128 channels, decoder 64/32/16/8/4), {params:,} "
                    "parameters, flip TTA",
           "checkpoint_sha256": hashlib.sha256(dest.read_bytes()).hexdigest(), "checkpoint": ck.name,
           "recipe": "configs/train-salt-default.yaml", "config": cfg,
           "trained": {"steps": payload["provenance"]["step"], "tiles": payload["provenance"]["step"] * cfg["batch"],
                       "wall_s": round(train[-1]["time"] - records[0]["time"]) if train else None,
                       "machine": f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs, "
                                  f"{cfg.get('threads', 1)} thread(s), nice 10"},
           "validation": payload["provenance"].get("val"),
           "held_out_data": "tools/salt_figures.py data: surveys heldout-2000 ... 2005 (salt family, 192x160x160) and "
                            "saltfree-3000; every inline and crossline section, scored over inline sections"}
    sj = runs / "surveys.json"
    scored = json.loads(sj.read_text()) if sj.exists() else {}
    if scored.get("checkpoint_sha256") == rec["checkpoint_sha256"]:    # `surveys` scored this very checkpoint
        free = scored["surveys"]["saltfree-3000"]
        rec["held_out"] = {"threshold": scored["threshold"], **{v: scored[v] for v in ("inline", "xline", "average")},
                           "salt_free": {v: {"salt_share": free[v]["salt_share"]} for v in ("inline", "xline", "average")},
                           "surveys": scored["surveys"], "tiles": scored["tiles"],
                           "by": "tools/salt_figures.py surveys: hpcfault predict --axes-2d, predict-tiles, evaluate"}
    else:
        rec["held_out"] = held_out_scores(dest, runs / "data")
    (dest.with_suffix(".json")).write_text(json.dumps(rec, indent=1) + "\n")
    print(f"installed {dest} ({dest.stat().st_size / 2**20:.1f} MiB) and {dest.with_suffix('.json').name}: "
          f"held-out IoU {rec['held_out']['average']['iou']:.3f}, TGS {rec['held_out']['average']['tgs']:.3f}")


def predictions_dir(runs: Path, sha256: str) -> Path:
    """Where `surveys` keeps one checkpoint's predictions (named by its sha256)."""
    return runs / "surveys" / sha256[:16]


def surveys(runs: Path, ck: Path) -> None:
    """The held-out surveys and the salt-free one through the real commands: `hpcfault predict` with
    --axes-2d inline, xline and inline,xline (the default), each volume scored by `hpcfault
    evaluate` (pixels; TGS metric over 101-pixel tiles of every inline section); the held-out and
    salt-free tile folders through `hpcfault predict-tiles` and evaluate; -> RUNS/surveys.json."""
    import math

    from hpcfault.models import read_checkpoint

    import hashlib

    sha = hashlib.sha256(ck.read_bytes()).hexdigest()
    d, out = runs / "data", predictions_dir(runs, sha)     # predictions on disk are reused for this checkpoint only
    out.mkdir(parents=True, exist_ok=True)
    views = {"inline": "inline", "xline": "xline", "average": "inline,xline"}
    th = round(float(read_checkpoint(ck)["provenance"].get("threshold", 0.5)) * 20) / 20   # evaluate's 0.05 grid
    rows: dict = {"model": str(ck), "checkpoint_sha256": sha, "threshold": th, "surveys": {}, "tiles": {}}
    for folder in ("tgs-heldout", "tgs-saltfree"):
        csv = out / f"{folder}.csv"
        if not csv.exists():
            hpcfault("predict-tiles", d / folder, "-m", ck, "-o", csv)
        rep = out / f"{folder}.json"
        hpcfault("evaluate", csv, d / folder, "--json", rep)
        r = json.loads(rep.read_text())
        rows["tiles"][folder] = {**r["scores"], "images": r["images"], "pixels": r["pixels"],
                                 "tiles_with_salt_called": None}
        if folder == "tgs-saltfree":   # tiles of a salt-free survey in which the model calls any salt
            rows["tiles"][folder]["tiles_with_salt_called"] = sum(1 for line in csv.read_text().splitlines()[1:]
                                                                  if line.split(",", 1)[1].strip())
    pooled: dict = {}
    for name in [f"heldout-{s}" for s in HELDOUT_SEEDS] + ["saltfree-3000"]:
        for view, axes in views.items():
            pred = out / f"{name}-{view}.h5"
            if not pred.exists():
                hpcfault("predict", d / f"{name}.h5", "-m", ck, "-o", pred, "--axes-2d", axes, "--no-progress",
                         "--threads", "1")
            rep = out / f"{name}-{view}.json"
            hpcfault("evaluate", pred, d / f"{name}.h5", "--threshold", th, "--json", rep)
            r = json.loads(rep.read_text())
            rows["surveys"].setdefault(name, {})[view] = {**r["scores"], "images": r["images"], "pixels": r["pixels"],
                                                          "salt_share": r["pixels"]["fp"] / math.prod(r["shape"])}
            if name.startswith("heldout"):
                p = pooled.setdefault(view, {"tp": 0, "fp": 0, "fn": 0, "tgs_sum": 0.0, "images": 0})
                for k in ("tp", "fp", "fn"):
                    p[k] += r["pixels"][k]
                p["tgs_sum"] += r["scores"]["tgs"] * r["images"]
                p["images"] += r["images"]
    for view, p in pooled.items():
        rows[view] = {"iou": p["tp"] / max(p["tp"] + p["fp"] + p["fn"], 1),
                      "dice": 2 * p["tp"] / max(2 * p["tp"] + p["fp"] + p["fn"], 1),
                      "precision": p["tp"] / max(p["tp"] + p["fp"], 1), "recall": p["tp"] / max(p["tp"] + p["fn"], 1),
                      "tgs": p["tgs_sum"] / p["images"]}
    (runs / "surveys.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(f"{'survey':<16}" + "".join(f"{v:>22}" for v in views))
    for name, r in rows["surveys"].items():
        if name.startswith("saltfree"):
            print(f"{name:<16}" + "".join(f"{'salt share ' + format(100 * r[v]['salt_share'], '.2f') + ' %':>22}"
                                          for v in views))
        else:
            print(f"{name:<16}" + "".join(f"{'IoU ' + format(r[v]['iou'], '.3f') + ' TGS ' + format(r[v]['tgs'], '.3f'):>22}"
                                          for v in views))
    print(f"{'pooled':<16}" + "".join(f"{'IoU ' + format(rows[v]['iou'], '.3f') + ' TGS ' + format(rows[v]['tgs'], '.3f'):>22}"
                                      for v in views))
    for folder, r in rows["tiles"].items():
        print(f"{folder:<16} {r['images']} tiles: IoU {r['iou']:.3f} Dice {r['dice']:.3f} TGS {r['tgs']:.3f}"
              + (f", salt called in {r['tiles_with_salt_called']}" if r["tiles_with_salt_called"] is not None else ""))
    print(f"wrote {runs / 'surveys.json'}")


def pictures(runs: Path) -> None:
    """docs/figures/salt-synthetic.png (inline sections of four synthetic salt surveys through a
    body, labels outlined) and, when `surveys` has run, docs/figures/salt-heldout.png (a held-out
    survey's inline and crossline section, of the one with the most salt: truth and the inline-only,
    crossline-only and averaged predictions of the default model)."""
    import h5py
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from hpcfault.data.synth import SynthModel
    from hpcfault.data.synth_config import synth_config

    figs = REPO / "docs" / "figures"
    shape = tuple(int(v) for v in SHAPE)
    fig, axs = plt.subplots(1, 4, figsize=(16, 4.4))
    for ax, seed in zip(axs, (1, 7, 6, 4)):
        m = SynthModel(shape, seed, synth_config("salt"))
        bodies = m.params["salt"]["bodies"]
        k = int(np.clip(round(bodies[0]["inline"]), 0, shape[1] - 1))
        v = m.render_volumes(slice(None), slice(k, k + 1), slice(None))
        sec, salt = v["seismic"][:, 0], v["salt"][:, 0]
        c = float(np.percentile(np.abs(sec), 99))
        ax.imshow(sec, cmap="gray", vmin=-c, vmax=c, aspect="auto")
        ax.contour(salt, levels=[0.5], colors="orange", linewidths=1.2)
        ax.set_title(f"seed {seed}: {', '.join(b['kind'] for b in bodies)}, {m.wavelet_kind} {m.peak_hz:.0f} Hz",
                     fontsize=9)
        ax.set_xlabel("crossline index")
    axs[0].set_ylabel("time sample")
    fig.suptitle(f"hpcfault synth --family salt ({' x '.join(SHAPE)}): inline sections through a body; "
                 "salt labels outlined", fontsize=10)
    fig.tight_layout()
    fig.savefig(figs / "salt-synthetic.png", dpi=70)
    plt.close(fig)
    print(f"wrote {figs / 'salt-synthetic.png'}")
    sj = runs / "surveys.json"
    out = predictions_dir(runs, json.loads(sj.read_text())["checkpoint_sha256"]) if sj.exists() else runs / "surveys"
    if not all((out / f"heldout-{s}-average.h5").exists() for s in HELDOUT_SEEDS):
        print("no held-out predictions: run 'surveys' first for salt-heldout.png")
        return
    shares = {}
    for s in HELDOUT_SEEDS:                    # the held-out survey with the most salt
        with h5py.File(runs / "data" / f"heldout-{s}.h5") as f:
            shares[f"heldout-{s}"] = float(f["salt"][...].mean())
    name = max(shares, key=shares.get)
    with h5py.File(runs / "data" / f"{name}.h5") as f:
        seis, truth = f["data"][...], f["salt"][...]
    probs = {}
    for view in ("inline", "xline", "average"):
        with h5py.File(out / f"{name}-{view}.h5") as f:
            probs[view] = f["salt"][...]
    k = int(np.argmax(truth.sum(axis=(0, 2))))          # the inline with the most salt, the crossline likewise
    j = int(np.argmax(truth.sum(axis=(0, 1))))
    th = json.loads((out / f"{name}-average.json").read_text())["threshold"]
    fig, axs = plt.subplots(2, 4, figsize=(16, 8.4))
    for row, (cut, where, lateral) in enumerate(((lambda a: a[:, k, :], f"inline {k}", "crossline index"),
                                                  (lambda a: a[:, :, j], f"crossline {j}", "inline index"))):
        sec = cut(seis)
        c = float(np.percentile(np.abs(sec), 99))
        axs[row, 0].imshow(sec, cmap="gray", vmin=-c, vmax=c, aspect="auto")
        axs[row, 0].contour(cut(truth), levels=[0.5], colors="orange", linewidths=1.2)
        axs[row, 0].set_title(f"{name}, {where}: seismic, salt labels (orange)", fontsize=9)
        for col, view in enumerate(("inline", "xline", "average"), start=1):
            ax = axs[row, col]
            ax.imshow(cut(probs[view]), cmap="magma", vmin=0, vmax=1, aspect="auto")
            ax.contour(cut(truth), levels=[0.5], colors="cyan", linewidths=1.0)
            r = json.loads((out / f"{name}-{view}.json").read_text())["scores"]
            what = {"inline": "inline sections", "xline": "crossline sections", "average": "both, averaged"}[view]
            ax.set_title(f"{what}: survey IoU {r['iou']:.3f}, TGS {r['tgs']:.3f}", fontsize=9)
        for ax in axs[row]:
            ax.set_xlabel(lateral)
        axs[row, 0].set_ylabel("time sample")
    fig.suptitle(f"the default salt model on a held-out survey (hpcfault predict --axes-2d inline / xline / "
                 f"inline,xline): salt probability, labels in cyan; threshold {th:g}", fontsize=10)
    fig.tight_layout()
    fig.savefig(figs / "salt-heldout.png", dpi=70)
    plt.close(fig)
    print(f"wrote {figs / 'salt-heldout.png'}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("data", "train", "score", "install", "surveys", "pictures"))
    p.add_argument("runs", type=Path)
    p.add_argument("run", nargs="?", help="train: MODEL-RECIPE[-sections], MODEL r18, r34, r18w16 or r34w16, RECIPE seed or improved; "
                                          "surveys: a checkpoint (default: the embedded salt model)")
    p.add_argument("--held-out-only", action="store_true", help="data: only the held-out and salt-free surveys")
    p.add_argument("--sections", action="store_true", help="data: also the surveys of the MODEL-RECIPE-sections runs "
                                                          "(made in --workers processes)")
    p.add_argument("--last", action="store_true", help="install: the run's final weights (model.pt), not best.pt")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                   help="train, score: cpu (the CPU-scaled runs) or cuda (the recipe's full length on a GPU)")
    p.add_argument("--workers", type=int, default=2, help="train on cuda: processes preparing the batches; "
                                                          "data --sections: processes making surveys")
    p.add_argument("--steps", type=int, default=0, help="train: this many steps (a trial; default the figures' length)")
    a = p.parse_args(argv)
    if a.what == "data":
        data(a.runs, a.held_out_only, a.sections, a.workers)
    elif a.what == "surveys":
        from hpcfault.tasks.salt import DEFAULT_MODEL

        surveys(a.runs, Path(a.run) if a.run else DEFAULT_MODEL)
    elif a.what == "pictures":
        pictures(a.runs)
    elif a.what == "train":
        runs = [f"{m}-{r}{on}" for m in MODELS for r in RECIPES for on in ("", "-sections")]
        if a.run not in runs:
            p.error(f"give a run: {', '.join(runs)} (got {a.run})")
        train(a.runs, a.run, a.device, a.workers, a.steps)
    elif a.what == "install":
        install(a.runs, a.run or "default", a.last)
    else:
        score(a.runs, a.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
