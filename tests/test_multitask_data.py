"""Multi-task synthetic data: RGT and DHR targets, the degraded input, box-by-box rendering, the
cube transforms of the multitask tasks (RGT per cube, the refinement network's corrupted inputs)
and augmentation of continuous labels."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from conftest import run_cli
from hpcfault.data.augment import AugmentConfig, augment_arrays
from hpcfault.data.synth import SynthModel, block_boxes
from hpcfault.data.synth_config import synth_config
from hpcfault.errors import HpcfaultError

SHAPE = (48, 40, 36)
VOLUMES = ("seismic", "labels", "fault_ids", "fault_dip", "fault_strike", "rgt", "dhr")


@pytest.mark.parametrize("overrides", [[], ["reflectivity.unconformity_prob=1", "degrade.noise_kinds=[exponential]",
                                            "degrade.smooth_prob=1", "wavelet.decay_prob=1"],
                                       ["degrade.noise_kinds=[uniform]", "degrade.smooth_prob=0"]])
def test_multitask_family_renders_box_by_box_like_the_whole(overrides):
    model = SynthModel(SHAPE, 21, synth_config("multitask", overrides))
    assert model.degrade.blur_sigma >= 1.5 and model.degrade.blur_halo >= 5
    whole = model.render_volumes()
    parts = {k: np.zeros(SHAPE, whole[k].dtype) for k in VOLUMES}
    for box in block_boxes(SHAPE, 16):
        v = model.render_volumes(*box)
        for k in VOLUMES:
            parts[k][box] = v[k]
    for k in VOLUMES:
        assert np.array_equal(parts[k], whole[k]), k
    odd = (slice(3, 40), slice(17, 18), slice(5, 36))
    v = model.render_volumes(*odd)
    for k in VOLUMES:
        assert np.array_equal(v[k], whole[k][odd]), k


def test_rgt_increases_down_the_traces_and_spans_zero_to_one():
    for seed in range(4):
        rgt = SynthModel(SHAPE, seed, synth_config("multitask")).render_volumes()["rgt"]
        assert abs(float(rgt.min())) < 1e-6 and abs(float(rgt.max()) - 1) < 1e-6
        steps = np.diff(rgt, axis=0)
        # normal faults only: RGT steps back only where beds dip more steeply than a fault they cross
        assert (steps < 0).mean() < 0.02


def test_rgt_steps_up_across_an_unconformity():
    m = SynthModel((64, 48, 48), 3, synth_config("multitask", ["reflectivity.unconformity_prob=1", "faults.count=[0,0]",
                                                                "faults.none_prob=1", "structure.folds=[0,0]"]))
    assert m.params["unconformity"] and m.params["rgt"]["hiatus"] > 0
    rgt = m.render_volumes()["rgt"]
    assert (np.diff(rgt, axis=0) >= -1e-6).all()        # no faults: monotonic everywhere
    assert np.diff(rgt, axis=0).max() > 5 * np.median(np.diff(rgt, axis=0))   # the hiatus


def _centroid(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x - x.mean(axis=0), axis=0)) ** 2
    f = np.arange(spec.shape[0])[:, None, None]
    return float((spec * f).sum() / spec.sum())


def test_dhr_is_the_higher_band_and_the_input_is_degraded():
    m = SynthModel((96, 32, 32), 8, synth_config("multitask", ["degrade.noise_prob=0", "degrade.blur_prob=0",
                                                                "wavelet.kinds=[ricker]", "wavelet.decay_prob=0"]))
    v = m.render_volumes()
    ratio = _centroid(v["dhr"]) / _centroid(v["seismic"])
    assert 1.15 < ratio < 1.35                          # 1.25 x the band
    # degraded: same model (seed), noise on: the input's error against its clean part has the drawn level
    d = SynthModel((96, 32, 32), 8, synth_config("multitask", ["degrade.blur_prob=0", "degrade.smooth_prob=0"]))
    parts = d.render_components()
    std = float(parts["noise"].std()) / d._clean_peak       # the image maximum the level refers to
    assert d.degrade.level > 0 and std == pytest.approx(d.degrade.level / np.sqrt(3), rel=0.15)
    blurred = SynthModel((96, 32, 32), 8, synth_config("multitask", ["degrade.noise_prob=0"])).render_components()
    lateral = lambda a: np.corrcoef(a[:, :-1].ravel(), a[:, 1:].ravel())[0, 1]   # noqa: E731
    assert lateral(blurred["clean"]) > lateral(d.render_components()["clean"])


def test_other_families_keep_their_surveys_and_gain_rgt_and_dhr():
    v = SynthModel(SHAPE, 2, synth_config("train")).render_volumes()
    assert set(VOLUMES) <= set(v) and np.isfinite(v["dhr"]).all() and v["rgt"].dtype == np.float32
    with pytest.raises(HpcfaultError, match="noise_kinds"):
        synth_config("multitask", ["degrade.noise_kinds=[pink]"])
    with pytest.raises(HpcfaultError, match="dhr_band"):
        synth_config("multitask", ["wavelet.dhr_band=3"])


def test_cli_writes_the_multitask_datasets(tmp_path):
    out = tmp_path / "mt.h5"
    proc = run_cli("synth", out, "--family", "multitask", "--shape", "32", "24", "24", "--seed", "4", "--block", "16")
    assert "family multitask" in proc.stdout and "input degraded" in proc.stdout
    want = SynthModel((32, 24, 24), 4, synth_config("multitask")).render_volumes()
    with h5py.File(out, "r") as f:
        for k in ("labels", "fault_dip", "fault_strike", "rgt", "dhr"):
            assert np.array_equal(f[k][...], want[k]), k
        assert np.array_equal(f["data"][...], want["seismic"])


# -- the tasks' cube transforms ---------------------------------------------------------------------
def _cube(seed: int = 5, shape=(32, 32, 32)):
    v = SynthModel(shape, seed, synth_config("multitask", ["faults.count=[4,6]", "faults.none_prob=0"])).render_volumes()
    return {"seismic": v["seismic"], **{k: v[k].astype(np.float32) for k in VOLUMES[1:]},
            "mask": np.ones(shape, np.float32)}


def test_prepare_scales_rgt_to_the_cube():
    from hpcfault.tasks.multitask.data import prepare

    c = _cube()
    c["rgt"] = c["rgt"] * 0.3 + 0.2
    c["mask"][:, :4] = 0
    out = prepare(c)
    live = out["mask"] > 0
    assert out["rgt"][live].min() == 0 and out["rgt"][live].max() == pytest.approx(1)
    assert (out["rgt"][~live] == 0).all()


def test_corrupt_makes_the_refinement_inputs_from_corrupted_labels():
    from hpcfault.tasks import task_spec
    from hpcfault.tasks.multitask.data import corrupt

    mtr = task_spec("multitask-refine")
    c = _cube()
    a = corrupt(dict(c), np.random.default_rng(1))
    b = corrupt(dict(c), np.random.default_rng(1))
    for name in mtr.inputs:
        assert a[name].shape == c["rgt"].shape and a[name].dtype == np.float32
        assert np.array_equal(a[name], b[name])                       # reproducible from the generator
    assert 0 <= a["mti.fault"].min() and a["mti.fault"].max() == pytest.approx(1)
    truth = c["labels"] > 0
    kept = a["mti.fault"][truth] > 0.5
    assert kept.mean() < 1.0                                          # faults were removed
    vec = np.hypot(a["mti.fault_strike.cos"], a["mti.fault_strike.sin"])
    assert np.all(vec <= a["mti.fault"] + 1e-5)                        # angles scaled by the fault map
    live = a["rgt"] > 0.1
    ratio = a["mti.rgt"][live] / a["rgt"][live]
    assert 0.9 - 1e-5 <= ratio.min() < 0.97 and 1.03 < ratio.max() <= 1.1 + 1e-5   # x (1 +- 10 %)
    assert not np.array_equal(a["mti.dhr"], a["dhr"])
    assert np.array_equal(a["labels"], c["labels"])                   # the targets stay clean
    other = corrupt(dict(c), np.random.default_rng(2))
    assert not np.array_equal(other["mti.fault"], a["mti.fault"])


def test_augmentation_interpolates_continuous_labels_and_scales_input_units_with_the_input():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 16, dtype=np.float32)[:, None, None] * np.ones((16, 20, 20), np.float32)
    arrays = {"seismic": np.full((16, 20, 20), 0.25, np.float32), "rgt": t.copy(), "dhr": np.full((16, 20, 20), 0.25, np.float32),
              "labels": np.zeros((16, 20, 20), np.float32), "mask": np.ones((16, 20, 20), np.float32)}
    cfg = AugmentConfig(rot90=False, rotate_prob=1.0, flip_lateral=False, scale=(2.0, 2.0), noise_prob=0.0)
    out = augment_arrays(arrays, rng, cfg, smooth=("rgt",), follow=("dhr",))
    inside = out["mask"] > 0
    assert np.allclose(out["rgt"][inside], t[inside], atol=1e-6)       # RGT does not change with a rotation about time
    assert np.allclose(out["dhr"], out["seismic"]) and np.allclose(out["seismic"], 0.0)   # (0.25 - 0.5) * 2 + 0.5
