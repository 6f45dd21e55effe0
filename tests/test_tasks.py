"""The task table: specs, checkpoints naming their task, augmentation turning azimuth labels,
training a two-output task."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import REPO, run_cli
from hpcfault.data.augment import AugmentConfig, augment_arrays
from hpcfault.errors import HpcfaultError
from hpcfault.tasks import TASKS, task_spec


def test_every_task_is_consistent_and_fault_keeps_data():
    fault = task_spec(None)
    assert fault.name == "fault" and fault.output_names == ("data",) and fault.channels == 1
    for task in TASKS.values():
        assert task.targets and task.targets[0].label == task.labels[0]
        for o in task.outputs:
            assert o.channels == (2 if o.kind == "angle" else 1)
    with pytest.raises(HpcfaultError, match="valid tasks: fault, fault-strike"):
        task_spec("salt-and-pepper")


def _strike_of_labels(labels: np.ndarray) -> float:
    """Azimuth (mod 180) of the labelled voxels' line in a time slice, from their principal axis."""
    i, x = np.nonzero(labels[labels.shape[0] // 2] > 0)
    w, v = np.linalg.eigh(np.cov(np.stack([i, x]).astype(float)))
    d = v[:, -1]
    return float(np.degrees(np.arctan2(d[1], d[0])) % 180.0)


@pytest.mark.parametrize("seed", range(8))
def test_augmentation_turns_strike_labels_with_the_cube(seed):
    n, theta = 33, 25.0 + 17 * seed
    c = np.arange(n) - n // 2
    ii, xx = np.meshgrid(c, c, indexing="ij")
    d = -ii * np.sin(np.radians(theta)) + xx * np.cos(np.radians(theta))    # distance across the strike line
    line = (np.abs(d) < 0.75)[None].repeat(5, axis=0).astype(np.float32)
    arrays = {"seismic": np.random.default_rng(seed).random((5, n, n), dtype=np.float32), "labels": line,
              "fault_strike": line * np.float32(theta), "mask": np.ones((5, n, n), np.float32)}
    assert abs(_strike_of_labels(line) - theta) < 2
    cfg = AugmentConfig(rotate_prob=1.0, max_angle=40.0)
    out = augment_arrays(arrays, np.random.default_rng(seed), cfg, {"fault_strike": 180.0})
    on = out["labels"] > 0
    values = out["fault_strike"][on]
    assert np.ptp(values) < 1e-3                       # one strike for the whole line
    got, want = float(values[0]), _strike_of_labels(out["labels"])
    assert min(abs(got - want), 180 - abs(got - want)) < 3.0


def test_checkpoints_name_their_task_and_old_ones_are_fault(tmp_path):
    from hpcfault.models import build_model, read_checkpoint, save_checkpoint

    path = tmp_path / "m.pt"
    save_checkpoint(path, build_model("unet3d", task="fault-strike", filters=[4, 8]), "unet3d", task="fault-strike")
    assert read_checkpoint(path)["task"] == "fault-strike"
    payload = torch.load(path, weights_only=True)
    del payload["task"]
    old = tmp_path / "old.pt"
    torch.save({**payload, "config": {"filters": [4, 8]}, "state_dict": build_model("unet3d", filters=[4, 8]).state_dict()}, old)
    assert read_checkpoint(old)["task"] == "fault"
    with pytest.raises(HpcfaultError, match="cannot serve task 'fault-strike'"):
        save_checkpoint(tmp_path / "f.pt", build_model("faultnet"), "faultnet", task="fault-strike")


def test_a_two_output_task_trains_and_validates(tmp_path):
    """fault-strike with a tiny UNet3D: 3 channels, both targets in the loss, strike MAE reported."""
    import json

    run_cli("train", REPO / "configs" / "train-tiny.yaml", "--run-dir", tmp_path / "run", "task=fault-strike",
            "model.name=unet3d", "model.options={filters: [4, 8]}",
            "data.sources=[{kind: synthetic, shape: [32, 48, 48], seed: 3, family: classic}]",
            "validation.synthetic_family=classic", "steps=2", env={"OMP_NUM_THREADS": "1"})
    from hpcfault.models import read_checkpoint

    ck = read_checkpoint(tmp_path / "run" / "checkpoints" / "model.pt")
    assert ck["task"] == "fault-strike" and ck["config"]["head"] == ["sigmoid", "none", "none"]
    vals = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    val = [v for v in vals if v["kind"] == "val"][-1]
    assert 0 <= val["fault_strike_mae"] <= 90
