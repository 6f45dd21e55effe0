"""Item 8 of issue 19: the block counter without MPI_THREAD_MULTIPLE or one-sided MPI.

Real MPI runs: mpi4py started at thread level SINGLE (MPI4PY_RC_THREAD_LEVEL=single, what a library
without MPI_THREAD_MULTIPLE gives) picks the rank-0 queue by itself; every item is claimed exactly
once under 3 ranks, with rank 0 busy between its own claims; and a 2-rank predict in that mode
writes the same output as one process.
"""
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from conftest import REPO, mpiexec, run_cli
from hpcfault.cluster.counter import counter_kind
from hpcfault.errors import HpcfaultError

CLAIMS = r"""
import json, sys, time
from hpcfault.cluster.mpi import get_comm
from hpcfault.cluster.counter import shared_counters
comm = get_comm()
c = shared_counters(comm, 2)
mine = []
while (j := c.fetch_add(0)) < 40:
    mine.append(j)
    time.sleep(0.01 if comm.rank == 0 else 0.002)   # rank 0 busy: the others queue up meanwhile
    c.fetch_add(1)
total = 40
while comm.rank == 0 and (total := c.read(1)) < 40:   # rank 0 waits for the others, as predict does
    time.sleep(0.001)
kind = type(c).__name__
c.free()
allmine = comm.gather(mine)
if comm.rank == 0:
    print(json.dumps({"kind": kind, "claims": allmine, "total": total}))
"""


@pytest.mark.parametrize("thread_level, env, kind", [
    (3, {}, "window"), (2, {}, "queue"), (0, {}, "queue"),
    (3, {"HPCFAULT_MPI_COUNTER": "queue"}, "queue"), (1, {"HPCFAULT_MPI_COUNTER": "window"}, "window"),
])
def test_counter_kind(thread_level, env, kind):
    assert counter_kind(thread_level, 3, env) == kind


def test_counter_kind_bad_value():
    with pytest.raises(HpcfaultError, match=r"HPCFAULT_MPI_COUNTER must be window or queue \(got 'rma'\)"):
        counter_kind(3, 3, {"HPCFAULT_MPI_COUNTER": "rma"})


def _run_claims(extra_env: dict) -> dict:
    import json

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), **extra_env}
    proc = subprocess.run([mpiexec(), "-n", "3", sys.executable, "-c", CLAIMS], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("extra_env, kind", [
    ({"MPI4PY_RC_THREAD_LEVEL": "single"}, "QueueCounters"),   # no MPI_THREAD_MULTIPLE: chosen by itself
    ({"HPCFAULT_MPI_COUNTER": "queue"}, "QueueCounters"),
    ({}, "MPICounters"),
])
def test_every_item_claimed_once_on_three_ranks(extra_env, kind):
    out = _run_claims(extra_env)
    assert out["kind"] == kind
    flat = sorted(j for part in out["claims"] for j in part)
    assert flat == list(range(40)) and out["total"] == 40
    assert all(out["claims"][r] for r in (1, 2)), "ranks 1 and 2 got no work: the queue did not answer"


def test_predict_with_the_queue_counter_equals_one_process(tmp_path):
    run_cli("synth", tmp_path / "s.h5", "--shape", "32", "48", "48", "--seed", "3", "--no-progress")
    from hpcfault.models.checkpoint import save_checkpoint
    from hpcfault.models.registry import build_model
    import torch

    torch.manual_seed(0)
    save_checkpoint(tmp_path / "m.pt", build_model("faultnet", widths=[4, 8, 8], expansion=4, blocks=1), "faultnet")
    opts = ["-m", tmp_path / "m.pt", "--block", "32", "--overlap", "8", "--no-progress"]
    run_cli("predict", tmp_path / "s.h5", "-o", tmp_path / "one.h5", *opts)
    run_cli("predict", tmp_path / "s.h5", "-o", tmp_path / "two.h5", *opts, ranks=2,
            env={"MPI4PY_RC_THREAD_LEVEL": "single"})
    with h5py.File(tmp_path / "one.h5") as a, h5py.File(tmp_path / "two.h5") as b:
        assert np.array_equal(a["data"][...], b["data"][...])
