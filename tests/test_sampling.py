"""CubeSampler: mixing, rank sharding, resume, bad data; augmentation moves labels with seismic."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from hpcfault.data.augment import AugmentConfig, augment
from hpcfault.data.sampling import CubeSampler, SyntheticSource, VolumeSource
from hpcfault.data.sparse import slice_mask
from hpcfault.data.synth import synthesize
from hpcfault.errors import HpcfaultError
from hpcfault.io.volume import write_array

SHAPE = (32, 48, 40)
CUBE = 16


@pytest.fixture(scope="module")
def volume(tmp_path_factory):
    """A sparse-label training volume (every 6th inline labelled)."""
    seis, labels, _, _ = synthesize(SHAPE, 21)
    mask = slice_mask(SHAPE, 6, "inline")
    path = tmp_path_factory.mktemp("sampling") / "train.h5"
    write_array(path, seis, labels=labels * mask, mask=mask)
    return path


def _sampler(volume, **kw):
    opts = dict(weights=[1, 2], cube=CUBE, min_fault_voxels=8, seed=5)
    opts.update(kw)
    return CubeSampler([SyntheticSource(seed=1), VolumeSource(volume)], **opts)


def _draw(sampler, n):
    """n cubes, each with the sampler's note of its global index added."""
    out = []
    for _ in range(n):
        item = next(sampler)
        out.append({**item, "index": sampler.last["index"]})
    return out


def _same(a, b):
    return all(np.array_equal(a[k], b[k]) for k in ("seismic", "labels", "mask"))


def test_cubes_are_scaled_masked_and_hold_faults(volume):
    s = _sampler(volume)
    sources = set()
    for _ in range(8):
        item = next(s)
        assert sorted(item) == ["labels", "mask", "seismic"]
        for k in ("seismic", "labels", "mask"):
            assert item[k].shape == (CUBE,) * 3 and item[k].dtype == np.float32
        assert 0.0 <= item["seismic"].min() and item["seismic"].max() <= 1.0
        assert set(np.unique(item["labels"])) <= {0.0, 1.0} and set(np.unique(item["mask"])) <= {0.0, 1.0}
        assert ((item["labels"] > 0) & (item["mask"] > 0)).sum() >= 8
        sources.add(s.last["source"])
    assert sources == {"synthetic", "train.h5"}
    batch = _sampler(volume).batch(3)
    assert batch["seismic"].shape == (3, 1, CUBE, CUBE, CUBE)


def test_ranks_draw_disjoint_cubes_that_a_single_process_would_draw(volume):
    single = _sampler(volume)
    one = _draw(single, 6)
    ranks = [_sampler(volume, rank=r, world_size=2) for r in (0, 1)]
    drawn = [_draw(s, 3) for s in ranks]
    idx0, idx1 = [it["index"] for it in drawn[0]], [it["index"] for it in drawn[1]]
    assert not set(idx0) & set(idx1)
    assert sorted(idx0 + idx1) == [it["index"] for it in one]
    for it in drawn[0] + drawn[1]:
        assert _same(it, one[it["index"]])
    for a in drawn[0]:
        for b in drawn[1]:
            assert not np.array_equal(a["seismic"], b["seismic"])


def test_state_dict_resumes_the_stream_exactly(volume):
    a = _sampler(volume, rank=1, world_size=3)
    for _ in range(4):
        next(a)
    state = a.state_dict()
    want = [next(a) for _ in range(3)]
    b = _sampler(volume, rank=1, world_size=3)
    b.load_state_dict(state)
    assert all(_same(x, next(b)) for x in want)
    # a resume with another world size continues after every cube already drawn
    c = _sampler(volume, rank=0, world_size=2)
    c.load_state_dict(state)
    next(c)
    assert c.last["index"] >= 4 * 3
    with pytest.raises(HpcfaultError, match="seed"):
        _sampler(volume, seed=6).load_state_dict(state)
    with pytest.raises(HpcfaultError, match="not a sampler state"):
        b.load_state_dict({"position": 1})


def test_weights_pick_sources(volume):
    only_volume = _sampler(volume, weights=[0, 1])
    names = set()
    for _ in range(5):
        next(only_volume)
        names.add(only_volume.last["source"])
    assert names == {"train.h5"}
    with pytest.raises(HpcfaultError, match="weights"):
        _sampler(volume, weights=[1])
    with pytest.raises(HpcfaultError, match="weights"):
        _sampler(volume, weights=[-1, 1])


def test_larger_synthetic_shape_renders_a_window():
    s = CubeSampler([SyntheticSource(shape=(40, 40, 40), seed=3)], cube=CUBE, min_fault_voxels=1, augment=False)
    assert next(s)["seismic"].shape == (CUBE,) * 3
    with pytest.raises(HpcfaultError, match="larger than the synthetic shape"):
        CubeSampler([SyntheticSource(shape=(8, 40, 40))], cube=CUBE)


def _write(path, **arrays):
    data = arrays.pop("data", np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32))
    write_array(path, data, **arrays)
    return path


def test_bad_training_volumes_each_give_one_clear_error(tmp_path):
    ones = np.ones(SHAPE, np.uint8)
    labels = np.zeros(SHAPE, np.uint8)
    labels[:, :, 20] = 1
    cases = [
        (dict(labels=labels), "no mask dataset"),
        (dict(labels=labels * 2, mask=ones), "only 0 and 1"),
        (dict(labels=labels, mask=ones * 3), "only 0 and 1"),
        (dict(labels=labels, mask=0 * ones), "no labelled slice"),
    ]
    for k, (arrays, msg) in enumerate(cases):
        with pytest.raises(HpcfaultError, match=msg):
            VolumeSource(_write(tmp_path / f"bad{k}.h5", **arrays))
    mism = _write(tmp_path / "mism.h5", labels=labels)
    with h5py.File(mism, "a") as f:
        f.create_dataset("mask", data=np.ones((32, 48, 39), np.uint8))
    with pytest.raises(HpcfaultError, match="must match"):
        VolumeSource(mism)
    good = _write(tmp_path / "good.h5", labels=labels, mask=ones)
    with pytest.raises(HpcfaultError, match="larger than the volume"):
        CubeSampler([good], cube=(16, 16, 41))
    empty = _write(tmp_path / "empty.h5", labels=0 * labels, mask=ones)
    with pytest.raises(HpcfaultError, match="no labelled fault voxel"):
        CubeSampler([empty], cube=CUBE, min_fault_voxels=1)
    with pytest.raises(HpcfaultError, match="no cube of"):
        next(CubeSampler([good], cube=CUBE, min_fault_voxels=10 ** 6, max_tries=3))


def _marked_cube(n=24):
    """Seismic whose bright voxels are exactly the labels (so both must move together)."""
    rng = np.random.default_rng(1)
    labels = np.zeros((n, n, n), np.float32)
    labels[:, 5, :] = 1
    labels[:, :, 7] = 1
    labels[3:9, 10:20, 12:14] = 1
    seis = np.where(labels > 0, 0.9, 0.1 + 0.05 * rng.random((n, n, n))).astype(np.float32)
    return seis, labels, np.ones_like(labels)


def test_augmentation_moves_labels_and_mask_with_the_seismic():
    seis, labels, mask = _marked_cube()
    geometric = AugmentConfig(rotate_prob=0.0, scale=(1.0, 1.0), noise_prob=0.0, flip_time=True)
    seen = set()
    for k in range(12):
        s, l, m = augment(seis, labels, mask, np.random.default_rng(k), geometric)
        assert np.array_equal(l, (s > 0.5).astype(np.float32)) and m.all()
        assert l.sum() == labels.sum()
        seen.add(s.tobytes())
    assert len(seen) > 4
    rotating = AugmentConfig(rot90=False, rotate_prob=1.0, max_angle=40.0, scale=(1.0, 1.0), noise_prob=0.0)
    for k in range(4):
        s, l, m = augment(seis, labels, mask, np.random.default_rng(k), rotating)
        inside = m > 0
        assert 0.4 < inside.mean() < 1.0 or np.array_equal(l, labels)     # corners leave the mask
        assert set(np.unique(l)) <= {0.0, 1.0} and set(np.unique(m)) <= {0.0, 1.0}
        agree = (l[inside] > 0) == (s[inside] > 0.5)
        assert agree.mean() > 0.97
    s, _, _ = augment(seis, labels, mask, np.random.default_rng(0), AugmentConfig(noise_prob=1.0, noise_max=0.2))
    assert 0.0 <= s.min() and s.max() <= 1.0


def test_mirror_augmentation_reflect_pads_a_smaller_box_back_to_the_cube():
    """As predict pads a survey narrower than a block: seismic, labels and mask cut from the same
    box and reflect-padded the same way."""
    from hpcfault.data.augment import AugmentConfig, augment_arrays

    rng = np.random.default_rng(0)
    labels = (rng.random((16, 16, 16)) > 0.9).astype(np.float32)
    arrays = {"seismic": labels * 0.5 + 0.25, "labels": labels, "mask": np.ones((16, 16, 16), np.float32)}
    plain = AugmentConfig(rot90=False, rotate_prob=0, flip_lateral=False, scale=(1.0, 1.0), noise_prob=0,
                          mirror_prob=1.0, mirror_min=0.25)
    out = augment_arrays(arrays, np.random.default_rng(3), plain)
    assert {k: v.shape for k, v in out.items()} == {k: (16, 16, 16) for k in arrays}
    assert np.array_equal(out["seismic"], out["labels"] * 0.5 + 0.25)     # moved together
    assert not np.array_equal(out["labels"], labels)


def test_survey_gain_gives_cubes_a_weak_ramped_contrast_and_leaves_labels_alone():
    """data.gain_prob: a cube as the weak (or clipped) part of a survey scaled as a whole, its
    amplitude ramped along time; labels and mask untouched, seismic kept in [0, 1]."""
    from hpcfault.data.augment import AugmentConfig, augment_arrays
    from hpcfault.train.config import TrainConfig, check
    from hpcfault.train.stream import augment_config

    rng = np.random.default_rng(0)
    seis = rng.random((32, 16, 16), dtype=np.float32)
    labels = (rng.random((32, 16, 16)) > 0.9).astype(np.float32)
    arrays = {"seismic": seis, "labels": labels, "mask": np.ones_like(seis)}
    plain = dict(rot90=False, rotate_prob=0, flip_lateral=False, scale=(1.0, 1.0), noise_prob=0)
    out = augment_arrays(arrays, np.random.default_rng(1), AugmentConfig(**plain))
    assert np.array_equal(out["seismic"], seis)                       # gain_prob 0: as before
    stds = []
    for k in range(20):
        out = augment_arrays(arrays, np.random.default_rng(k), AugmentConfig(**plain, gain_prob=1.0))
        assert np.array_equal(out["labels"], labels) and out["mask"].min() == 1.0
        assert 0.0 <= out["seismic"].min() and out["seismic"].max() <= 1.0
        s = out["seismic"]
        stds.append((float(s[:4].std()), float(s[-4:].std())))
    ratios = [max(a, b) / min(a, b) for a, b in stds]
    assert max(ratios) > 3.0                                          # ramped along time
    assert min(min(p) for p in stds) < 0.3 * float(seis.std())        # a weak region
    cfg = TrainConfig(run_dir="x")
    from dataclasses import replace
    assert augment_config(cfg) is True
    assert augment_config(replace(cfg, data=replace(cfg.data, gain_prob=0.3))).gain_prob == 0.3
    with pytest.raises(HpcfaultError, match="data.gain_prob must lie in"):
        check(replace(cfg, data=replace(cfg.data, gain_prob=1.5)))


def test_fault_free_synthetic_surveys_are_left_out_when_cubes_must_hold_faults(tmp_path):
    """A synthetic-survey source may make fault-free surveys; with min_fault_voxels > 0 they can give
    no cube, so build_stream leaves them out (and keeps all when none has a fault, for the check)."""
    from hpcfault.train.stream import with_faults

    ones = np.ones(SHAPE, np.uint8)
    faulted = np.zeros(SHAPE, np.uint8)
    faulted[:, :, 20] = 1
    a = VolumeSource(_write(tmp_path / "a.h5", labels=faulted, mask=ones))
    b = VolumeSource(_write(tmp_path / "b.h5", labels=np.zeros(SHAPE, np.uint8), mask=ones))
    assert with_faults([a, b], 48, "x") == [a]
    assert with_faults([a, b], 0, "x") == [a, b]
    assert with_faults([b], 48, "x") == [b]
    with pytest.raises(HpcfaultError, match="no labelled fault voxel inside the mask"):
        b.check((16, 16, 16), 48)
