#!/usr/bin/env bash
# The README's main job: a synthetic survey through the whole pipeline on this machine, told as a
# short story (one line per step with its figure, then every file written).
#   synth (HDF5 + SEG-Y) -> convert the SEG-Y -> MPI predict (2 ranks, resumable blocks) -> merged
#   fault volume (HDF5 + SEG-Y + PNG slices) -> scores against the synthetic labels -> labels | prediction
# Usage: bash tools/demo.sh [OUTDIR]   (make demo runs it inside the project's virtual environment)
# DEMO_MODEL=ckpt.pt uses another checkpoint, DEMO_SHAPE="256 256 256" a larger survey,
# DEMO_RANKS=N another rank count. Each command's own output goes to a log, shown only on failure;
# warnings and errors go straight to the terminal.
set -euo pipefail
out=${1:-demo-out}
ranks=${DEMO_RANKS:-2}
shape=${DEMO_SHAPE:-"128 128 128"}
mkdir -p "$out"
out=$(cd "$out" && pwd)
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

now() { printf '%s' "${EPOCHREALTIME:-$(date +%s.%N)}"; }
# step N NAME COMMAND...: run quietly, keep its stdout in $logs/NAME.log, set $took
step() {
    local n=$1 name=$2 t0
    shift 2
    t0=$(now)
    if ! "$@" > "$logs/$name.log"; then
        echo "demo: step $n ($name) failed: $*" >&2
        cat "$logs/$name.log" >&2
        trap - EXIT
        echo "demo: its log is $logs/$name.log" >&2
        exit 1
    fi
    took=$(python -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f} s')" "$t0" "$(now)")
}
line() { printf '%-4s %-9s %-70s %6s\n' "$1" "$2" "$3" "$4"; }
# figures from a JSON file: text=$(fig FILE 'python f-string over d') (an assignment, so set -e applies)
fig() { python -c "import json, sys; d = json.load(open(sys.argv[1])); print($2)" "$1"; }

start=$(now)
echo "hpcfault demo: a ${shape// /x} synthetic survey through the whole pipeline, into $out"

step 1/5 synth hpcfault synth "$out/survey.h5" --shape $shape --seed 7 --segy "$out/survey.sgy"
faults=$(grep -o '[0-9]* faults\?' "$logs/synth.log" | head -1)   # '1 fault', '8 faults'
line 1/5 synth "survey with $faults and their labels (survey.h5), SEG-Y (survey.sgy)" "$took"

step 2/5 convert hpcfault convert "$out/survey.sgy" "$out/survey-from-segy.h5"
missing=$(grep -o 'no missing traces\|[0-9,]* missing traces\? filled with zeros' "$logs/convert.log")
line 2/5 convert "SEG-Y -> volume file (survey-from-segy.h5), $missing" "$took"

model_args=()
model_name="the embedded default model"
if [ -n "${DEMO_MODEL:-}" ]; then
    model_args=(-m "$DEMO_MODEL")
    model_name=$(basename "$DEMO_MODEL")
elif ! python -c "import hpcfault.infer.config as c, pathlib, sys; sys.exit(0 if pathlib.Path(c.DEFAULT_MODEL).is_file() else 1)"; then
    # no embedded default model in this checkout: use the published Fault-Net weights (gamma 0.7)
    pub=$(cd "$(dirname "$0")/.." && pwd)/../shared/weights/FaultNet_Gamma0.7.pt
    step 3/5 import-weights hpcfault import-weights "$pub" -o "$out/faultnet-g07.pt"
    model_args=(-m "$out/faultnet-g07.pt")
    model_name="the published Fault-Net gamma 0.7 (imported into faultnet-g07.pt)"
fi

# --restart: step 1 rewrote the survey, so a work dir left by an earlier demo is another run's
step 3/5 predict mpiexec -n "$ranks" hpcfault predict "$out/survey.sgy" "${model_args[@]}" -o "$out/faults.h5" \
    --block 64 --segy-out "$out/faults.sgy" --png "$out/png" --restart
summary=$out/faults.summary.json
text=$(fig "$summary" "f\"{d['blocks']} blocks of 64^3 on {d['ranks']} MPI ranks at {d['predict_mvox_s']:.1f} Mvox/s \
of model input\"")
line 3/5 predict "$text" "$took"
echo "               model: $model_name; probabilities in faults.h5, faults.sgy, png/"

step 4/5 evaluate hpcfault evaluate "$out/faults.h5" "$out/survey.h5" --json "$out/scores.json"
text=$(fig "$out/scores.json" "f\"IoU@0.5 {d['scores']['iou']:.2f}, Tol-IoU@2 {d['scores']['tol_iou']:.2f} \
against the synthetic labels\"")
line 4/5 evaluate "$text" "$took"

step 5/5 show hpcfault show "$out/survey.h5" --faults "$out/faults.h5" --labels "$out/survey.h5" \
    -o "$out/labels-vs-prediction.png"
line 5/5 show "labels | prediction on three slices (labels-vs-prediction.png)" "$took"

total=$(python -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f} s')" "$start" "$(now)")
echo
echo "outputs in $out (demo took $total; delete the folder when done, or 'make clean'):"
row() { printf '  %-42s %s\n' "$1" "$2"; }
row "survey.h5, survey.sgy" "synthetic survey with fault labels (HDF5), its seismic as SEG-Y"
row "survey-from-segy.h5" "survey.sgy converted back into a volume file"
[ -e "$out/faultnet-g07.pt" ] && row "faultnet-g07.pt" "the imported published weights"
row "faults.h5, faults.sgy" "fault probability in [0, 1] (HDF5; SEG-Y with survey.sgy's headers)"
row "faults.summary.json" "predict's record: blocks, stage times, ranks, memory"
row "scores.json" "the scores of step 4, at every threshold"
row "png/" "slices with the fault overlay, named by their survey numbers:"
row "" "$(cd "$out/png" && echo three-view.png inline-*.png xline-*.png time-*.png)"
row "labels-vs-prediction.png" "labels | prediction"
work=$(fig "$summary" "d['workdir']")
if [ -d "$work" ]; then
    row "$(basename "$work")/ ($(du -sh "$work" | cut -f1))" "predict's ledger and shards; safe to delete now that faults.h5 is complete"
else
    echo "  (predict's work dir $(basename "$work") was removed once faults.h5 was complete and verified)"
fi

# --- fault objects (hpcfault faults, docs/faults.md): a block of its own after the pipeline above ---
echo
step +1 faults hpcfault faults "$out/faults.h5" -o "$out/fault-objects"
text=$(fig "$out/fault-objects/faults.json" "f\"{d['counts']['faults']} fault objects (dip, strike), \
{d['counts']['sticks']} sticks for OpendTect and Petrel\"")
line +1 faults "$text" "$took"
step +2 objects hpcfault show "$out/survey.h5" --faults-ids "$out/fault-objects/fault-ids.h5" \
    -o "$out/fault-objects.png"
line +2 show "fault objects in colour, sticks in white (fault-objects.png)" "$took"
row "fault-objects/" "fault-ids.h5, thinned.h5, faults.csv/.json, points/, sticks/ (OpendTect, Charisma)"
row "fault-objects.png" "the fault objects on three slices"

# ------------------------------------------------------------------------------------------------
# Salt (issue 14): a synthetic salt survey predicted section by section - every inline and every
# crossline, averaged - by the embedded salt model (predict --task salt: a quarter-width
# U-Net-ResNet-18), scored against its salt labels and drawn. DEMO_SALT=0 skips it.
if [ "${DEMO_SALT:-1}" != 0 ]; then
    echo
    echo "hpcfault demo, salt: a ${shape// /x} synthetic salt survey, predicted section by section"
    step S1/4 salt-synth hpcfault synth "$out/salt.h5" --family salt --seed 11 --shape $shape salt.none_prob=0
    bodies=$(grep -o '[0-9]* salt bod[a-z]* ([a-z, ]*)' "$logs/salt-synth.log" | head -1)
    line S1/4 synth "salt survey with $bodies and its salt labels (salt.h5)" "$took"
    step S2/4 salt-predict mpiexec -n "$ranks" hpcfault predict "$out/salt.h5" --task salt \
        -o "$out/salt-pred.h5" --png "$out/salt-png" --restart
    line S2/4 predict "inline and crossline sections of the embedded salt model, averaged (salt-pred.h5)" "$took"
    step S3/4 salt-evaluate hpcfault evaluate "$out/salt-pred.h5" "$out/salt.h5" --json "$out/salt-scores.json"
    text=$(fig "$out/salt-scores.json" "f\"IoU {d['scores']['iou']:.2f}, Dice {d['scores']['dice']:.2f}, TGS metric \
{d['scores']['tgs']:.2f} against the salt labels\"")
    line S3/4 evaluate "$text" "$took"
    step S4/4 salt-show hpcfault show "$out/salt.h5" --faults "$out/salt-pred.h5" --faults-dataset salt \
        --labels "$out/salt.h5" --labels-dataset salt -o "$out/salt-labels-vs-prediction.png"
    line S4/4 show "salt labels | prediction on three slices (salt-labels-vs-prediction.png)" "$took"
    row "salt-pred.h5, salt-png/" "the salt probability (inline and crossline sections averaged) and its pictures"
    row "salt-labels-vs-prediction.png" "salt labels | prediction"
fi
