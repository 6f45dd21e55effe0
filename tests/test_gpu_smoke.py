"""tools/gpu_smoke.sh --cpu --quick: the GPU smoke test's every step on the CPU, so that the first
GPU run finds no bug in the script itself (issue 19). Real processes: the CLI, mpiexec, signals."""
import os
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.mpi]


def test_gpu_smoke_cpu_mode_passes(tmp_path):
    env = {**os.environ, "HPCFAULT_ENV": str(os.path.dirname(os.path.dirname(sys.executable))),
           "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(["bash", str(REPO / "tools" / "gpu_smoke.sh"), "--cpu", "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=1200)
    table = proc.stdout.split("\nstep ")[-1]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    for name in ("probe", "predict fp32", "predict bf16", "2 MPI ranks = 1", "kill and resume", "forced OOM recovers",
                 "memory formula fp32", "train amp=off, USR1", "gloo DDP 2 ranks = 1"):
        assert f"\n{name} " in table and "FAIL" not in table, table


@pytest.mark.parametrize("args, env, says", [
    (["runs/x", "slices"], {}, "unknown data (got 'slices'); give sections, tiles or both"),
    ([], {}, "give a runs folder (got 0 arguments)"),
    (["runs/x"], {"STEPS": "many"}, "must be whole numbers (got 'many')"),
    (["runs/x"], {"CUDA_VISIBLE_DEVICES": ""}, "needs a GPU (torch sees none)"),
])
def test_salt_gpu_script_refuses_bad_input_and_a_machine_without_gpu(tmp_path, args, env, says):
    """tools/salt_gpu.sh (the full-width salt figures on a GPU node) checks before any work."""
    full = {**os.environ, "HPCFAULT_ENV": str(os.path.dirname(os.path.dirname(sys.executable))), **env}
    proc = subprocess.run(["bash", str(REPO / "tools" / "salt_gpu.sh"), *args], capture_output=True, text=True,
                          env=full, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and says in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "runs").exists()
