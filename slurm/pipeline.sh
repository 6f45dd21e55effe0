#!/bin/bash
# Submit convert -> predict -> export for one survey as three Slurm jobs chained with
# --dependency=afterok: each starts only when the previous one succeeded; if one fails, the later
# ones are cancelled (--kill-on-invalid-dep=yes). Run it on a login node; it returns at once.
#
#   slurm/pipeline.sh SURVEY MODEL OUTDIR
#   SBATCH_PARTITION=gpu SBATCH_ACCOUNT=proj42 HPCFAULT_ENV=$HOME/venvs/hpcfault slurm/pipeline.sh survey.sgy model.pt out/
#
# Writes OUTDIR/NAME.h5 (the converted survey), OUTDIR/NAME-faults.h5 (fault probabilities) and,
# for a SEG-Y survey, OUTDIR/NAME-faults.sgy with the survey's headers; the jobs' logs go to
# OUTDIR too. NAME is the survey's file name without its extension.
#
# Per-step sbatch options (resources, partition...) go in CONVERT_SBATCH_ARGS, PREDICT_SBATCH_ARGS
# and EXPORT_SBATCH_ARGS; options for 'hpcfault predict' (e.g. --block 256 --dtype bf16) in
# PREDICT_OPTIONS. Partition and account for all steps: SBATCH_PARTITION, SBATCH_ACCOUNT.
# Everything else is in the three .sbatch files next to this script.
set -euo pipefail
if [ $# -ne 3 ]; then
    echo "usage: pipeline.sh SURVEY MODEL OUTDIR" >&2
    exit 2
fi
SURVEY=$1 MODEL=$2 OUTDIR=$3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ -e "$SURVEY" ] || { echo "pipeline.sh: no survey at $SURVEY" >&2; exit 2; }
[ -e "$MODEL" ] || { echo "pipeline.sh: no model checkpoint at $MODEL" >&2; exit 2; }
mkdir -p "$OUTDIR"
NAME=$(basename "$SURVEY"); NAME=${NAME%.*}
VOLUME="$OUTDIR/$NAME.h5" FAULTS="$OUTDIR/$NAME-faults.h5"

submit() {  # sbatch --parsable prints "JOBID" or "JOBID;CLUSTER"
    local out
    out=$(sbatch --parsable --output="$OUTDIR/%x-%j.out" "$@")
    echo "${out%%;*}"
}
# shellcheck disable=SC2086  # the *_ARGS variables are lists of options
CONVERT=$(submit ${CONVERT_SBATCH_ARGS:-} "$HERE/convert.sbatch" "$SURVEY" "$VOLUME")
# shellcheck disable=SC2086
PREDICT=$(submit --dependency="afterok:$CONVERT" --kill-on-invalid-dep=yes ${PREDICT_SBATCH_ARGS:-} \
    "$HERE/predict.sbatch" "$VOLUME" "$MODEL" "$FAULTS" ${PREDICT_OPTIONS:-})
echo "convert: job $CONVERT -> $VOLUME"
echo "predict: job $PREDICT (after $CONVERT) -> $FAULTS"
case "${SURVEY,,}" in
    *.sgy|*.segy)
        # shellcheck disable=SC2086
        EXPORT=$(submit --dependency="afterok:$PREDICT" --kill-on-invalid-dep=yes ${EXPORT_SBATCH_ARGS:-} \
            "$HERE/export.sbatch" "$FAULTS" "$SURVEY" "$OUTDIR/$NAME-faults.sgy")
        echo "export:  job $EXPORT (after $PREDICT) -> $OUTDIR/$NAME-faults.sgy"
        LAST=$EXPORT;;
    *) LAST=$PREDICT;;
esac
echo "logs: $OUTDIR/hpcfault-*-JOBID.out; follow with: squeue -u \$USER; sacct -j $CONVERT,$PREDICT${EXPORT:+,$EXPORT}"
echo "last job: $LAST"
