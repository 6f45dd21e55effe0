"""Sparse slice labels and false-negative injection: functions and `hpcfault labels sparsify`."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from conftest import run_cli
from hpcfault.data.sparse import drop_faults, kept_slices, slice_mask
from hpcfault.data.synth import write_synthetic
from hpcfault.errors import HpcfaultError
from hpcfault.io.volume import write_array

SHAPE = (32, 40, 36)


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    path = tmp_path_factory.mktemp("sparse") / "survey.h5"
    write_synthetic(path, SHAPE, seed=4, block=32)
    with h5py.File(path, "r") as f:
        return path, f["data"][...], f["labels"][...], f["fault_ids"][...]


def test_slice_mask_keeps_every_kth_slice():
    m = slice_mask((4, 10, 7), 3, "inline", offset=1)
    assert m.dtype == np.uint8 and m.shape == (4, 10, 7)
    assert m.sum(axis=(0, 2)).tolist() == [0, 28, 0, 0, 28, 0, 0, 28, 0, 0]
    assert slice_mask((4, 10, 7), 7, "xline").sum(axis=(0, 1)).tolist() == [40, 0, 0, 0, 0, 0, 0]
    assert slice_mask((4, 10, 7), 1, "t").all()
    assert kept_slices(100, 30).tolist() == [0, 30, 60, 90]


@pytest.mark.parametrize("args,msg", [((10, 11), "larger than the axis"), ((10, 0), "must be >= 1"),
                                      ((10, 3, 3), "--offset"), ((10, 3, -1), "--offset")])
def test_kept_slices_errors(args, msg):
    with pytest.raises(HpcfaultError, match=msg):
        kept_slices(*args)


def test_drop_faults_with_ids_removes_whole_faults(survey):
    _, _, labels, ids = survey
    mask = slice_mask(SHAPE, 4, "inline")
    sparse = labels * mask
    present = set(np.unique(ids[(sparse > 0)]).tolist()) - {0}
    out = drop_faults(sparse, mask, ids, 0.5, seed=3)
    kept = set(np.unique(ids[out > 0]).tolist()) - {0}
    assert len(present - kept) == int(np.floor(0.5 * len(present) + 0.5)) and kept < present
    assert np.array_equal(out[np.isin(ids, list(kept))], sparse[np.isin(ids, list(kept))])
    assert np.array_equal(drop_faults(sparse, mask, ids, 0.5, seed=3), out)          # seeded
    assert np.array_equal(drop_faults(sparse, mask, ids, 0.0, seed=3), sparse)
    assert drop_faults(sparse, mask, ids, 1.0, seed=3).sum() == 0


def test_drop_faults_without_ids_uses_slice_components(survey):
    _, _, labels, _ = survey
    mask = slice_mask(SHAPE, 5, "xline", offset=2)
    sparse = labels * mask
    out = drop_faults(sparse, mask, None, 0.5, seed=1)
    assert 0 < out.sum() < sparse.sum()
    assert ((out > 0) <= (sparse > 0)).all()
    assert np.array_equal(out, drop_faults(sparse, mask, None, 0.5, seed=1))


def test_drop_faults_errors():
    with pytest.raises(HpcfaultError, match="only 0 and 1"):
        drop_faults(np.full((2, 2, 2), 2), np.ones((2, 2, 2)), None, 0.5, 0)
    with pytest.raises(HpcfaultError, match="same shape"):
        drop_faults(np.zeros((2, 2, 2)), np.ones((2, 2, 3)), None, 0.5, 0)
    with pytest.raises(HpcfaultError, match=r"\[0, 1\]"):
        drop_faults(np.zeros((2, 2, 2)), np.ones((2, 2, 2)), None, 1.5, 0)


def test_cli_sparsify_inline(survey, tmp_path):
    path, data, labels, _ = survey
    out = tmp_path / "sparse.h5"
    proc = run_cli("labels", "sparsify", path, out, "--every", "8", "--axis", "inline", "--offset", "3")
    assert "5 labelled inline slices" in proc.stdout
    with h5py.File(out, "r") as f:
        assert sorted(f.keys()) == ["data", "geometry", "labels", "mask"]
        assert np.array_equal(f["data"][...], data)
        mask, got = f["mask"][...], f["labels"][...]
        assert json.loads(f.attrs["sparsify"])["kept_slices"] == 5
        assert "faults" in f.attrs
    want = slice_mask(SHAPE, 8, "inline", 3)
    assert np.array_equal(mask, want)
    assert np.array_equal(got, labels * want)


def test_cli_sparsify_drop_faults_by_id(survey, tmp_path):
    path, _, labels, ids = survey
    out = tmp_path / "fnl.h5"
    proc = run_cli("labels", "sparsify", path, out, "--every", "6", "--axis", "xline", "--drop-faults", "0.5",
                   "--seed", "2")
    assert "dropped faults" in proc.stdout
    with h5py.File(out, "r") as f:
        got, mask = f["labels"][...], f["mask"][...]
        info = json.loads(f.attrs["sparsify"])
    assert info["method"] == "fault_ids" and info["dropped_fault_ids"]
    assert np.array_equal(mask, slice_mask(SHAPE, 6, "xline"))          # mask kept: false negatives
    dropped = np.isin(ids, info["dropped_fault_ids"])
    assert got[dropped].sum() == 0
    assert np.array_equal(got[~dropped], (labels * mask)[~dropped])


def test_cli_sparsify_drop_faults_by_components(tmp_path, survey):
    _, data, labels, _ = survey
    src = tmp_path / "noids.h5"
    write_array(src, data, labels=labels)
    out = tmp_path / "fnl.h5"
    run_cli("labels", "sparsify", src, out, "--every", "4", "--drop-faults", "0.5", "--seed", "1")
    with h5py.File(out, "r") as f:
        got, mask = f["labels"][...], f["mask"][...]
        info = json.loads(f.attrs["sparsify"])
    assert info["method"] == "components" and info["dropped_traces"] > 0
    assert np.array_equal(got, drop_faults(labels * mask, mask, None, 0.5, seed=1, axis="inline"))


def test_cli_sparsify_errors(tmp_path, survey):
    path, data, labels, _ = survey
    cases = []
    nolab = tmp_path / "nolab.h5"
    write_array(nolab, data)
    cases.append(((nolab, "--every", "4"), "no 'labels' dataset"))
    bad = tmp_path / "bad.h5"
    write_array(bad, data, labels=(labels * 3).astype(np.uint8))
    cases.append(((bad, "--every", "4"), "only 0 and 1"))
    mism = tmp_path / "mism.h5"
    write_array(mism, data)
    with h5py.File(mism, "a") as f:
        f.create_dataset("labels", data=np.zeros((32, 40, 35), np.uint8))
    cases.append(((mism, "--every", "4"), "must match"))
    cases.append(((path, "--every", "41"), "larger than the axis"))
    cases.append(((path, "--every", "4", "--axis", "depthx"), "unknown axis"))
    for args, msg in cases:
        out = tmp_path / "out.h5"
        proc = run_cli("labels", "sparsify", args[0], out, *args[1:], check=False)
        assert proc.returncode == 2 and msg in proc.stderr, (args, proc.stderr)
        assert proc.stderr.count("\n") == 1
        assert not out.exists()
