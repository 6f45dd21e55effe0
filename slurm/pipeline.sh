#!/bin/bash
# Submit convert -> predict -> export for one survey as three Slurm jobs chained with
# --dependency=afterok: each starts only when the previous one succeeded; if one fails, the later
# ones are cancelled (--kill-on-invalid-dep=yes). Run it on a login node; it returns at once.
#
#   slurm/pipeline.sh SURVEY OUTDIR [MODEL]
#   SBATCH_PARTITION=cpu HPCFAULT_ENV=$HOME/venvs/hpcfault slurm/pipeline.sh survey.sgy out/
#   PREDICT_SBATCH_ARGS="--ntasks-per-node=4 --gpus-per-node=4 --cpus-per-task=8" slurm/pipeline.sh survey.sgy out/ model.pt
#
# Writes OUTDIR/NAME.h5 (the converted survey), OUTDIR/NAME-faults.h5 (fault probabilities) and,
# for a SEG-Y survey, OUTDIR/NAME-faults.sgy with the survey's headers; the jobs' logs go to
# OUTDIR too. NAME is the survey's file name without its extension. Without MODEL, predict uses
# the embedded default model.
#
# Per-step sbatch options (resources, partition...) go in CONVERT_SBATCH_ARGS, PREDICT_SBATCH_ARGS
# and EXPORT_SBATCH_ARGS; options for 'hpcfault predict' (e.g. --block 256 --dtype bf16) in
# PREDICT_OPTIONS. Partition and account for all steps: SBATCH_PARTITION, SBATCH_ACCOUNT.
# Everything else is in the three .sbatch files next to this script.
#
# If sbatch refuses a submission (a bad option, an unknown partition, a limit), the script stops
# with sbatch's message and exit status 1; jobs it had already submitted stay queued (it says which).
set -euo pipefail
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: pipeline.sh SURVEY OUTDIR [MODEL]" >&2
    exit 2
fi
SURVEY=$1 OUTDIR=$2 MODEL=${3:-}
case "$OUTDIR" in *.pt|*.pth)
    echo "pipeline.sh takes SURVEY OUTDIR [MODEL] (got the checkpoint '$OUTDIR' as OUTDIR); e.g. pipeline.sh $SURVEY out/ $OUTDIR" >&2
    exit 2;;
esac
while [ "${#OUTDIR}" -gt 1 ] && [ "${OUTDIR%/}" != "$OUTDIR" ]; do OUTDIR=${OUTDIR%/}; done  # out/ -> out
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ -e "$SURVEY" ] || { echo "pipeline.sh: no survey at $SURVEY" >&2; exit 2; }
MODEL_ARGS=()
if [ -n "$MODEL" ]; then
    [ -e "$MODEL" ] || { echo "pipeline.sh: no model checkpoint at $MODEL" >&2; exit 2; }
    MODEL_ARGS=(-m "$MODEL")
fi
mkdir -p "$OUTDIR"
NAME=$(basename "$SURVEY"); NAME=${NAME%.*}
VOLUME="$OUTDIR/$NAME.h5" FAULTS="$OUTDIR/$NAME-faults.h5"
SUBMITTED=""

submit() {  # submit STEP SBATCH_ARGS...: sets JOB; a refusal ends the script
    local step=$1 out
    shift
    # sbatch prints why it refuses on stderr, which goes straight to the user
    if ! out=$(sbatch --parsable --output="$OUTDIR/%x-%j.out" "$@"); then
        echo "pipeline.sh: sbatch refused the $step job (its message is above)${SUBMITTED:+; already queued:$SUBMITTED (scancel them if you fix and resubmit)}" >&2
        exit 1
    fi
    JOB=${out%%;*}   # --parsable prints "JOBID" or "JOBID;CLUSTER"
    if ! [[ "$JOB" =~ ^[0-9]+$ ]]; then
        echo "pipeline.sh: sbatch gave no job id for the $step job (got '$out')" >&2
        exit 1
    fi
    SUBMITTED="$SUBMITTED $step $JOB"
}
# shellcheck disable=SC2086  # the *_ARGS variables are lists of options
submit convert ${CONVERT_SBATCH_ARGS:-} "$HERE/convert.sbatch" "$SURVEY" "$VOLUME"
CONVERT=$JOB
echo "convert: job $CONVERT -> $VOLUME"
# shellcheck disable=SC2086
submit predict --dependency="afterok:$CONVERT" --kill-on-invalid-dep=yes ${PREDICT_SBATCH_ARGS:-} \
    "$HERE/predict.sbatch" "$VOLUME" "$FAULTS" "${MODEL_ARGS[@]}" ${PREDICT_OPTIONS:-}
PREDICT=$JOB
echo "predict: job $PREDICT (after $CONVERT) -> $FAULTS"
LAST=$PREDICT EXPORT=""
case "${SURVEY,,}" in
    *.sgy|*.segy)
        # shellcheck disable=SC2086
        submit export --dependency="afterok:$PREDICT" --kill-on-invalid-dep=yes ${EXPORT_SBATCH_ARGS:-} \
            "$HERE/export.sbatch" "$FAULTS" "$SURVEY" "$OUTDIR/$NAME-faults.sgy"
        EXPORT=$JOB LAST=$JOB
        echo "export:  job $EXPORT (after $PREDICT) -> $OUTDIR/$NAME-faults.sgy";;
esac
echo "logs: $OUTDIR/hpcfault-*-JOBID.out; follow with: squeue -u \$USER; sacct -j $CONVERT,$PREDICT${EXPORT:+,$EXPORT}"
echo "last job: $LAST"
