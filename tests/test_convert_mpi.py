"""convert under mpiexec -n 2 and -n 3 equals the one-rank result, value for value."""
from __future__ import annotations

from dataclasses import replace

import h5py
import numpy as np
import pytest

from hpcfault.io.segy import write_segy
from hpcfault.io.volume import SurveyGeometry
from tests.conftest import run_cli

pytestmark = pytest.mark.mpi


@pytest.fixture(scope="module")
def irregular_segy(tmp_path_factory):
    """40 x 23 x 17 survey with missing traces; with --memory-budget 16KiB it is read in 8 ranges of 3 inlines."""
    path = tmp_path_factory.mktemp("mpi") / "survey.sgy"
    rng = np.random.default_rng(7)
    data = rng.standard_normal((40, 23, 17)).astype(np.float32)
    live = rng.random((23, 17)) > 0.05
    geom = replace(SurveyGeometry.regular(data.shape), inlines=np.arange(300, 323), xlines=np.arange(17) * 4 + 50,
                   live=live, samples=np.arange(40) * 4.0, sample_interval=4.0, sample_unit="ms")
    write_segy(path, data, geom)
    return path, data, live


def _read(path):
    with h5py.File(path, "r") as f:
        return {"data": f["data"][...], **{f"geometry/{k}": v[...] for k, v in f["geometry"].items()},
                "attrs": {k: f.attrs[k] for k in f.attrs if k != "source"}}


def test_mpi_convert_equals_one_rank(irregular_segy, tmp_path):
    path, data, live = irregular_segy
    args = ["--memory-budget", "16KiB", "--no-progress"]
    one = run_cli("convert", path, tmp_path / "one.h5", *args)
    assert "8 inline ranges on 1 rank," in one.stdout
    ref = _read(tmp_path / "one.h5")
    assert np.array_equal(ref["data"][:, live], data[:, live]) and not ref["data"][:, ~live].any()
    for n in (2, 3):
        proc = run_cli("convert", path, tmp_path / f"n{n}.h5", *args, ranks=n)
        assert f"8 inline ranges on {n} ranks" in proc.stdout and proc.stdout.count("wrote") == 1
        got = _read(tmp_path / f"n{n}.h5")
        assert got.keys() == ref.keys()
        for key in ref:
            if key == "attrs":
                assert {k: str(v) for k, v in got[key].items()} == {k: str(v) for k, v in ref[key].items()}
            else:
                assert np.array_equal(got[key], ref[key]), key
        assert not list(tmp_path.glob(".*tmp*"))


def test_mpi_bad_input_is_one_line_and_no_output(tmp_path, segy_data):
    proc = run_cli("convert", segy_data / "small-ps.sgy", tmp_path / "o.h5", ranks=2, check=False)
    assert proc.returncode != 0
    errors = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert len(errors) == 1 and "prestack data" in errors[0], proc.stderr
    assert not list(tmp_path.iterdir())
