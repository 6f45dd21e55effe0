"""Item 10 of issue 19: cubes drawn ahead by worker processes are the cubes the main process would
draw, in the same order, and the stream resumes at the same place.

Real worker processes (fork) drawing real synthetic cubes; compared with the in-process stream.
A 2-step training with data.workers=2 must give the weights of data.workers=0.
"""
import numpy as np

from conftest import REPO, run_cli
from hpcfault.data.sampling import CubeSampler, SyntheticSource
from hpcfault.train.stream import CubeStream


def _stream(workers: int) -> CubeStream:
    src = SyntheticSource((32, 48, 48), seed=3, name="synthetic[0]")
    sampler = CubeSampler([src], cube=16, min_fault_voxels=1, seed=11, rank=1, world_size=2, augment=True)
    return CubeStream(sampler, per_step=2, workers=workers)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_workers_give_the_same_cubes_in_order_and_resume():
    plain, ahead = _stream(0), _stream(2)
    try:
        for _ in range(3):
            assert _same(plain.next_batch(), ahead.next_batch())
        state = ahead.state_dict()
        assert state == plain.state_dict() and state["position"] == 6   # handed out, not drawn ahead
        fresh = _stream(2)
        try:
            fresh.load_state_dict(state)   # a resume: continues with cube position 6
            assert _same(plain.next_batch(), fresh.next_batch())
        finally:
            fresh.close()
        ahead.load_state_dict({**state, "position": 2})   # back to step 1 after a reset of the queue
        again = _stream(0)
        again.load_state_dict({**state, "position": 2})
        assert _same(again.next_batch(), ahead.next_batch())
    finally:
        ahead.close()


def test_training_with_workers_equals_training_without(tmp_path):
    from hpcfault.models.checkpoint import read_checkpoint

    weights = []
    for workers in (0, 2):
        run = tmp_path / f"w{workers}"
        run_cli("train", REPO / "configs" / "train-tiny.yaml", "--run-dir", run, "steps=2", f"data.workers={workers}",
                "validation.every=0")
        state = read_checkpoint(run / "checkpoints" / "model.pt")["state_dict"]
        weights.append({k: v.numpy() for k, v in state.items()})
    assert all(np.array_equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_bad_workers_value_is_one_line(tmp_path):
    proc = run_cli("train", REPO / "configs" / "train-tiny.yaml", "--run-dir", tmp_path / "r", "data.workers=-3",
                   check=False)
    assert proc.returncode == 2 and "data.workers must be -1 (auto), 0 (none) or more (got -3)" in proc.stderr


def test_synthetic_surveys_made_in_worker_processes_equal_those_made_in_one(tmp_path):
    """The run's synthetic-survey files (3D sparse-labelled and 2D dense) from 2 processes hold the
    same arrays as those made one after the other; files already there are kept as they are."""
    import h5py

    from hpcfault.config import from_mapping
    from hpcfault.train.config import TrainConfig
    from hpcfault.train.stream import prepare_surveys, survey_files

    for model in ("faultnet", "unet-resnet18"):
        sources = [{"kind": "synthetic-survey", "shape": [24, 32, 32], "seed": 40, "count": 3,
                    "label_every": 4 if model == "faultnet" else 1}]
        cfg = from_mapping(TrainConfig, {"model": {"name": model}, "task": "fault" if model == "faultnet" else "salt",
                                         "data": {"cube": 16, "sources": sources}}, "test")
        made = {}
        for workers in (0, 2):
            run = tmp_path / f"{model}-{workers}"
            prepare_surveys(cfg, run, workers)
            made[workers] = survey_files(cfg.data.sources[0], run / "data")
            assert all(p.is_file() for p in made[workers]) and sorted((run / "data").iterdir()) == made[workers]
        for a, b in zip(made[0], made[2]):
            with h5py.File(a) as f, h5py.File(b) as g:
                names = [k for k in f if isinstance(f[k], h5py.Dataset)]
                assert sorted(f) == sorted(g) and "data" in names
                for name in names:
                    np.testing.assert_array_equal(f[name][...], g[name][...], err_msg=f"{a.name}: {name}")
        stamp = made[2][0].stat().st_mtime_ns
        prepare_surveys(cfg, tmp_path / f"{model}-2", 2)
        assert made[2][0].stat().st_mtime_ns == stamp
