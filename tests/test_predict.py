"""predict stages in one process (the SerialComm twin): edge-shaped surveys, bad samples, seams.

The model is a real Fault-Net (hpcfault.models.build_model, seeded random initialisation) saved
as a real checkpoint file. Its outputs vary little, so the seam tests here check the tiling and
blending machinery; tools/bench_seams.py measures seams with the published weights (README).
"""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from hpcfault.cluster.mpi import SerialComm
from hpcfault.errors import HpcfaultError
from hpcfault.infer.config import PredictConfig
from hpcfault.infer.runner import PredictJob, run_predict
from hpcfault.io.volume import SurveyGeometry, write_array


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    import torch

    from hpcfault.models import build_model, save_checkpoint

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "faultnet-random.pt"
    save_checkpoint(path, build_model("faultnet"), "faultnet")
    return str(path)


@pytest.fixture(scope="module")
def model(checkpoint):
    from hpcfault.infer.forward import BlockModel

    block_model = BlockModel(checkpoint, "cpu", "fp32", threads=1)
    call = lambda x: block_model(x)[0]          # noqa: E731  (K = 1: the fault task's probability)
    call.replaced = block_model.replaced
    return call


def _survey(path, data, live=None):
    geom = SurveyGeometry.regular(data.shape)
    if live is not None:
        from dataclasses import replace
        geom = replace(geom, live=live)
    write_array(path, data, geometry=geom)
    return str(path)


def _predict(survey, out, checkpoint, keep_workdir=False, **cfg):
    cfg = PredictConfig(model=checkpoint, threads=1, progress=False, **cfg)
    summary = run_predict(PredictJob(str(survey), str(out), cfg, keep_workdir=keep_workdir), SerialComm())
    with h5py.File(out, "r") as f:
        return f["data"][...], summary, dict(f.attrs)


def _normalized(data):
    from hpcfault.normalize import normalizer_from, stats_of

    return normalizer_from(stats_of(data)).apply(data)


def _smooth(shape, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(shape[0])[:, None, None]
    return (np.sin(t / 3.0 + rng.random(shape[1:])[None] * 0.5) + 0.3 * rng.standard_normal(shape)).astype(np.float32)


def test_tiled_matches_whole_volume_forward(tmp_path, checkpoint, model):
    data = _smooth((48, 64, 64))
    survey = _survey(tmp_path / "s.h5", data)
    whole = model(_normalized(data))
    small, s1, attrs = _predict(survey, tmp_path / "a.h5", checkpoint, block=32)   # default overlap
    large, s2, _ = _predict(survey, tmp_path / "b.h5", checkpoint, block=48, overlap=23)
    assert s1["blocks"] == 18 and s2["blocks"] == 4
    assert np.abs(small - whole).max() <= 0.02
    assert np.abs(large - whole).max() <= 1e-3
    assert json.loads(attrs["stats"])["count"] == data.size and "lo" in json.loads(attrs["normalizer"])


@pytest.mark.parametrize("shape", [(20, 21, 22), (10, 1, 30), (1, 30, 30)])
def test_smaller_than_a_block_is_one_padded_forward(tmp_path, checkpoint, model, shape):
    data = _smooth(shape, seed=1)
    out, summary, _ = _predict(_survey(tmp_path / "s.h5", data), tmp_path / "o.h5", checkpoint, block=32, overlap=8)
    assert out.shape == shape and summary["blocks"] == 1
    x = _normalized(data)
    pad = [(0, -(-n // 16) * 16 - n) for n in shape]
    want = model(np.pad(x, pad, mode="reflect"))[tuple(slice(0, n) for n in shape)]
    np.testing.assert_array_equal(out, want)


def test_not_a_multiple_of_16_and_one_inline_thick(tmp_path, checkpoint, model):
    data = _smooth((37, 50, 45), seed=2)
    out, summary, _ = _predict(_survey(tmp_path / "s.h5", data), tmp_path / "o.h5", checkpoint, block=32, overlap=8)
    assert out.shape == data.shape and summary["blocks"] > 8
    padded = np.pad(_normalized(data), [(0, 11), (0, 14), (0, 3)], mode="reflect")
    whole = model(padded)[:37, :50, :45]
    assert np.abs(out - whole).max() <= 0.02
    thin = data[:, 10:11, :]
    out1, s1, _ = _predict(_survey(tmp_path / "t.h5", thin), tmp_path / "t-o.h5", checkpoint, block=32, overlap=8)
    assert out1.shape == (37, 1, 45) and np.isfinite(out1).all() and s1["plan"]["input_shape"][1] == 16


def test_nan_inf_constant_and_dead_traces(tmp_path, checkpoint):
    data = _smooth((32, 40, 36), seed=3)
    data[5, 5, 5] = np.nan
    data[6, 7, 8] = np.inf
    data[:, 20, 11] = -np.inf
    live = np.ones((40, 36), bool)
    live[3, :] = False
    live[10:12, 30:] = False
    data[:, ~live] = 0.0
    out, summary, attrs = _predict(_survey(tmp_path / "s.h5", data, live), tmp_path / "o.h5", checkpoint,
                                   block=32, overlap=8)
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert (out[:, ~live] == 0).all() and (out[:, live] > 0).all()
    stats = json.loads(attrs["stats"])
    assert stats["nonfinite"] == 2 + 32 and stats["count"] == 32 * live.sum() - 2 - 32
    const, _, _ = _predict(_survey(tmp_path / "c.h5", np.full((32, 40, 36), 3.0, np.float32)),
                           tmp_path / "c-o.h5", checkpoint, block=32, overlap=8)
    assert np.isfinite(const).all() and np.ptp(const) < 0.05


def test_rerun_reuses_the_ledger_and_refuses_another_config(tmp_path, checkpoint, caplog):
    survey = _survey(tmp_path / "s.h5", _smooth((32, 48, 32), seed=4))
    first, s1, _ = _predict(survey, tmp_path / "o.h5", checkpoint, keep_workdir=True, block=32, overlap=8)
    again, s2, _ = _predict(survey, tmp_path / "o.h5", checkpoint, keep_workdir=True, block=32, overlap=8)
    assert s1["blocks_computed"] == s1["blocks"] and s2["blocks_computed"] == 0
    assert np.array_equal(first, again)
    with pytest.raises(HpcfaultError, match="another run.*--restart"):
        _predict(survey, tmp_path / "o.h5", checkpoint, block=16, overlap=4)
    cfg = PredictConfig(model=checkpoint, threads=1, progress=False, block=16, overlap=4)
    s3 = run_predict(PredictJob(survey, str(tmp_path / "o.h5"), cfg, restart=True), SerialComm())
    assert s3["blocks_computed"] == s3["blocks"] > s1["blocks"]


def test_work_dir_goes_only_after_a_complete_verified_output(tmp_path, checkpoint, monkeypatch):
    survey = _survey(tmp_path / "s.h5", _smooth((32, 48, 32), seed=4))
    cfg = PredictConfig(model=checkpoint, threads=1, progress=False, block=32, overlap=8)
    part = run_predict(PredictJob(survey, str(tmp_path / "o.h5"), cfg, max_blocks=1), SerialComm())
    assert part["partial"] and (tmp_path / "o.h5.work" / "ledger").is_dir()     # unfinished: kept
    import hpcfault.infer.merge as merge

    real = merge.verify_output
    monkeypatch.setattr(merge, "verify_output",
                        lambda out, tiles, crcs, names: real(out, tiles, [c + 1 for c in crcs], names))
    with pytest.raises(HpcfaultError, match="does not read back as it was merged.*work dir is kept"):
        run_predict(PredictJob(survey, str(tmp_path / "o.h5"), cfg), SerialComm())
    assert not (tmp_path / "o.h5").exists() and (tmp_path / "o.h5.work" / "shards").is_dir()
    monkeypatch.setattr(merge, "verify_output", real)
    done = run_predict(PredictJob(survey, str(tmp_path / "o.h5"), cfg), SerialComm())
    assert done["blocks_reused"] == done["blocks"] and done["workdir_left"] == []
    assert (tmp_path / "o.h5").exists() and not (tmp_path / "o.h5.work").exists()
    # a --workdir holding the user's own files: predict removes only what it wrote there
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    other = run_predict(PredictJob(survey, str(tmp_path / "p.h5"), cfg, workdir=str(tmp_path / "mine")), SerialComm())
    assert other["workdir_left"] == [str(tmp_path / "mine" / "notes.txt")]
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]


def test_missing_default_model_is_a_clear_error(tmp_path, monkeypatch):
    import hpcfault.infer.config as config

    monkeypatch.setattr(config, "ASSETS", tmp_path)   # no embedded model there
    with pytest.raises(HpcfaultError, match="embedded default model is missing.*-m CHECKPOINT"):
        config.resolve_model(None)


def test_dry_run_prints_the_plan(tmp_path, checkpoint, capsys):
    survey = _survey(tmp_path / "s.h5", _smooth((48, 64, 64)))
    cfg = PredictConfig(model=checkpoint, block=32, overlap=8, threads=1)
    run_predict(PredictJob(survey, str(tmp_path / "o.h5"), cfg, dry_run=True), SerialComm())
    text = capsys.readouterr().out
    assert "blocks       18 = 2 x 3 x 3" in text and "memory/rank" in text and "estimate" in text
    assert not (tmp_path / "o.h5").exists() and not (tmp_path / "o.h5.work").exists()


def test_block_predictions_do_not_depend_on_the_thread_count(model):
    import torch

    x = np.random.default_rng(7).random((32, 48, 32), dtype=np.float32)
    outs = []
    for threads in (1, 2, 3):
        torch.set_num_threads(threads)
        outs.append(model(x))
    torch.set_num_threads(1)
    assert model.replaced == 1   # Fault-Net's last 1x1x1 convolution to one channel
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2])


def test_max_blocks_stops_early_and_the_rerun_continues(tmp_path, checkpoint):
    survey = _survey(tmp_path / "s.h5", _smooth((32, 48, 48), seed=6))
    cfg = PredictConfig(model=checkpoint, threads=1, progress=False, block=32, overlap=8)
    part = run_predict(PredictJob(survey, str(tmp_path / "o.h5"), cfg, max_blocks=2), SerialComm())
    assert part == {"partial": True, "done": 2, "blocks": 4} and not (tmp_path / "o.h5").exists()
    full = run_predict(PredictJob(survey, str(tmp_path / "o.h5"), cfg), SerialComm())
    assert full["blocks_reused"] == 2 and full["blocks_computed"] == 2


def test_memory_budget_caps_the_block_edge(tmp_path, checkpoint, capsys):
    survey = _survey(tmp_path / "s.h5", _smooth((64, 160, 160)))
    from hpcfault.infer.report import peak_rss

    budget = peak_rss() + (200 << 20)   # 200 MiB above what this process holds: about a 112^3 block
    cfg = PredictConfig(model=checkpoint, block=160, threads=1, memory=str(budget))
    run_predict(PredictJob(survey, str(tmp_path / "o.h5"), cfg, dry_run=True), SerialComm())
    edge = int(capsys.readouterr().out.split("block edge")[1].split()[0])
    assert 16 <= edge < 160 and edge % 16 == 0


def test_cli_config_file_overrides_and_options(tmp_path):
    import argparse

    from hpcfault.cli import predict as cli

    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    conf = tmp_path / "p.yaml"
    conf.write_text("kind: predict\nblock: 256\noverlap: 16\ndtype: bf16\n")
    args = p.parse_args(["s.h5", "-o", "o.h5", "--config", str(conf), "merge_tile=64", "--block", "128"])
    cfg = cli.build_config(args)
    assert (cfg.block, cfg.overlap, cfg.dtype, cfg.merge_tile) == (128, 16, "bf16", 64)
    with pytest.raises(HpcfaultError, match="unknown key 'blok'"):
        cli.build_config(p.parse_args(["s.h5", "-o", "o.h5", "blok=3"]))
