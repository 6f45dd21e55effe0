"""Pure parts of training: config, batch split, tiling, run dir, metrics log, signals, rank env, plot."""
from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

from hpcfault.cluster.rankenv import read_rank_env
from hpcfault.config import load_config, to_mapping
from hpcfault.errors import HpcfaultError
from hpcfault.train.config import OptimConfig, TrainConfig, config_differences, per_rank_batch
from hpcfault.train.metrics_log import MetricsLog, read_metrics
from hpcfault.train.signals import StopFlag, requeue_command, stop_signals

from conftest import REPO, run_cli


def write_cfg(tmp_path, text: str):
    p = tmp_path / "t.yaml"
    p.write_text(text)
    return p


def test_config_defaults_are_the_papers(tmp_path):
    cfg = load_config(write_cfg(tmp_path, "kind: train\n"))
    assert isinstance(cfg, TrainConfig)
    assert (cfg.model.name, cfg.loss.name, cfg.loss.gamma, cfg.optim.lr, cfg.batch, cfg.data.cube,
            cfg.data.min_fault_voxels) == ("faultnet", "md", 0.7, 1e-3, 8, 128, 128)


def test_config_rejects_unknown_and_bad_values(tmp_path):
    with pytest.raises(HpcfaultError, match="unknown key 'optim.lrr'"):
        load_config(write_cfg(tmp_path, "kind: train\noptim: {lrr: 1}\n"))
    with pytest.raises(HpcfaultError, match="multiple of 16"):
        load_config(write_cfg(tmp_path, "kind: train\n"), ["data.cube=40"])
    with pytest.raises(HpcfaultError, match="needs a path"):
        load_config(write_cfg(tmp_path, "kind: train\ndata: {sources: [{kind: volume}]}\n"))


def test_global_batch_splits_evenly_or_errors():
    cfg = TrainConfig(batch=8, micro_batch=2)
    assert per_rank_batch(cfg, 1) == 8 and per_rank_batch(cfg, 4) == 2
    with pytest.raises(HpcfaultError, match="divisible by the number of processes"):
        per_rank_batch(cfg, 3)
    with pytest.raises(HpcfaultError, match="micro_batch must divide"):
        per_rank_batch(TrainConfig(batch=6, micro_batch=4), 1)


def test_config_differences_ignore_resumable_keys():
    a = to_mapping(TrainConfig(steps=10, run_dir="x"))
    b = to_mapping(TrainConfig(steps=20, run_dir="y"))
    assert config_differences(a, b) == []
    c = to_mapping(TrainConfig(batch=4))
    assert config_differences(a, c) == ["batch: 8 -> 4"]


def test_rundir_refuses_a_different_config(tmp_path):
    from hpcfault.train.rundir import commit, prepare

    run = tmp_path / "run"
    assert prepare(TrainConfig(run_dir=str(run)), run) is False
    assert prepare(TrainConfig(run_dir=str(run), optim=OptimConfig(lr=0.01)), run) is False  # not committed yet
    commit(TrainConfig(run_dir=str(run)), run)                            # training started
    assert prepare(TrainConfig(run_dir=str(run), steps=99), run) is True  # more steps: fine
    with pytest.raises(HpcfaultError, match=r"different config .*optim.lr: 0.001 -> 0.01"):
        prepare(TrainConfig(run_dir=str(run), optim=OptimConfig(lr=0.01)), run)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_text("")
    with pytest.raises(HpcfaultError, match="not empty"):
        prepare(TrainConfig(), tmp_path / "other")


@pytest.mark.parametrize("n,block,margin", [(16, 32, 8), (64, 32, 8), (100, 48, 8), (129, 64, 16)])
def test_validation_tiles_cover_each_voxel_once(n, block, margin):
    from hpcfault.train.validate import tiles

    seen = np.zeros(n, int)
    for start, lo, hi in tiles(n, block, margin):
        assert 0 <= start and start + min(block, n) <= n and start <= lo < hi <= start + block
        seen[lo:hi] += 1
    assert (seen == 1).all()


def test_metrics_log_truncates_on_resume(tmp_path):
    log = MetricsLog(tmp_path)
    for s in (1, 2, 3, 4):
        log.write(s, "train", loss=1.0 / s)
    log.write(4, "val", iou=0.5)
    with open(log.path, "a") as f:
        f.write('{"step": 5, "kind": "tr')  # a line cut by SIGKILL
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 3, 4, 4]
    log.truncate_after(2)
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2]
    assert json.loads(log.path.read_text().splitlines()[0])["kind"] == "train"


def test_stop_flag_records_sigusr1_and_restores():
    before = signal.getsignal(signal.SIGUSR1)
    flag = StopFlag([signal.SIGUSR1])
    assert not flag.requested
    os.kill(os.getpid(), signal.SIGUSR1)
    assert flag.requested and flag.signum == signal.SIGUSR1
    flag.restore()
    assert signal.getsignal(signal.SIGUSR1) == before


def test_requeue_only_for_plain_sbatch_jobs():
    assert requeue_command({"SLURM_JOB_ID": "42"}) == ["scontrol", "requeue", "42"]
    assert requeue_command({"SLURM_JOB_ID": "42", "SUBMITIT_EXECUTOR": "slurm"}) is None
    assert requeue_command({}) is None
    assert signal.SIGUSR2 in stop_signals({"SUBMITIT_EXECUTOR": "slurm"})
    assert signal.SIGUSR2 not in stop_signals({})


def test_rank_env_of_submitit_local_tasks():
    env = read_rank_env({"SUBMITIT_LOCAL_GLOBALID": "1", "SUBMITIT_LOCAL_NTASKS": "2",
                         "SUBMITIT_LOCAL_LOCALID": "1", "SUBMITIT_LOCAL_JOB_ID": "1234"})
    assert (env.rank, env.world_size, env.local_rank, env.launcher) == (1, 2, 1, "submitit")
    assert env.master_port == 29500 + 234


def test_plot_metrics_draws_a_png(tmp_path, cli):
    log = MetricsLog(tmp_path)
    for s in range(1, 6):
        log.write(s, "train", loss=1.0 / s)
    for s in (0, 5):
        log.write(s, "val", iou=0.1 * s, precision=0.2, recall=0.3, tol_iou=0.15 * s)
    out = tmp_path / "c.png"
    proc = cli("plot-metrics", tmp_path, "-o", out)
    assert "5 training and 2 validation records" in proc.stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_syncbatchnorm_model_saves_as_plain_batchnorm():
    """GPU runs convert BatchNorm to SyncBatchNorm; checkpoints must hold the plain model."""
    import torch

    from hpcfault.models import build_model
    from hpcfault.train.trainer import _unsync

    model = build_model("faultnet", widths=[4, 8, 8], expansion=4, blocks=1)
    synced = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules())
    plain = _unsync(synced)
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in plain.modules())
    fresh = build_model("faultnet", widths=[4, 8, 8], expansion=4, blocks=1)
    fresh.load_state_dict(plain.state_dict(), strict=True)


def test_amp_choice():
    import torch

    from hpcfault.train.trainer import amp_dtype

    cpu = torch.device("cpu")
    assert amp_dtype(TrainConfig(amp="auto"), cpu) is None
    from hpcfault.models.cpu_features import bf16_support

    if bf16_support().ok:
        assert amp_dtype(TrainConfig(amp="bf16"), cpu) is torch.bfloat16
    else:   # an AVX2-only CPU (tests/test_cpu_features.py simulates one)
        with pytest.raises(HpcfaultError, match="amp=bf16 needs bfloat16 convolutions"):
            amp_dtype(TrainConfig(amp="bf16"), cpu)
    with pytest.raises(HpcfaultError, match="fp16 needs a GPU"):
        amp_dtype(TrainConfig(amp="fp16"), cpu)


def test_checkpoints_record_the_training_input_scaling(tmp_path):
    """predict reads provenance['input_clip_percentile'] to scale a survey as the training cubes were."""
    from hpcfault.data.cube_sources import TRAIN_CLIP_PERCENTILE
    from hpcfault.models import read_checkpoint
    from hpcfault.train import rundir

    run = tmp_path / "run"
    assert run_cli("train", REPO / "configs" / "train-tiny.yaml", "--run-dir", run, "steps=1").returncode == 0
    prov = read_checkpoint(rundir.model_path(run))["provenance"]
    assert prov["input_clip_percentile"] == TRAIN_CLIP_PERCENTILE
