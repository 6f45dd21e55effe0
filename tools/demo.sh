#!/usr/bin/env bash
# The README's main job: a synthetic survey through the whole pipeline on this machine.
#   synth (HDF5 + SEG-Y) -> convert the SEG-Y -> MPI predict (2 ranks, resumable blocks)
#   -> merged fault volume (HDF5 + SEG-Y) -> PNG slices -> scores against the synthetic labels.
# Usage: bash tools/demo.sh [OUTDIR]   (make demo runs it inside the project's virtual environment)
set -euo pipefail
out=${1:-demo-out}
ranks=${DEMO_RANKS:-2}
shape=${DEMO_SHAPE:-"128 128 128"}
mkdir -p "$out"
step() { printf '\n== %s\n' "$*"; }

step "1. synthetic survey ($shape) with fault labels, as HDF5 and SEG-Y"
hpcfault synth "$out/survey.h5" --shape $shape --seed 7 --segy "$out/survey.sgy"

step "2. SEG-Y -> volume file (what a real survey goes through)"
hpcfault convert "$out/survey.sgy" "$out/survey-from-segy.h5"
hpcfault info "$out/survey-from-segy.h5"

model_args=()
if [ -n "${DEMO_MODEL:-}" ]; then
    model_args=(-m "$DEMO_MODEL")
elif ! python -c "import hpcfault.infer.config as c, pathlib, sys; sys.exit(0 if pathlib.Path(c.DEFAULT_MODEL).is_file() else 1)" 2>/dev/null; then
    # no embedded default model in this checkout: use the published Fault-Net weights (gamma 0.7)
    pub=$(cd "$(dirname "$0")/.." && pwd)/../shared/weights/FaultNet_Gamma0.7.pt
    step "no embedded default model: importing the published Fault-Net gamma 0.7 weights"
    hpcfault import-weights "$pub" -o "$out/faultnet-g07.pt"
    model_args=(-m "$out/faultnet-g07.pt")
fi

step "3. fault probabilities with $ranks MPI ranks (blocks, ledger, merge)"
# --restart: step 1 rewrote the survey, so a work dir left by an earlier demo is another run's
mpiexec -n "$ranks" hpcfault predict "$out/survey.sgy" "${model_args[@]}" -o "$out/faults.h5" \
    --block 64 --segy-out "$out/faults.sgy" --png "$out/png" --restart

step "4. scores against the synthetic labels"
hpcfault evaluate "$out/faults.h5" "$out/survey.h5" --json "$out/scores.json"

step "5. a three-view picture"
hpcfault show "$out/survey.h5" --faults "$out/faults.h5" -o "$out/three-view.png"

step "outputs"
for f in survey.h5 survey.sgy faults.h5 faults.sgy scores.json three-view.png png; do
    printf '  %-16s %s\n' "$f" "$(cd "$out" && pwd)/$f"
done

# --- fault objects (hpcfault faults, docs/faults.md): a block of its own after the pipeline above ---
step "6. fault objects: thinned faults, a dip/strike table, sticks for OpendTect and Petrel, a picture"
hpcfault faults "$out/faults.h5" -o "$out/fault-objects"
hpcfault show "$out/survey.h5" --faults-ids "$out/fault-objects/fault-ids.h5" -o "$out/fault-objects.png"
for f in fault-objects/faults.csv fault-objects/sticks/opendtect-all.txt fault-objects/sticks/charisma.txt \
         fault-objects.png; do
    printf '  %-40s %s\n' "$f" "$(cd "$out" && pwd)/$f"
done
