#!/usr/bin/env bash
# One command for the first run on a GPU node: probe, predict per dtype against a CPU run, 2 MPI
# ranks = 1, kill and resume, the memory formula against the measured peak, a forced out-of-memory
# that recovers, AMP training with a USR1 stop and resume, and with 2 GPUs NCCL DDP = 1 process.
# Prints a pass/fail table with figures; exit status 1 when a row fails. Under 10 minutes on one GPU.
#
#   bash tools/gpu_smoke.sh                 # on a GPU node (inside an allocation: srun -N1 --gpus=1 ...)
#   bash tools/gpu_smoke.sh --cpu --quick   # the same steps on a CPU, tiny sizes (tests/test_gpu_smoke.py)
#   bash tools/gpu_smoke.sh --out DIR       # keep the runs' files in DIR (default: a temporary folder)
#
# Python: $HPCFAULT_ENV/bin/python if set, else .venv/bin/python of this checkout, else python3.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${HPCFAULT_ENV:-}" ]; then py="$HPCFAULT_ENV/bin/python"
elif [ -x "$here/.venv/bin/python" ]; then py="$here/.venv/bin/python"
else py=python3; fi
[ "$py" = python3 ] || export PATH="$(dirname "$py"):$PATH"   # mpiexec of the same environment
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
exec "$py" "$here/tools/gpu_smoke.py" "$@"
