"""SEG-Y -> volume file -> SEG-Y keeps the textual, binary and trace headers and the amplitudes."""
from __future__ import annotations

from dataclasses import replace

import h5py
import numpy as np
import pytest
import segyio

from hpcfault.cli import main
from hpcfault.io.segy import write_segy
from hpcfault.io.volume import SurveyGeometry, write_array
from tests.conftest import run_cli, shared_path


def _records(path, fmt_bytes, endian):
    """(text+binary headers, trace headers (n, 240) bytes) read straight from the file."""
    raw = np.fromfile(path, dtype=np.uint8)
    ns = int.from_bytes(raw[3220:3222].tobytes(), endian)
    rec = 240 + ns * fmt_bytes
    traces = raw[3600:].reshape(-1, rec)
    return raw[:3600], traces[:, :240]


def _round_trip(tmp_path, src, endian, fmt_bytes, ranks=0):
    args = ["--endian", endian] if endian == "little" else []
    run_cli("convert", src, tmp_path / "v.h5", *args, "--no-progress", "--memory-budget", "4KiB", ranks=ranks)
    run_cli("export", tmp_path / "v.h5", "--like", src, "-o", tmp_path / "out.sgy", "--memory-budget", "4KiB")
    head0, th0 = _records(src, fmt_bytes, endian)
    head1, th1 = _records(tmp_path / "out.sgy", 4, endian)
    assert np.array_equal(head0[:3224], head1[:3224]) and np.array_equal(head0[3226:], head1[3226:])
    assert np.array_equal(th0, th1), "every trace header is kept byte for byte"
    with segyio.open(src, ignore_geometry=True, endian=endian) as a, \
            segyio.open(tmp_path / "out.sgy", ignore_geometry=True, endian=endian) as b:
        assert b.bin[segyio.BinField.Format] == 5
        assert a.tracecount == b.tracecount
        assert np.array_equal(a.trace.raw[:].astype(np.float32), b.trace.raw[:]), "amplitudes kept exactly"
    assert not list(tmp_path.glob(".*")), "no temporary file left"


@pytest.mark.shared
@pytest.mark.parametrize("name,endian,fmt_bytes", [
    ("f3.sgy", "big", 2),            # int16 samples
    ("small.sgy", "big", 4),         # IBM float: exported as IEEE float, same values
    ("small-lsb.sgy", "little", 4),  # little-endian stays little-endian
])
def test_round_trip_shared(tmp_path, name, endian, fmt_bytes):
    _round_trip(tmp_path, shared_path("segy-test-data", name), endian, fmt_bytes)


def test_round_trip_irregular_generated(tmp_path):
    data = np.random.default_rng(3).standard_normal((12, 7, 5)).astype(np.float32)
    live = np.ones((7, 5), bool)
    live[0, 0] = live[3, 2] = live[6, 4] = False
    write_segy(tmp_path / "s.sgy", data, replace(SurveyGeometry.regular(data.shape), live=live))
    (tmp_path / "in").mkdir()
    (tmp_path / "s.sgy").rename(tmp_path / "in" / "s.sgy")
    _round_trip(tmp_path, tmp_path / "in" / "s.sgy", "big", 4)


def test_exported_values_come_from_the_volume(tmp_path, capsys):
    src = tmp_path / "s.sgy"
    data = np.arange(6 * 3 * 4, dtype=np.float32).reshape(6, 3, 4)
    write_segy(src, data)
    assert main(["convert", str(src), str(tmp_path / "v.h5"), "--no-progress"]) == 0
    with h5py.File(tmp_path / "v.h5", "r+") as f:
        f.create_dataset("faults", data=(data > 30).astype(np.uint8))
    assert main(["export", str(tmp_path / "v.h5"), "--dataset", "faults", "--like", str(src),
                 "-o", str(tmp_path / "f.sgy"), "--no-progress"]) == 0
    with segyio.open(tmp_path / "f.sgy") as f:
        assert np.array_equal(segyio.tools.cube(f).transpose(2, 0, 1), (data > 30).astype(np.float32))


def test_shape_mismatch_is_refused_without_output(tmp_path, capsys):
    src = tmp_path / "s.sgy"
    write_segy(src, np.zeros((6, 3, 4), np.float32))
    write_array(tmp_path / "v.h5", np.zeros((6, 3, 5), np.float32))
    rc = main(["export", str(tmp_path / "v.h5"), "--like", str(src), "-o", str(tmp_path / "o.sgy")])
    err = capsys.readouterr().err
    assert rc == 2 and "does not match the survey" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.sgy").exists() and not list(tmp_path.glob(".o.sgy*"))


def test_crossline_sorted_file_converts_and_round_trips(tmp_path):
    """Traces in crossline order: reads and writes hit scattered trace runs; values and order are kept."""
    data = np.random.default_rng(5).standard_normal((9, 6, 4)).astype(np.float32)
    write_segy(tmp_path / "il.sgy", data)
    raw = np.fromfile(tmp_path / "il.sgy", dtype=np.uint8)
    rec = 240 + 9 * 4
    traces = raw[3600:].reshape(6, 4, rec).transpose(1, 0, 2)           # (xline, inline, record)
    (tmp_path / "in").mkdir()
    src = tmp_path / "in" / "xl.sgy"
    np.concatenate([raw[:3600], traces.ravel()]).tofile(src)
    _round_trip(tmp_path, src, "big", 4)
    with h5py.File(tmp_path / "v.h5") as f:
        assert np.array_equal(f["data"][...], data)
