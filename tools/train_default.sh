#!/usr/bin/env bash
# Reproduce the embedded default model (hpcfault/assets/faultnet-default.pt and its .json).
#
#   tools/train_default.sh [RUN_DIR] [--install]
#
# 1. trains configs/train-default.yaml into RUN_DIR (default runs/default; rerunning resumes);
# 2. picks best.pt or model.pt by validation IoU on seeds 9001/9002 (scored again with the current
#    validation code), then scores it on three HELD-OUT synthetic surveys of 128^3 (seeds 9101-9103,
#    used neither for training nor for choosing the checkpoint) with `hpcfault predict` +
#    `hpcfault evaluate`, and the imported published gamma-0.7 weights on the same surveys when
#    ../shared/weights/FaultNet_Gamma0.7.pt is there;
# 3. writes RUN_DIR/faultnet-default.json (recipe, figures, wall time, sha256) and RUN_DIR/curves.png;
# 4. with --install, copies them to hpcfault/assets/ and docs/figures/default-training.png.
#
# Environment: PYTHON (default .venv/bin/python), THREADS (torch threads per process, default 1),
# PROCS (training processes under mpiexec, default 2: DDP over gloo on a 2-core machine).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=runs/default
INSTALL=0
for arg in "$@"; do
  case "$arg" in
    --install) INSTALL=1 ;;
    -h|--help) sed -n 2,15p "$0"; exit 0 ;;
    *) RUN="$arg" ;;
  esac
done
PY=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=${THREADS:-1}
WEIGHTS=../shared/weights/FaultNet_Gamma0.7.pt

start=$(date +%s)
MPIEXEC=${MPIEXEC:-$(dirname "$PY")/mpiexec}
"$MPIEXEC" -n "${PROCS:-2}" "$PY" -m hpcfault train configs/train-default.yaml --run-dir "$RUN" threads="$OMP_NUM_THREADS"
echo "training command took $(( $(date +%s) - start )) s (this invocation)"

# Which checkpoint: best.pt (best validation IoU during the run) or model.pt (last step), scored again
# on the validation seeds with the current validation code (runs made before validation scaled the
# held-out volumes like the training cubes chose best.pt on a min-max scaled validation set).
"$PY" - "$RUN" <<'EOF'
import json, sys
from pathlib import Path

import numpy as np
import torch
import yaml

from hpcfault.data.synth import synthesize
from hpcfault.metrics import score_counts, scores
from hpcfault.models import load_model
from hpcfault.train.validate import scale01

run = Path(sys.argv[1])
val = yaml.safe_load((run / "config.yaml").read_text())["validation"]
out = {}
for name in ("best.pt", "model.pt"):
    model, total = load_model(run / "checkpoints" / name), {}
    for seed in val["synthetic_seeds"]:
        seis, labels, _, _ = synthesize(tuple(val["synthetic_shape"]), seed)
        with torch.inference_mode():
            prob = model(torch.from_numpy(scale01(seis))[None, None])[0, 0].numpy()
        for k, v in score_counts(prob, (labels > 0).astype(np.uint8), None, threshold=0.5, radius=2).items():
            total[k] = total.get(k, 0) + int(v)
    out[name] = {k: round(v, 4) for k, v in scores(total).items()}
    print(f"validation (seeds {val['synthetic_seeds']}) {name}: IoU {out[name]['iou']:.4f} Tol-IoU {out[name]['tol_iou']:.4f}")
pick = max(out, key=lambda n: out[n]["iou"])
# the checkpoint's provenance already records the training cubes' input scaling (the trainer writes
# input_clip_percentile, hpcfault.data.cube_sources); `hpcfault predict` uses it by default
from hpcfault.models import read_checkpoint, save_checkpoint

ck = read_checkpoint(run / "checkpoints" / pick)
prov = {**ck["provenance"], "selected": f"{pick} by validation IoU {out[pick]['iou']}"}
save_checkpoint(run / "checkpoints" / "default.pt", load_model(run / "checkpoints" / pick), ck["model"], ck["config"], prov)
(run / "revalidation.json").write_text(json.dumps({"scores": out, "picked": pick}, indent=1) + "\n")
print(f"default = {pick}")
EOF

# Held-out surveys, predicted as a user would: hpcfault predict + hpcfault evaluate, with the survey
# scaled like the training cubes (--clip-percentile 0.5, what predict picks for this checkpoint by
# itself) and with plain min-max (--clip-percentile 0).
EVAL="$RUN/heldout"
mkdir -p "$EVAL"
models=(default)
[ -f "$WEIGHTS" ] && { "$PY" -m hpcfault import-weights "$WEIGHTS" -o "$EVAL/published-g07.pt"; models+=(published-g07); }
for seed in 9101 9102 9103; do
  [ -f "$EVAL/s$seed.h5" ] || "$PY" -m hpcfault synth "$EVAL/s$seed.h5" --shape 128 128 128 --seed "$seed" --no-progress
  for m in "${models[@]}"; do
    ckpt="$RUN/checkpoints/default.pt"; [ "$m" = default ] || ckpt="$EVAL/$m.pt"
    for norm in clip minmax; do
      opt=(--clip-percentile 0); [ "$norm" = clip ] && opt=(--clip-percentile 0.5)
      "$PY" -m hpcfault predict "$EVAL/s$seed.h5" -m "$ckpt" -o "$EVAL/$m-$norm-p$seed.h5" --block 128 \
          --threads "$OMP_NUM_THREADS" --restart --no-progress "${opt[@]}"
      "$PY" -m hpcfault evaluate "$EVAL/$m-$norm-p$seed.h5" "$EVAL/s$seed.h5" --json "$EVAL/$m-$norm-e$seed.json" > /dev/null
    done
  done
done
"$PY" -m hpcfault plot-metrics "$RUN" -o "$RUN/curves.png" --title "default model: configs/train-default.yaml"

"$PY" - "$RUN" <<'EOF'
import hashlib, json, os, platform, sys
from pathlib import Path

import torch
import yaml

from hpcfault.metrics import scores

run = Path(sys.argv[1])
recs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
val = [r for r in recs if r["kind"] == "val"]
train = [r for r in recs if r["kind"] == "train"]
reval = json.loads((run / "revalidation.json").read_text())
ckpt = run / "checkpoints" / "default.pt"
best = max((r for r in val if r["step"] > 0), key=lambda r: r["iou"])
picked_step = best["step"] if reval["picked"] == "best.pt" else max(r["step"] for r in recs)


def held_out(model):
    files = sorted((run / "heldout").glob(f"{model}-e*.json"))
    if not files:
        return None
    per = {f.stem.split("-e")[-1]: json.loads(f.read_text()) for f in files}
    total = {}
    for rep in per.values():
        for k, v in rep["counts"].items():
            total[k] = total.get(k, 0) + v
    s = scores(total)
    return {"surveys": {seed: {k: round(rep["scores"][k], 4) for k in ("iou", "precision", "recall", "tol_iou")}
                        | {"best_threshold": rep["best_threshold"]} for seed, rep in per.items()},
            "pooled": {k: round(s[k], 4) for k in ("iou", "precision", "recall", "f1", "tol_iou")}}


cpu = platform.machine()
for line in Path("/proc/cpuinfo").read_text().splitlines():
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
info = {
    "model": "faultnet (published configuration: widths 8/16/24, 421,597 parameters)",
    "checkpoint_sha256": hashlib.sha256(ckpt.read_bytes()).hexdigest(),
    "recipe": "configs/train-default.yaml",
    "config": yaml.safe_load((run / "config.yaml").read_text()),
    "reproduce": "tools/train_default.sh runs/default --install",
    "checkpoint": f"{reval['picked']} of the run (step {picked_step})", "step": picked_step,
    "steps": max(r["step"] for r in recs),
    "validation": reval["scores"],
    "validation_set": "synthetic seeds 9001, 9002, 64x128x128, dense labels, scaled like the training cubes "
                      "(chooses between best.pt and model.pt)",
    "validation_in_run_best": {k: best[k] for k in ("step", "iou", "tol_iou")},
    "held_out_set": "synthetic seeds 9101, 9102, 9103, 128x128x128, dense labels; hpcfault predict --block 128 "
                    "[--clip-percentile 0.5] + hpcfault evaluate (threshold 0.5, Tol-IoU radius 2)",
    "held_out": held_out("default-clip"),
    "held_out_minmax": held_out("default-minmax"),
    "published_g07_same_held_out": held_out("published-g07-clip"),
    "published_g07_same_held_out_minmax": held_out("published-g07-minmax"),
    "training_wall_s": round(train[-1]["time"] - val[0]["time"], 1) if train else None,
    "mean_cubes_per_s": round(sum(r["cubes_per_s"] for r in train) / len(train), 3) if train else None,
    "machine": f"{cpu}, {os.cpu_count()} cores (shared with other jobs while training)",
    "torch": torch.__version__,
    "threads": int(os.environ.get("OMP_NUM_THREADS", "1")),
}
(run / "faultnet-default.json").write_text(json.dumps(info, indent=1) + "\n")
print(json.dumps({k: info[k] for k in ("checkpoint", "validation", "held_out", "held_out_minmax",
                                      "published_g07_same_held_out", "published_g07_same_held_out_minmax",
                                      "training_wall_s")}, indent=1))
EOF

if [ "$INSTALL" = 1 ]; then
  mkdir -p hpcfault/assets docs/figures
  cp "$RUN/checkpoints/default.pt" hpcfault/assets/faultnet-default.pt
  cp "$RUN/faultnet-default.json" hpcfault/assets/faultnet-default.json
  cp "$RUN/curves.png" docs/figures/default-training.png
  echo "installed hpcfault/assets/faultnet-default.pt (+ .json) and docs/figures/default-training.png"
fi
