#!/usr/bin/env bash
# Reproduce the embedded default fault model (hpcfault/assets/faultnet-default.pt and its .json).
#
#   tools/train_default.sh [RUN_DIR] [--install]
#
# 1. trains stages 1-5 (configs/train-default-stageN.yaml, stage N into RUN_DIR-stageN from stage
#    N-1's weights, the last one into RUN_DIR itself; default RUN_DIR runs/default; rerunning
#    resumes any of them) with PROCS processes (DDP over gloo) under mpiexec;
# 2. picks best.pt or model.pt of the last stage by validation IoU on the run's validation seeds
#    (scored again here; best.pt only when it is a step of this stage, not its starting weights);
# 3. runs the held-out generalization panel (tools/bench_generalization.py: families the training
#    never used, fault-free volumes, the real f3 crop) with the picked checkpoint and, when
#    ../shared/weights is there, the published gamma-0.7 weights side by side;
# 4. writes RUN_DIR/faultnet-default.json (recipe, steps, wall time, data, figures, sha256) and
#    RUN_DIR/curves.png;
# 5. with --install, copies them to hpcfault/assets/ and docs/figures/default-training.png.
#
# Environment: PYTHON (default .venv/bin/python), THREADS (torch threads per process, default 1),
# PROCS (training processes under mpiexec, default 2: DDP over gloo on a 2-core machine),
# GEN_VOLUMES (volumes per held-out family, default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=runs/default
INSTALL=0
for arg in "$@"; do
  case "$arg" in
    --install) INSTALL=1 ;;
    -h|--help) sed -n 2,20p "$0"; exit 0 ;;
    *) RUN="$arg" ;;
  esac
done
PY=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=${THREADS:-1}

start=$(date +%s)
MPIEXEC=${MPIEXEC:-$(dirname "$PY")/mpiexec}
export STAGES=5       # configs/train-default-stage1..5.yaml; the last one trains into RUN itself
previous=""
for n in $(seq 1 "$STAGES"); do
  dir="$RUN-stage$n"
  [ "$n" = "$STAGES" ] && dir="$RUN"
  "$MPIEXEC" -n "${PROCS:-2}" "$PY" -m hpcfault train "configs/train-default-stage$n.yaml" --run-dir "$dir" \
      ${previous:+init="$previous/checkpoints/model.pt"} threads="$OMP_NUM_THREADS"
  previous=$dir
done
echo "training command took $(( $(date +%s) - start )) s (this invocation)"

# Which checkpoint: best.pt (best validation IoU during the run) or model.pt (last step), scored
# again on the run's validation surveys (the same code the run used).
"$PY" - "$RUN" <<'EOF'
import json, sys
from pathlib import Path

import torch
import yaml

from hpcfault.config import from_mapping
from hpcfault.models import load_model, read_checkpoint, save_checkpoint
from hpcfault.train.config import ValidationConfig
from hpcfault.train.ddp import setup
from hpcfault.cluster.rankenv import read_rank_env
from hpcfault.train.validate import load_held_out, validate

run = Path(sys.argv[1])
cfg = yaml.safe_load((run / "config.yaml").read_text())
val = from_mapping(ValidationConfig, cfg["validation"], "validation")
held = load_held_out(val, 0, 1)
d = setup(read_rank_env(), "cpu")
out = {}
for name in ("best.pt", "model.pt"):
    s = validate(load_model(run / "checkpoints" / name), held, val, d, None)
    out[name] = {k: round(v, 4) for k, v in s.items() if k in ("iou", "precision", "recall", "tol_iou")}
    print(f"validation {name}: IoU {out[name]['iou']:.4f} Tol-IoU {out[name]['tol_iou']:.4f}")
recs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
best_step = max((r for r in recs if r["kind"] == "val"), key=lambda r: r["iou"])["step"]
# best.pt at step 0 holds the weights the stage started from: then the stage's own last weights
pick = max(out, key=lambda n: out[n]["iou"]) if best_step > 0 else "model.pt"
ck = read_checkpoint(run / "checkpoints" / pick)
steps = max(r["step"] for r in recs)
sources = [{k: s[k] for k in ("kind", "family", "weight", "shape", "synth") if s.get(k) not in (None, {}, "")}
           for s in cfg["data"]["sources"]]
prov = {**ck["provenance"], "selected": f"{pick} by validation IoU {out[pick]['iou']}",
        "recipe": "configs/train-default-stage{1,2,3,4,5}.yaml (tools/train_default.sh)", "steps": steps,
        "cubes_seen": steps * int(cfg["batch"]), "cube": cfg["data"]["cube"],
        "data": {"labels": "dense (synthetic)", "sources": sources},
        "training_wall_s": round(recs[-1]["time"] - recs[0]["time"], 1)}
save_checkpoint(run / "checkpoints" / "default.pt", load_model(run / "checkpoints" / pick), ck["model"], ck["config"],
                prov, task=ck["task"])
(run / "revalidation.json").write_text(json.dumps({"scores": out, "picked": pick}, indent=1) + "\n")
print(f"default = {pick}")
EOF

"$PY" tools/bench_generalization.py -m "$RUN/checkpoints/default.pt" --volumes "${GEN_VOLUMES:-3}" \
    --threads "$OMP_NUM_THREADS" --work "$RUN/generalization" --json "$RUN/generalization.json"
"$PY" -m hpcfault plot-metrics "$RUN" -o "$RUN/curves.png" --title "default model, stage 5: configs/train-default-stage5.yaml"

"$PY" - "$RUN" <<'EOF'
import hashlib, json, os, platform, sys
from pathlib import Path

import torch
import yaml

run = Path(sys.argv[1])
recs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
val = [r for r in recs if r["kind"] == "val"]
train = [r for r in recs if r["kind"] == "train"]
reval = json.loads((run / "revalidation.json").read_text())
ckpt = run / "checkpoints" / "default.pt"
best = max((r for r in val if r["step"] > 0), key=lambda r: r["iou"])
steps = max(r["step"] for r in recs)
picked_step = best["step"] if reval["picked"] == "best.pt" else steps


def records(path):
    return [json.loads(x) for x in (path / "metrics.jsonl").read_text().splitlines() if x.strip()]


def wall(path):
    rs = records(path)
    return round(rs[-1]["time"] - rs[0]["time"], 1)


def stage(n):
    path = Path(f"{run}-stage{n}")
    return {"config": yaml.safe_load((path / "config.yaml").read_text()),
            "steps": max(r["step"] for r in records(path)), "training_wall_s": wall(path)}


cpu = platform.machine()
for line in Path("/proc/cpuinfo").read_text().splitlines():
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
config = yaml.safe_load((run / "config.yaml").read_text())
earlier = {f"stage{n}": stage(n) for n in range(1, int(os.environ["STAGES"]))}   # all but the last, which is `run`
info = {
    "model": "faultnet (published configuration: widths 8/16/24, 421,597 parameters)",
    "task": "fault",
    "checkpoint_sha256": hashlib.sha256(ckpt.read_bytes()).hexdigest(),
    "recipe": "configs/train-default-stage1.yaml (to step 901 of 2000), then configs/train-default-stage2.yaml "
              "from its weights, then configs/train-default-stage3.yaml from stage 2's, then "
              "configs/train-default-stage4.yaml from stage 3's, then configs/train-default-stage5.yaml from stage 4's",
    "config": config,
    "reproduce": "tools/train_default.sh runs/default --install",
    "data": "dense labels on synthetic surveys drawn afresh for every cube (hpcfault/data/synth_config.py), "
            "64^3 boxes of 128^3 models; stage 1: 45 % the 'train' family (fault-free volumes included; "
            "without facies changes, channels and mutes), 30 % its fault-rich variant (4-10 faults), 25 % the "
            "'classic' FaultSeg3D-like family; stage 2: 50 % / 30 % / 20 % of the same with facies changes, "
            "channels and mutes; stage 3: 40 % the 'train' family, 35 % its noisy variant (0-12 dB, 10 % "
            "fault-free), 25 % its fault-rich variant, all with a random gain per trace on noisy volumes, "
            "fault voxels weighed 3 in the BCE term; stage 4: stage 3's mix (75 %) and 25 % volumes with acquisition "
            "footprint of 11-32 traces period (the held-out panel keeps 4-10); stage 5: stage 4's mix with 30 % "
            "of the cubes given the amplitude of a region of a survey scaled as a whole (data.gain_prob: a "
            "contrast of 0.05-1.5 and a ramp of up to 12x along time, clipped)",
    **earlier,
    "checkpoint": f"{reval['picked']} of the run (step {picked_step})", "step": picked_step, "steps": steps,
    "cubes_seen": (sum(e["steps"] for e in earlier.values()) + steps) * int(config["batch"]),
    "validation": reval["scores"],
    "validation_in_run_best": {k: best[k] for k in ("step", "iou", "tol_iou")},
    "generalization": json.loads((run / "generalization.json").read_text()),
    "generalization_command": "tools/bench_generalization.py -m CHECKPOINT --volumes 3",
    "training_wall_s": round(train[-1]["time"] - val[0]["time"], 1) if train else None,
    "mean_cubes_per_s": round(sum(r["cubes_per_s"] for r in train) / len(train), 3) if train else None,
    "machine": f"{cpu}, {os.cpu_count()} cores (shared with other jobs while training)",
    "torch": torch.__version__,
    "processes": int(os.environ.get("PROCS", "2")),
    "threads": int(os.environ.get("OMP_NUM_THREADS", "1")),
}
(run / "faultnet-default.json").write_text(json.dumps(info, indent=1) + "\n")
print(json.dumps({k: info[k] for k in ("checkpoint", "validation", "training_wall_s", "cubes_seen")}, indent=1))
EOF

if [ "$INSTALL" = 1 ]; then
  mkdir -p hpcfault/assets docs/figures
  cp "$RUN/checkpoints/default.pt" hpcfault/assets/faultnet-default.pt
  cp "$RUN/faultnet-default.json" hpcfault/assets/faultnet-default.json
  cp "$RUN/curves.png" docs/figures/default-training.png
  echo "installed hpcfault/assets/faultnet-default.pt (+ .json) and docs/figures/default-training.png"
fi
