#!/usr/bin/env bash
# Multi-task interpretation on a synthetic survey (docs/multitask.md), one line per step:
#   synth (degraded input + clean targets) -> MPI predict with the embedded MTI model (DHR, RGT,
#   fault probability, dip, strike; HDF5 + PNG per output) -> scores against the targets -> horizons
# Usage: bash tools/demo_multitask.sh [OUTDIR]   (make demo-multitask runs it in the virtual environment)
# DEMO_SHAPE="64 128 128" another survey size, DEMO_RANKS=N another rank count, DEMO_ITER=k also applies the
# shipped MTR (hpcfault/assets/multitask-refine-cpu.pt) k times (level with the MTI at k=1, worse after).
set -euo pipefail
out=${1:-demo-out/multitask}
ranks=${DEMO_RANKS:-2}
shape=${DEMO_SHAPE:-"64 96 96"}
iterations=${DEMO_ITER:-0}
mkdir -p "$out"
out=$(cd "$out" && pwd)
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
run() {   # run NAME COMMAND...: quietly, its output shown only on failure
    local name=$1
    shift
    if ! "$@" > "$logs/$name.log" 2>&1; then
        echo "demo: step $name failed: $*" >&2
        cat "$logs/$name.log" >&2
        exit 1
    fi
}
fig() { python -c "import json, sys; d = json.load(open(sys.argv[1])); print($2)" "$1"; }

echo "hpcfault multitask demo: a ${shape// /x} synthetic survey, into $out"
run synth hpcfault synth "$out/survey.h5" --family multitask --shape $shape --seed 9407 --no-progress
echo "1/4 synth     degraded input (data) and its targets: dhr, rgt, labels, fault_dip, fault_strike (survey.h5)"

refine=()
models="the embedded MTI"
if [ "$iterations" -gt 0 ]; then
    mtr=$(python -c "import hpcfault.infer.config as c; print(c.ASSETS / 'multitask-refine-cpu.pt')")
    refine=(-m "$(python -c "import hpcfault.infer.config as c; print(c.default_model('multitask'))")" \
            --refine "$mtr" --refine-iterations "$iterations")
    models="the embedded MTI + MTR x$iterations"
fi
run predict mpiexec -n "$ranks" hpcfault predict "$out/survey.h5" --task multitask "${refine[@]}" \
    -o "$out/mt.h5" --png "$out/png" --restart --no-progress
echo "2/4 predict   $(fig "$out/mt.summary.json" "f\"{d['blocks']} blocks on {d['ranks']} MPI ranks\""):" \
     "fault, fault_dip, fault_strike, rgt, dhr in mt.h5 ($models), png/"

run evaluate hpcfault evaluate "$out/mt.h5" "$out/survey.h5" --json "$out/scores.json"
echo "3/4 evaluate  $(fig "$out/scores.json" "f\"DHR SSIM {d['dhr']['ssim']:.2f} (input {d['dhr']['input_ssim']:.2f}), \
RGT MAE {d['rgt']['mae']:.3f}, fault Tol-IoU@2 {d['fault']['scores']['tol_iou']:.2f}, \
dip error {d['fault_dip']['mae_deg']:.1f} deg\"") (scores.json)"

run horizons hpcfault horizons "$out/mt.h5" --values 0.2 0.4 0.6 0.8 -o "$out/horizons"
echo "4/4 horizons  iso-RGT 0.2, 0.4, 0.6, 0.8: horizons/horizons.h5 and horizons-V.txt (inline xline x y time)"
