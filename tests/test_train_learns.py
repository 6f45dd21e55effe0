"""A short CPU run from sparse labels (every 30th inline of a synthetic survey) lowers the loss.

The strong check (validation Tol-IoU@2 rising well above the untrained network's) takes minutes:
`hpcfault train configs/train-cpu-small.yaml`, figures in the README. This is its fast, weaker twin.
"""
from __future__ import annotations

import json
import os

from conftest import BIN, REPO, run_cli

TINY = REPO / "configs" / "train-tiny.yaml"


def test_loss_decreases_on_sparse_synthetic_labels(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "OMPI_", "PMI_", "SUBMITIT_"))}
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    env.update(OMP_NUM_THREADS="1", PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    run_cli("train", TINY, "--run-dir", tmp_path / "run", "steps=24", "optim.lr=3e-3", "validation.every=0",
            "checkpoint_every=100", env=env)
    recs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    loss = [r["loss"] for r in recs if r["kind"] == "train"]
    assert len(loss) == 24
    first, last = sum(loss[:6]) / 6, sum(loss[-6:]) / 6
    assert last < first - 0.02, f"loss did not decrease: first 6 steps {first:.4f}, last 6 {last:.4f}"
    # the tiny survey really is sparse: labels only on inlines 0, 30, 60 of 64
    import h5py

    (data,) = (tmp_path / "run" / "data").glob("synth-*.h5")
    with h5py.File(data) as f:
        labelled = sorted(set(int(i) for i in f["mask"][...].nonzero()[1]))
    assert labelled == [0, 30, 60]
