"""convert: generated SEG-Y (regular, irregular, several inline ranges), .npy, .dat, HDF5 inputs,
and the pure planning helpers."""
from __future__ import annotations

from dataclasses import replace

import h5py
import numpy as np
import pytest

from hpcfault.cli import main
from hpcfault.errors import HpcfaultError
from hpcfault.io.convert import convert
from hpcfault.io.segy import write_segy
from hpcfault.io.segy_scan import build_grid, line_axis
from hpcfault.io.slabs import parse_size, plan_ranges, rank_share, slab_lines
from hpcfault.io.sources import open_source
from hpcfault.io.volume import SurveyGeometry, open_volume, read_geometry, write_array


def survey(shape=(30, 13, 11), seed=0, dead=()):
    data = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    live = np.ones(shape[1:], bool)
    for i, x in dead:
        live[i, x] = False
    geom = replace(SurveyGeometry.regular(shape), inlines=np.arange(200, 200 + 2 * shape[1], 2),
                   xlines=np.arange(1000, 1000 + shape[2]), samples=np.arange(shape[0]) * 2.0 + 100,
                   sample_interval=2.0, sample_unit="ms", live=live,
                   cdp_x=np.arange(shape[1] * shape[2]).reshape(shape[1:]) * 12.5)
    return data, geom


# --- pure planning --------------------------------------------------------------------------------

def test_parse_size():
    assert parse_size("256MiB") == 256 * 2**20 and parse_size("1.5GB") == 1_500_000_000
    assert parse_size("64k") == 64_000 and parse_size("1000") == 1000
    with pytest.raises(HpcfaultError, match="cannot read the memory size"):
        parse_size("lots")


def test_slab_planning():
    assert slab_lines(100, 1000) == 10
    assert slab_lines(100, 1000, align=4) == 8        # whole chunks when they fit
    assert slab_lines(100, 300, align=4) == 3         # else as many as fit
    assert slab_lines(100, 10) == 1                   # never fewer than one line
    assert plan_ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert plan_ranges(0, 4) == []
    assert [k for k, _ in rank_share(plan_ranges(10, 1), 1, 3)] == [1, 4, 7]


def test_line_axis_fills_gaps_in_a_stepped_numbering():
    assert list(line_axis(np.array([5, 1, 3, 9, 9]))) == [1, 3, 5, 7, 9]
    assert list(line_axis(np.array([1, 2, 1000]))) == [1, 2, 1000]   # filling would explode: keep
    assert list(line_axis(np.array([7]))) == [7]


def test_build_grid_marks_missing_and_rejects_duplicates():
    il = np.array([1, 1, 2, 2, 3])
    xl = np.array([10, 11, 10, 11, 11])
    inl, xln, table = build_grid(il, xl)
    assert list(inl) == [1, 2, 3] and list(xln) == [10, 11]
    assert table.tolist() == [[0, 1], [2, 3], [-1, 4]]
    with pytest.raises(HpcfaultError, match="prestack"):
        build_grid(np.array([1, 1, 2, 2]), np.array([1, 1, 1, 1]), offsets=np.array([0, 50, 0, 50]))
    with pytest.raises(HpcfaultError, match="share an inline/crossline position"):
        build_grid(np.array([1, 1, 2]), np.array([1, 1, 1]))
    with pytest.raises(HpcfaultError, match="probably not the inline/crossline bytes"):
        build_grid(np.arange(10), np.arange(10))


# --- SEG-Y ----------------------------------------------------------------------------------------

def test_irregular_segy_fills_zeros_and_keeps_live_mask(tmp_path, capsys):
    data, geom = survey(dead=[(0, 0), (4, 7), (12, 10)])
    write_segy(tmp_path / "s.sgy", data, geom)
    rc = main(["convert", str(tmp_path / "s.sgy"), str(tmp_path / "s.h5"), "--no-progress",
               "--memory-budget", "8KiB"])
    out = capsys.readouterr().out
    assert rc == 0 and "3 missing traces filled with zeros" in out
    with open_volume(tmp_path / "s.h5") as f:
        g = read_geometry(f)
        vol = f["data"][...]
        assert f.attrs["missing_traces"] == 3
    assert np.array_equal(g.live, geom.live)
    assert np.array_equal(vol[:, geom.live], data[:, geom.live])
    assert not vol[:, ~geom.live].any()
    assert np.array_equal(g.inlines, geom.inlines) and np.array_equal(g.xlines, geom.xlines)
    assert np.array_equal(g.samples, geom.samples) and g.sample_interval == 2.0 and g.sample_unit == "ms"
    assert np.allclose(g.cdp_x[geom.live], geom.cdp_x[geom.live])
    assert (g.iline_byte, g.xline_byte) == (189, 193)


def test_missing_whole_inline_becomes_a_dead_line(tmp_path):
    data, geom = survey(shape=(8, 6, 5))
    live = geom.live.copy()
    live[3] = False
    write_segy(tmp_path / "s.sgy", data, replace(geom, live=live))
    with open_source(tmp_path / "s.sgy") as src:
        assert src.shape == (8, 6, 5) and src.missing == 5
        assert list(src.geometry.inlines) == list(geom.inlines)
        assert not src.read(slice(None), slice(3, 4), slice(None)).any()


@pytest.mark.parametrize("budget", ["1", "20KiB", "256MiB"])
def test_memory_budget_changes_ranges_not_values(tmp_path, budget):
    data, geom = survey()
    write_segy(tmp_path / "s.sgy", data, geom)
    rep = convert(tmp_path / "s.sgy", tmp_path / "s.h5", memory_budget=parse_size(budget), progress=False)
    assert rep.ranges == {"1": 13, "20KiB": 2, "256MiB": 1}[budget]
    with h5py.File(tmp_path / "s.h5") as f:
        assert np.array_equal(f["data"][...], data)


def test_sub_box_reads_match(tmp_path):
    data, geom = survey(dead=[(2, 3)])
    write_segy(tmp_path / "s.sgy", data, geom)
    expect = np.where(geom.live[None], data, 0)
    with open_source(tmp_path / "s.sgy") as src:
        assert np.array_equal(src.read(slice(5, 17), slice(1, 9), slice(2, 11)), expect[5:17, 1:9, 2:11])


def test_truncated_generated_segy_leaves_no_output(tmp_path, capsys):
    data, geom = survey()
    write_segy(tmp_path / "s.sgy", data, geom)
    raw = (tmp_path / "s.sgy").read_bytes()
    (tmp_path / "cut.sgy").write_bytes(raw[:-100])
    rc = main(["convert", str(tmp_path / "cut.sgy"), str(tmp_path / "o.h5"), "--no-progress"])
    assert rc == 2 and "truncated" in capsys.readouterr().err
    assert not (tmp_path / "o.h5").exists() and not list(tmp_path.glob(".o.h5*"))


def test_wrong_line_bytes_message(tmp_path, capsys):
    data, geom = survey()
    write_segy(tmp_path / "s.sgy", data, geom)
    rc = main(["convert", str(tmp_path / "s.sgy"), str(tmp_path / "o.h5"), "--iline", "5", "--xline", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "--scan-bytes" in err and not (tmp_path / "o.h5").exists()


# --- arrays ---------------------------------------------------------------------------------------

def test_npy_with_declared_axes(tmp_path, capsys):
    data, _ = survey(shape=(9, 5, 7))
    np.save(tmp_path / "c.npy", data.transpose(1, 2, 0))          # stored as (inline, xline, time)
    rc = main(["convert", str(tmp_path / "c.npy"), str(tmp_path / "c.h5"), "--axes", "inline,xline,time",
               "--no-progress", "--memory-budget", "1"])
    assert rc == 0, capsys.readouterr().err
    with open_volume(tmp_path / "c.h5") as f:
        assert np.array_equal(f["data"][...], data) and f.attrs["source_axes"] == "inline,xline,time"
    rc = main(["convert", str(tmp_path / "c.npy"), str(tmp_path / "d.h5")])
    assert rc == 2 and "declare its order with --axes" in capsys.readouterr().err
    assert not (tmp_path / "d.h5").exists()


def test_faultseg3d_dat_default_order_and_override(tmp_path, capsys):
    data, _ = survey(shape=(8, 6, 4))
    data.transpose(1, 2, 0).astype("<f4").tofile(tmp_path / "0.dat")   # x[inline][xline][time]
    assert main(["convert", str(tmp_path / "0.dat"), str(tmp_path / "a.h5"), "--shape", "6", "4", "8",
                 "--no-progress"]) == 0
    data.astype(">f4").tofile(tmp_path / "1.dat")                       # big-endian, engine order
    assert main(["convert", str(tmp_path / "1.dat"), str(tmp_path / "b.h5"), "--shape", "8", "6", "4",
                 "--axes", "time,inline,xline", "--endian", "big", "--no-progress"]) == 0
    for name in ("a.h5", "b.h5"):
        with open_volume(tmp_path / name) as f:
            assert np.array_equal(f["data"][...], data)
    assert main(["convert", str(tmp_path / "0.dat"), str(tmp_path / "c.h5"), "--shape", "6", "4", "9"]) == 2
    assert "needs" in capsys.readouterr().err and not (tmp_path / "c.h5").exists()


def test_hdf5_inputs(tmp_path, capsys):
    data, geom = survey(shape=(8, 6, 4))
    write_array(tmp_path / "v.h5", data, replace(geom, live=None))
    assert main(["convert", str(tmp_path / "v.h5"), str(tmp_path / "w.h5"), "--no-progress"]) == 0
    with open_volume(tmp_path / "w.h5") as f:
        assert np.array_equal(f["data"][...], data)
        assert np.array_equal(read_geometry(f).inlines, geom.inlines)   # geometry travels along
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["grp/seis"] = data.transpose(2, 1, 0)                         # (xline, inline, time)
    assert main(["convert", str(tmp_path / "other.h5"), str(tmp_path / "o.h5"), "--dataset", "grp/seis",
                 "--axes", "xline,inline,time", "--no-progress"]) == 0
    with open_volume(tmp_path / "o.h5") as f:
        assert np.array_equal(f["data"][...], data)
    assert main(["convert", str(tmp_path / "other.h5"), str(tmp_path / "p.h5")]) == 2
    assert "grp/seis" in capsys.readouterr().err


def test_same_input_and_output_is_refused(tmp_path):
    data, geom = survey(shape=(8, 6, 4))
    write_array(tmp_path / "v.h5", data)
    with pytest.raises(HpcfaultError, match="same file"):
        convert(tmp_path / "v.h5", tmp_path / "v.h5", progress=False)


def test_unwritable_output_is_one_line(tmp_path, capsys):
    data, _ = survey(shape=(8, 6, 4))
    np.save(tmp_path / "c.npy", data)
    (tmp_path / "afile").write_text("x")
    rc = main(["convert", str(tmp_path / "c.npy"), str(tmp_path / "afile" / "o.h5"), "--axes", "tix"])
    err = capsys.readouterr().err
    assert rc == 2 and "which is a regular file, not a folder" in err and len(err.strip().splitlines()) == 1
