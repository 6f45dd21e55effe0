"""Whole-survey normalization: mergeable statistics, histogram percentiles, MPI reduction."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_python_mpi
from hpcfault.cluster.mpi import SerialComm
from hpcfault.errors import HpcfaultError
from hpcfault.normalize import Normalizer, Stats, compute_stats, normalizer_from, stats_of


def _survey(shape=(20, 30, 16), seed=5):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3.0 + 1.0).astype(np.float32)
    x[3, 4, 5] = 40.0                              # a spike the percentile clip should ignore
    x[0, 0, :4] = [np.nan, np.inf, -np.inf, np.nan]
    return x


def _slabs(n, step):
    return [slice(s, min(n, s + step)) for s in range(0, n, step)]


def test_stats_of_and_merge_match_numpy():
    x = _survey()
    finite = x[np.isfinite(x)].astype(np.float64)
    parts = [stats_of(x[:, sl]) for sl in _slabs(x.shape[1], 7)]
    total = parts[0]
    for p in parts[1:]:
        total = total.merge(p)
    assert total.count == finite.size and total.nonfinite == 4
    assert total.min == finite.min() and total.max == finite.max()
    assert total.mean == pytest.approx(finite.mean(), rel=1e-9)
    assert total.std == pytest.approx(finite.std(), rel=1e-9)
    assert Stats().merge(total).count == total.count      # the empty Stats is the merge identity


def test_compute_stats_serial_percentiles_within_one_bin_width():
    x = _survey()
    finite = x[np.isfinite(x)]
    read = lambda sl: x[:, sl]  # noqa: E731
    st = compute_stats(read, _slabs(x.shape[1], 4), SerialComm(), bins=1024)
    width = (st.max - st.min) / 1024
    assert int(st.hist.sum()) == finite.size
    for q in (0.0, 0.5, 1.0, 25.0, 50.0, 99.5, 100.0):
        ref = np.percentile(finite, q, method="lower")
        assert abs(st.percentile(q) - ref) <= width * 1.0001, q
    # the cut into slabs does not change anything (integer histograms)
    st2 = compute_stats(read, _slabs(x.shape[1], 11), SerialComm(), bins=1024)
    np.testing.assert_array_equal(st.hist, st2.hist)
    assert (st2.min, st2.max, st2.count) == (st.min, st.max, st.count)
    with pytest.raises(HpcfaultError, match="different ranges"):
        stats_of(x, (0.0, 1.0), 8).merge(stats_of(x, (0.0, 2.0), 8))


def test_normalizer_min_max_and_percentile_clip():
    x = _survey()
    st = compute_stats(lambda sl: x[:, sl], _slabs(x.shape[1], 8), SerialComm())
    norm = normalizer_from(st)
    assert (norm.lo, norm.hi) == (st.min, st.max)
    y = norm.apply(x)
    assert y.dtype == np.float32 and np.isfinite(y).all()
    assert y.min() >= 0.0 and y.max() <= 1.0
    assert y[3, 4, 5] == 1.0 and y[np.unravel_index(np.nanargmin(np.where(np.isfinite(x), x, np.inf)), x.shape)] == 0.0
    # NaN / Inf are amplitude 0 before scaling
    zero = (0.0 - norm.lo) / (norm.hi - norm.lo)
    np.testing.assert_allclose(y[0, 0, :4], zero, rtol=1e-6)
    clipped = normalizer_from(st, clip_percentile=0.5)
    assert st.min < clipped.lo < clipped.hi < 40.0
    yc = clipped.apply(x)
    assert yc[3, 4, 5] == 1.0 and np.isfinite(yc).all()
    frac_saturated = np.mean((yc == 0.0) | (yc == 1.0))
    assert 0.005 < frac_saturated < 0.02                   # about 0.5 % per tail
    with pytest.raises(HpcfaultError, match=r"clip percentile must lie in \(0, 50\)"):
        normalizer_from(st, clip_percentile=60)
    assert Normalizer.from_dict(norm.to_dict()) == norm


def test_constant_and_all_nonfinite_surveys_give_half_everywhere():
    const = np.full((4, 5, 6), 7.5, np.float32)
    st = compute_stats(lambda s: const, [0], SerialComm())
    y = normalizer_from(st).apply(const)
    assert y.dtype == np.float32 and np.all(y == 0.5)
    assert normalizer_from(st, clip_percentile=0.5).apply(const).max() == 0.5
    nan = np.full((2, 2, 2), np.nan, np.float32)
    st = compute_stats(lambda s: nan, [0], SerialComm())
    assert st.count == 0 and st.nonfinite == 8
    assert np.all(normalizer_from(st).apply(nan) == 0.5)
    assert st.to_dict()["min"] is None


def test_block_scaling_is_the_same_as_whole_volume_scaling():
    x = _survey()
    norm = normalizer_from(stats_of(x))
    whole = norm.apply(x)
    np.testing.assert_array_equal(norm.apply(x[5:13, 7:20, 3:9]), whole[5:13, 7:20, 3:9])


MPI_SCRIPT = r"""
import json, sys
import numpy as np
from hpcfault.cluster.mpi import get_comm
from hpcfault.normalize import compute_stats, normalizer_from
rng = np.random.default_rng(5)
x = (rng.standard_normal((20, 30, 16)) * 3.0 + 1.0).astype(np.float32)
x[3, 4, 5] = 40.0
x[0, 0, :4] = [np.nan, np.inf, -np.inf, np.nan]
comm = get_comm()
seen = []
def read(sl):
    seen.append(sl.start)
    return x[:, sl]
slabs = [slice(s, min(30, s + 4)) for s in range(0, 30, 4)]
st = compute_stats(read, slabs, comm, bins=1024)
n = normalizer_from(st, clip_percentile=0.5)
out = {"rank": comm.rank, "size": comm.size, "count": st.count, "nonfinite": st.nonfinite,
       "min": st.min, "max": st.max, "hist": st.hist.tolist(), "lo": n.lo, "hi": n.hi,
       "mean": st.mean, "seen": sorted(set(seen))}
with open(f"{sys.argv[1]}/rank{comm.rank}.json", "w") as fh:   # files: rank outputs never interleave
    json.dump(out, fh)
"""


@pytest.mark.mpi
def test_compute_stats_under_mpiexec_two_ranks_equals_serial(tmp_path):
    run_python_mpi(2, MPI_SCRIPT, tmp_path)
    outs = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [o["rank"] for o in outs] == [0, 1] and outs[0]["size"] == 2
    assert outs[0]["seen"] == [0, 8, 16, 24] and outs[1]["seen"] == [4, 12, 20, 28]  # slabs[r::2]
    x = _survey()
    serial = compute_stats(lambda sl: x[:, sl], _slabs(30, 4), SerialComm(), bins=1024)
    ref = normalizer_from(serial, clip_percentile=0.5)
    for o in outs:
        assert (o["count"], o["nonfinite"], o["min"], o["max"]) == (serial.count, 4, serial.min, serial.max)
        assert o["hist"] == serial.hist.tolist()
        assert (o["lo"], o["hi"]) == (ref.lo, ref.hi)
        assert o["mean"] == pytest.approx(serial.mean, rel=1e-12)


def test_fit_normalizer_equals_the_survey_path():
    """Training scales a cube over its own statistics with the same passes predict makes over a survey."""
    from hpcfault.cluster.mpi import SerialComm
    from hpcfault.normalize import fit_normalizer

    x = np.random.default_rng(3).standard_normal((16, 12, 10)).astype(np.float32) * 50
    x[0, 0, 0] = np.nan
    survey = normalizer_from(compute_stats(lambda s: x[:, s], _slabs(x.shape[1], 3), SerialComm()), 0.5)
    assert fit_normalizer(x, 0.5) == survey
    assert fit_normalizer(x) == Normalizer(float(np.nanmin(x)), float(np.nanmax(x)))
    assert fit_normalizer(np.full((4, 4, 4), 7.0, np.float32), 0.5).constant
