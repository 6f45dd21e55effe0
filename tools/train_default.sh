#!/usr/bin/env bash
# Reproduce the embedded default model (hpcfault/assets/faultnet-default.pt and its .json).
#
#   tools/train_default.sh [RUN_DIR] [--install]
#
# 1. trains configs/train-default.yaml into RUN_DIR (default runs/default; rerunning resumes);
# 2. scores the best checkpoint (by validation IoU on seeds 9001/9002) on three HELD-OUT synthetic
#    surveys of 128^3 (seeds 9101-9103, used neither for training nor for choosing the checkpoint)
#    with `hpcfault predict` + `hpcfault evaluate`, and the imported published gamma-0.7 weights on
#    the same surveys when ../shared/weights/FaultNet_Gamma0.7.pt is there;
# 3. writes RUN_DIR/faultnet-default.json (recipe, figures, wall time, sha256) and RUN_DIR/curves.png;
# 4. with --install, copies them to hpcfault/assets/ and docs/figures/default-training.png.
#
# Environment: PYTHON (default .venv/bin/python), THREADS (torch threads, default 1).
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
"$PY" -m hpcfault train configs/train-default.yaml --run-dir "$RUN" threads="$OMP_NUM_THREADS"
echo "training command took $(( $(date +%s) - start )) s (this invocation)"

EVAL="$RUN/heldout"
mkdir -p "$EVAL"
models=(default)
[ -f "$WEIGHTS" ] && { "$PY" -m hpcfault import-weights "$WEIGHTS" -o "$EVAL/published-g07.pt"; models+=(published-g07); }
for seed in 9101 9102 9103; do
  [ -f "$EVAL/s$seed.h5" ] || "$PY" -m hpcfault synth "$EVAL/s$seed.h5" --shape 128 128 128 --seed "$seed" --no-progress
  for m in "${models[@]}"; do
    ckpt="$RUN/checkpoints/best.pt"; [ "$m" = default ] || ckpt="$EVAL/$m.pt"
    "$PY" -m hpcfault predict "$EVAL/s$seed.h5" -m "$ckpt" -o "$EVAL/$m-p$seed.h5" --block 128 \
        --threads "$OMP_NUM_THREADS" --restart --no-progress
    "$PY" -m hpcfault evaluate "$EVAL/$m-p$seed.h5" "$EVAL/s$seed.h5" --json "$EVAL/$m-e$seed.json" > /dev/null
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
best = max((r for r in val if r["step"] > 0), key=lambda r: r["iou"])
ckpt = run / "checkpoints" / "best.pt"


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
    "best_step": best["step"], "steps": max(r["step"] for r in recs),
    "validation_at_best": {k: best[k] for k in ("iou", "precision", "recall", "tol_iou")},
    "validation_set": "synthetic seeds 9001, 9002, 64x128x128, dense labels (chooses the checkpoint)",
    "held_out_set": "synthetic seeds 9101, 9102, 9103, 128x128x128, dense labels; hpcfault predict --block 128 + "
                    "hpcfault evaluate (threshold 0.5, Tol-IoU radius 2)",
    "held_out": held_out("default"),
    "published_g07_same_held_out": held_out("published-g07"),
    "training_wall_s": round(train[-1]["time"] - val[0]["time"], 1) if train else None,
    "mean_cubes_per_s": round(sum(r["cubes_per_s"] for r in train) / len(train), 3) if train else None,
    "machine": f"{cpu}, {os.cpu_count()} cores (shared with other jobs while training)",
    "torch": torch.__version__,
    "threads": int(os.environ.get("OMP_NUM_THREADS", "1")),
}
(run / "faultnet-default.json").write_text(json.dumps(info, indent=1) + "\n")
print(json.dumps({k: info[k] for k in ("best_step", "validation_at_best", "held_out", "training_wall_s")}, indent=1))
EOF

if [ "$INSTALL" = 1 ]; then
  mkdir -p hpcfault/assets docs/figures
  cp "$RUN/checkpoints/best.pt" hpcfault/assets/faultnet-default.pt
  cp "$RUN/faultnet-default.json" hpcfault/assets/faultnet-default.json
  cp "$RUN/curves.png" docs/figures/default-training.png
  echo "installed hpcfault/assets/faultnet-default.pt (+ .json) and docs/figures/default-training.png"
fi
