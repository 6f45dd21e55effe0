"""The synthetic generator: determinism, box-by-box rendering, fault parameters, labels, SNR, CLI."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from scipy.ndimage import binary_dilation

from hpcfault.data.synth import SynthModel, block_boxes, synthesize
from hpcfault.data.synth_config import DEFAULT, FAMILIES, synth_config
from hpcfault.errors import HpcfaultError
from conftest import run_cli

SHAPE = (48, 40, 36)


def test_same_seed_same_survey_other_seed_other_survey():
    a = SynthModel(SHAPE, 11).render()
    b = SynthModel(SHAPE, 11).render()
    c = SynthModel(SHAPE, 12).render()
    for x, y in zip(a, b):
        assert np.array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    assert a[0].dtype == np.float32 and a[1].dtype == np.uint8 and a[2].dtype == np.uint8
    assert a[0].shape == SHAPE and set(np.unique(a[1])) <= {0, 1}


def test_block_by_block_equals_whole_render():
    model = SynthModel(SHAPE, 3)
    whole = model.render()
    parts = [np.zeros(SHAPE, np.float32), np.zeros(SHAPE, np.uint8), np.zeros(SHAPE, np.uint8)]
    boxes = block_boxes(SHAPE, 16)
    assert len(boxes) == 3 * 3 * 3
    for box in boxes:
        for dst, src in zip(parts, model.render(*box)):
            dst[box] = src
    for got, want in zip(parts, whole):
        assert np.array_equal(got, want)
    odd = (slice(5, 31), slice(17, 18), slice(0, 35))
    for got, want in zip(model.render(*odd), whole):
        assert np.array_equal(got, want[odd])


def test_bad_render_box_is_refused():
    with pytest.raises(HpcfaultError, match="step 1"):
        SynthModel(SHAPE, 0).render(slice(0, 10, 2))
    for seed in (-1, 2 ** 63):
        with pytest.raises(HpcfaultError, match="seed"):
            SynthModel(SHAPE, seed)


def test_fault_parameters_in_the_documented_ranges():
    r = DEFAULT.faults
    kinds, styles, counts = set(), set(), []
    for seed in range(24):
        m = SynthModel((64, 64, 64), seed)
        counts.append(len(m.faults))
        assert r.count[0] <= len(m.faults) <= r.count[1]
        for f in m.faults:
            assert r.dip[0] <= f["dip"] <= r.dip[1]
            assert r.small_throw[0] <= f["throw"] <= r.throw[1]
            assert 0 <= f["strike"] < 360
            kinds.add(f["kind"])
            styles.add(f["style"])
        assert [f["id"] for f in m.faults] == list(range(1, len(m.faults) + 1))
        assert DEFAULT.wavelet.peak_hz[0] <= m.peak_hz <= DEFAULT.wavelet.peak_hz[1]
        assert m.wavelet_kind in DEFAULT.wavelet.kinds
        assert m.snr_db is None or DEFAULT.noise.snr_db[0] <= m.snr_db <= DEFAULT.noise.snr_db[1]
        json.dumps(m.params)
    assert kinds == {"normal", "reverse"}
    assert {"planar", "listric"} <= styles
    assert min(counts) == 0 and max(counts) >= 8     # fault-free volumes are part of the training mix


def _neighbour_jumps(tau: np.ndarray, threshold: float) -> np.ndarray:
    """Voxels next to a lateral jump of the reflectivity time larger than `threshold` samples."""
    out = np.zeros(tau.shape, bool)
    for ax in (1, 2):
        d = np.abs(np.diff(tau, axis=ax)) > threshold
        lo, hi = [(0, 0)] * 3, [(0, 0)] * 3
        lo[ax], hi[ax] = (0, 1), (1, 0)
        out |= np.pad(d, lo) | np.pad(d, hi)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_labels_lie_on_the_displacement_discontinuities(seed):
    model = SynthModel((64, 64, 64), seed, synth_config("train", ["faults.count=[3,6]", "faults.none_prob=0"]))
    parts = model.render_components()
    labels = parts["fault_ids"] > 0
    assert 0.005 < labels.mean() < 0.2
    # every clear jump (> 3 samples) of the reflectivity time has a label within one voxel ...
    near = binary_dilation(labels, iterations=1)
    n_jumps = 0
    for ax in (1, 2):
        jump = np.abs(np.diff(parts["tau"], axis=ax)) > 3.0
        n = parts["tau"].shape[ax]
        beside = np.take(near, range(n - 1), axis=ax) | np.take(near, range(1, n), axis=ax)
        assert (jump & ~beside).sum() == 0
        n_jumps += jump.sum()
    assert n_jumps > 0
    # ... and labelled voxels sit next to a jump (slip >= 1 sample is labelled)
    assert _neighbour_jumps(parts["tau"], 0.75)[labels].mean() > 0.95
    # every planar fault with a label is one voxel thick along its normal's dominant axis
    for f in model.fault_objects:
        on = parts["fault_ids"] == f.id
        if on.sum() < 50 or f.style != "planar":
            continue
        ax = int(np.argmax(np.abs(f.vectors[2])))
        a, b = np.take(on, range(63), axis=ax), np.take(on, range(1, 64), axis=ax)
        assert (a & b).sum() <= 0.05 * on.sum()


def test_later_faults_offset_earlier_ones():
    # with several faults crossing, some earlier fault surface is cut and shifted by a later one
    model = SynthModel((64, 64, 64), 2, synth_config("classic"))
    ids = model.render()[2]
    counts = {f["id"]: int((ids == f["id"]).sum()) for f in model.faults}
    assert sum(c > 0 for c in counts.values()) >= 3


@pytest.mark.parametrize("seed,kinds", [(0, "[white]"), (5, "[trace]"), (6, "[lateral]"), (7, "[coherent]"),
                                        (8, "[white,trace,lateral,coherent]")])
def test_noise_level_matches_the_drawn_snr(seed, kinds):
    cfg = synth_config("train", [f"noise.kinds={kinds}", "noise.clean_prob=0", "amplitude.gain_prob=0",
                                 "amplitude.clip_prob=0", "amplitude.quantize_prob=0"])
    model = SynthModel((64, 64, 64), seed, cfg)
    parts = model.render_components()
    measured = 10 * np.log10(parts["clean"].var() / parts["noise"].var())
    assert abs(measured - model.snr_db) < 1.0
    seis = model.render()[0]
    assert 0.5 < seis.std() < 5.0   # clean signal scaled to unit RMS, plus noise


def test_trace_noise_is_independent_from_trace_to_trace():
    cfg = synth_config("train", ["noise.kinds=[trace]", "noise.clean_prob=0"])
    noise = SynthModel((64, 48, 48), 3, cfg).render_components()["noise"]
    lateral = np.corrcoef(noise[:, :-1].ravel(), noise[:, 1:].ravel())[0, 1]
    along_time = np.corrcoef(noise[:-1].ravel(), noise[1:].ravel())[0, 1]
    assert abs(lateral) < 0.05 and along_time > 0.3


def test_trace_gain_scales_whole_traces_and_leaves_other_volumes_alone():
    quiet = ["noise.clean_prob=0", "noise.spike_density=[0,0]", "noise.dead_traces=[0,0]", "noise.noisy_traces=[0,0]",
             "amplitude.clip_prob=0", "amplitude.quantize_prob=0", "amplitude.mute_prob=0"]
    base = synth_config("train", quiet + ["noise.kinds=[white]"])
    with_gain = synth_config("train", quiet + ["noise.kinds=[white,gain]", "noise.trace_gain=[0.3,0.3]"])
    plain, gained = SynthModel((48, 32, 32), 3, base), SynthModel((48, 32, 32), 3, with_gain)
    assert plain.noise.weights == gained.noise.weights and plain.noise.seeds == gained.noise.seeds
    assert gained.noise.gain_sigma == 0.3 and plain.noise.gain_sigma == 0.0
    a, b = plain.render()[0].astype(np.float64), gained.render()[0].astype(np.float64)
    ratio = (np.abs(b).sum(axis=0) + 1e-9) / (np.abs(a).sum(axis=0) + 1e-9)   # one gain per trace
    assert 0.15 < np.log(ratio).std() < 0.45
    live = np.abs(a) > 1e-3
    per_trace = np.where(live, b / np.where(live, a, 1), np.nan)
    assert np.nanmax(np.nanstd(per_trace, axis=0)) < 1e-3 * np.nanmean(per_trace)   # constant down each trace


EVERYTHING = ["wavelet.decay_prob=1", "wavelet.phase_prob=1", "reflectivity.unconformity_prob=1",
              "faults.count=[4,6]", "faults.none_prob=0", "faults.listric_prob=0.5", "faults.arcuate_prob=0.5",
              "faults.tip_prob=0.5", "noise.clean_prob=0", "noise.kinds=[white,trace,lateral,coherent,footprint,gain]",
              "noise.spike_density=[0.001,0.001]", "noise.dead_traces=[0.05,0.05]", "noise.noisy_traces=[0.05,0.05]",
              "amplitude.gain_prob=1", "amplitude.clip_prob=1", "amplitude.quantize_prob=1",
              "reflectivity.facies_prob=1", "reflectivity.channel_prob=1", "amplitude.mute_prob=1",
              "amplitude.mute_depth=[0.2,0.2]"]


@pytest.mark.parametrize("kind", ["ricker", "ormsby", "minphase"])
def test_every_variation_renders_box_by_box_like_the_whole(kind):
    model = SynthModel(SHAPE, 13, synth_config("train", EVERYTHING + [f"wavelet.kinds=[{kind}]"]))
    whole = model.render()
    p = model.params
    assert model.wavelet_kind == kind and p["unconformity"] and model.bits > 0
    assert p["facies"] and p["channels"] >= 1 and p["mute_depth"] > 0
    parts = [np.zeros(SHAPE, np.float32), np.zeros(SHAPE, np.uint8), np.zeros(SHAPE, np.uint8)]
    for box in block_boxes(SHAPE, 16):
        for dst, src in zip(parts, model.render(*box)):
            dst[box] = src
    for got, want in zip(parts, whole):
        assert np.array_equal(got, want)
    assert np.isfinite(whole[0]).all() and whole[1].any()
    dead = (whole[0] == 0).all(axis=0)
    assert dead.any()                                  # dead traces are zero all the way down
    assert (whole[0][:5] == 0).mean() > 0.5            # the top mute (20 % of 48 samples, gently dipping)


def test_families_render_and_fault_free_has_no_labels():
    for name in FAMILIES:
        seis, labels, ids, faults = synthesize((32, 32, 32), 4, synth_config(name))
        assert np.isfinite(seis).all() and seis.std() > 0
        if name == "fault-free":
            assert faults == [] and not labels.any() and not ids.any()


@pytest.mark.parametrize("override,message", [
    (["faults.dip=[80,40]"], "range"), (["noise.kinds=[pink]"], "unknown or no kinds"),
    (["faults.listric_prob=2"], "probability"), (["faults.colour=1"], "unknown key 'faults.colour'"),
    (["wavelet.peak_hz=[0,20]"], "peak_hz")])
def test_bad_synth_config_is_one_line(override, message):
    with pytest.raises(HpcfaultError, match=message):
        synth_config("train", override)
    with pytest.raises(HpcfaultError, match="unknown synthetic family"):
        synth_config("nope")


def test_cli_writes_volume_and_segy(tmp_path):
    import segyio

    out, sgy = tmp_path / "s.h5", tmp_path / "s.sgy"
    proc = run_cli("synth", out, "--shape", "32", "40", "24", "--seed", "9", "--segy", sgy, "--block", "16")
    assert "faults" in proc.stdout
    seis, labels, ids, faults = synthesize((32, 40, 24), 9)
    with h5py.File(out, "r") as f:
        assert f.attrs["axes"] == "time,inline,xline"
        assert np.array_equal(f["data"][...], seis)
        assert np.array_equal(f["labels"][...], labels)
        assert np.array_equal(f["fault_ids"][...], ids)
        assert json.loads(f.attrs["faults"]) == faults
        assert int(f.attrs["seed"]) == 9
        data = f["data"][...]
    with segyio.open(str(sgy), iline=189, xline=193) as s:
        cube = segyio.tools.cube(s)                      # (inline, xline, sample)
        assert cube.shape == (40, 24, 32)
        assert np.array_equal(np.transpose(cube, (2, 0, 1)), data)
        assert s.bin[segyio.BinField.Interval] == 4000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5", "s.sgy"]


def test_cli_bad_block_is_one_line_error(tmp_path):
    proc = run_cli("synth", tmp_path / "x.h5", "--shape", "8", "8", "8", "--block", "0", check=False)
    assert proc.returncode == 2 and "--block must be >= 1" in proc.stderr
    assert not (tmp_path / "x.h5").exists()


def test_cli_family_and_overrides(tmp_path):
    out = tmp_path / "q.h5"
    proc = run_cli("synth", out, "--shape", "32", "32", "32", "--seed", "2", "--family", "fault-free",
                   "noise.kinds=[trace]", "--no-progress")
    assert "family fault-free" in proc.stdout and "0 faults" in proc.stdout
    with h5py.File(out, "r") as f:
        assert f.attrs["synth_family"] == "fault-free"
        assert json.loads(f.attrs["synth_config"])["noise"]["kinds"] == ["trace"]
        assert not f["labels"][...].any()
        want = synthesize((32, 32, 32), 2, synth_config("fault-free", ["noise.kinds=[trace]"]))[0]
        assert np.array_equal(f["data"][...], want)
    bad = run_cli("synth", tmp_path / "b.h5", "faults.dip=[80,40]", check=False)
    assert bad.returncode == 2 and "faults.dip must be a range" in bad.stderr and not (tmp_path / "b.h5").exists()


def test_facies_channels_and_mute_leave_other_volumes_unchanged():
    """They draw from a stream of their own: switched off, a volume is what it was before them."""
    off = synth_config("train", ["reflectivity.facies_prob=0", "reflectivity.channel_prob=0",
                                 "amplitude.mute_prob=0"])
    on = synth_config("train", ["reflectivity.facies_prob=1", "reflectivity.channel_prob=1"])
    a, b = SynthModel(SHAPE, 21, off), SynthModel(SHAPE, 21, on)
    assert a.faults == b.faults and a.peak_hz == b.peak_hz         # the main stream is the same
    assert not np.array_equal(a.render()[0], b.render()[0])
    assert np.array_equal(a.render()[1], b.render()[1])            # labels do not move: no fault is made
