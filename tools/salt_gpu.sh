#!/usr/bin/env bash
# The full-width salt figures of docs/salt.md on one GPU node, in one command: U-Net-ResNet-18 and
# -34, each with the seed's recipe and the improved one, trained on sections of synthetic surveys
# (the data that reaches the held-out target at a quarter width) or on TGS-layout tiles (`tiles`)
# or both; all runs at once on the node's GPU, then scored on the held-out surveys
# (RUNS/figures.json and a table). A run still training after $STOP_AFTER seconds gets SIGUSR1:
# it checkpoints and stops, and is scored as it stands (its metrics.jsonl says at which step).
#
#   bash tools/salt_gpu.sh RUNS [sections|tiles|both]          # default: sections
#   STEPS=1600 STOP_AFTER=480 WORKERS=3 bash tools/salt_gpu.sh runs/salt-gpu
#
# STEPS: steps per run (default the recipe's 4280 of 32 tiles); WORKERS: processes preparing each
# run's batches (default 3); STOP_AFTER: seconds of training before the stop signal (0: none).
# Python: $HPCFAULT_ENV/bin/python if set, else .venv/bin/python of this checkout, else python3.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${HPCFAULT_ENV:-}" ]; then py="$HPCFAULT_ENV/bin/python"
elif [ -x "$here/.venv/bin/python" ]; then py="$here/.venv/bin/python"
else py=python3; fi
usage="usage: bash tools/salt_gpu.sh RUNS [sections|tiles|both]"
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "salt_gpu.sh: give a runs folder (got $# arguments); $usage" >&2; exit 2; }
runs=${1%/}; which=${2:-sections}
case "$which" in
  sections) names="r18-seed-sections r34-seed-sections r18-improved-sections r34-improved-sections"; data="--held-out-only --sections";;
  tiles) names="r18-seed r34-seed r18-improved r34-improved"; data="";;
  both) names="r18-seed-sections r34-seed-sections r18-improved-sections r34-improved-sections r18-seed r34-seed r18-improved r34-improved"; data="--sections";;
  *) echo "salt_gpu.sh: unknown data (got '$which'); give sections, tiles or both" >&2; exit 2;;
esac
steps=${STEPS:-0}; workers=${WORKERS:-3}; stop_after=${STOP_AFTER:-0}
for v in "$steps" "$workers" "$stop_after"; do
  [[ "$v" =~ ^[0-9]+$ ]] || { echo "salt_gpu.sh: STEPS, WORKERS and STOP_AFTER must be whole numbers (got '$v')" >&2; exit 2; }
done
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
"$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || {
  echo "salt_gpu.sh: needs a GPU (torch sees none); on a CPU run the scaled runs: python tools/salt_figures.py train RUNS r18w16-improved" >&2
  exit 2; }
sf() { "$py" "$here/tools/salt_figures.py" "$@"; }
t0=$(date +%s); since() { echo $(( $(date +%s) - t0 )); }
mkdir -p "$runs"
echo "[$(since) s] data: surveys and tiles in $runs"
# shellcheck disable=SC2086
sf data "$runs" $data --workers "$(( $(nproc) > 2 ? $(nproc) - 1 : 1 ))" > "$runs/data.log"
for name in $names; do
  sf train "$runs" "$name" --device cuda --workers "$workers" --steps "$steps" > "$runs/$name.log" 2>&1 &
done
echo "[$(since) s] training: $names"
training() { pgrep -f "salt_figures.py train $runs " > /dev/null; }
start=$(date +%s)
while training; do
  if [ "$stop_after" -gt 0 ] && [ $(( $(date +%s) - start )) -ge "$stop_after" ]; then
    echo "[$(since) s] $stop_after s of training: stop signal (checkpoint, then scoring)"
    for p in $(pgrep -f "hpcfault train .*--run-dir $runs/"); do    # the trainers, not their batch workers
      parent=$(ps -o ppid= -p "$p" | tr -d ' ')
      pgrep -f "hpcfault train .*--run-dir $runs/" | grep -qx "$parent" || kill -USR1 "$p"
    done
    while training; do sleep 2; done
    break
  fi
  sleep 5
done
for name in $names; do echo "$name: $(tail -n 1 "$runs/$name.log")"; done
echo "[$(since) s] scoring on the held-out surveys"
sf score "$runs" --device cuda | tail -n "$(( $(echo $names | wc -w) + 1 ))"
echo "[$(since) s] done: $runs/figures.json"
