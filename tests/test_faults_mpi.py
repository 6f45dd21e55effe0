"""`hpcfault faults` under mpiexec -n 1, 2, 3: identical output folders; other slab cuts: identical
fault objects; a failure on one rank ends every rank with one line and no output."""
from __future__ import annotations

import filecmp
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.mpi

PLANAR = ["faults.listric_prob=0", "faults.arcuate_prob=0", "faults.tip_prob=0"]


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """64^3 classic synthetic with three faults; with --memory 8MiB it is cut into 3 slabs."""
    d = tmp_path_factory.mktemp("faults-mpi")
    run_cli("synth", d / "s.h5", "--shape", "64", "64", "64", "--seed", "11", "--family", "classic",
            "faults.count=[3,3]", "--no-progress", *PLANAR)
    return d / "s.h5"


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _same_volume(a: Path, b: Path) -> None:
    with h5py.File(a) as fa, h5py.File(b) as fb:
        names = []
        fa.visit(names.append)
        assert sorted(names) == sorted(_visit(fb))
        for n in names:
            if isinstance(fa[n], h5py.Dataset):
                assert np.array_equal(fa[n][...], fb[n][...]), (a, n)
        assert {k: str(v) for k, v in fa.attrs.items()} == {k: str(v) for k, v in fb.attrs.items()}


def _visit(f) -> list[str]:
    out: list[str] = []
    f.visit(out.append)
    return out


def test_one_two_three_ranks_write_identical_folders(survey, tmp_path):
    args = ["--dataset", "labels", "--memory", "8MiB"]
    outs = {}
    for n in (1, 2, 3):
        outs[n] = tmp_path / f"n{n}"
        proc = run_cli("faults", survey, "-o", outs[n], *args, ranks=n)
        assert f"3 slabs of 23 inlines (+14 halo) on {n} rank{'s' if n > 1 else ''}" in proc.stdout, proc.stdout
        assert proc.stdout.count("wrote") == 1
    files = _files(outs[1])
    assert "fault-ids.h5" in files and "sticks/charisma.txt" in files and len(files) > 8
    for n in (2, 3):
        assert _files(outs[n]) == files
        for name in files:
            if name.endswith(".h5"):
                _same_volume(outs[1] / name, outs[n] / name)
            else:
                assert filecmp.cmp(outs[1] / name, outs[n] / name, shallow=False), name
    assert not list(tmp_path.glob(".*tmp*"))


def test_the_slab_cut_does_not_change_the_fault_objects(survey, tmp_path):
    run_cli("faults", survey, "--dataset", "labels", "-o", tmp_path / "one", "--memory", "1GiB")
    run_cli("faults", survey, "--dataset", "labels", "-o", tmp_path / "many", "--slab-inlines", "5", ranks=2)
    for name in ("fault-ids.h5", "thinned.h5"):
        _same_volume(tmp_path / "one" / name, tmp_path / "many" / name)
    for name in _files(tmp_path / "one"):
        if name.startswith("points/") or name.startswith("sticks/"):
            assert filecmp.cmp(tmp_path / "one" / name, tmp_path / "many" / name, shallow=False), name


def test_a_failing_rank_ends_the_run_with_one_line(survey, tmp_path):
    # the seismic in 'data' is no probability: every slab fails; each rank reports, rank 0 prints once
    proc = run_cli("faults", survey, "-o", tmp_path / "bad", "--memory", "8MiB", ranks=3, check=False)
    errors = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert proc.returncode != 0 and len(errors) == 1, proc.stderr
    assert "fault probabilities must be finite values in [0, 1]" in errors[0]
    assert not (tmp_path / "bad").exists() and not list(tmp_path.glob(".bad.tmp-*"))
