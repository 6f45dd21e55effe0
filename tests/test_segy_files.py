"""Every file of ../shared/segy-test-data (segyio's own test files) with its expected behaviour.

Each file either converts, giving the shape and the values segyio reads, or fails with one clear
error line, exit code 2 and no output file. The CLI runs in-process here (hpcfault.cli.main);
test_convert_mpi.py runs it as real processes.
"""
from __future__ import annotations

import numpy as np
import pytest

from hpcfault.cli import main
from tests.conftest import SHARED, shared_path

# file -> (extra CLI args, expected shape (T, I, X) or None, error fragment or None)
EXPECTED = {
    "1x1.sgy": ([], None, "no 3D geometry at bytes 189/193"),            # 1 position, 4 offsets
    "1xN.sgy": ([], None, "prestack data"),                              # 6 crosslines x 4 offsets
    "Mx1.sgy": ([], None, "prestack data"),
    "Format1msb.sgy": ([], (75, 23, 18), None),                          # F3 crop, IBM float
    "Format2lsb.sgy": (["--endian", "little"], (75, 23, 18), None),      # int32 little-endian
    "Format5msb.sgy": ([], (75, 23, 18), None),                          # IEEE float
    "Format8msb.sgy": ([], (75, 23, 18), None),                          # int8
    "acute-small.sgy": ([], (50, 5, 5), None),                           # rotated coordinates
    "broken.sgy": ([], None, "file size does not fit whole traces"),     # end cut off
    "decrement.sgy": ([], None, "probably not the inline/crossline bytes"),  # header-limit values
    "f3.sgy": ([], (75, 23, 18), None),                                  # real F3 crop, int16
    "f3-lsb.sgy": (["--endian", "little"], (75, 23, 18), None),
    "left-small.sgy": ([], (50, 5, 5), None),
    "long.sgy": ([], None, "probably not the inline/crossline bytes"),   # no real trace headers
    "rotated-small-rev2.sgy": ([], None, "SEG-Y rev2 trace header extensions"),
    "shot-gather.sgy": ([], None, "no 3D geometry at bytes 189/193"),
    "small-lsb.sgy": (["--endian", "little"], (50, 5, 5), None),
    "small-ps.sgy": ([], None, "prestack data"),
    "small.sgy": ([], (50, 5, 5), None),
    "text.sgy": ([], None, "text-only SEG-Y"),
    "tiny.sgy": ([], (4, 3, 2), None),
}
# read with the wrong byte order: the error names the right one
WRONG_ENDIAN = {"f3-lsb.sgy": "little", "small-lsb.sgy": "little", "Format2lsb.sgy": "little",
                "f3.sgy": "big"}


def _convert(tmp_path, capsys, name, extra):
    out = tmp_path / "out.h5"
    rc = main(["convert", str(shared_path("segy-test-data", name)), str(out), "--no-progress", *extra])
    return rc, out, capsys.readouterr()


def test_every_shared_file_has_an_expectation():
    data = shared_path("segy-test-data")
    assert sorted(p.name for p in data.glob("*.sgy")) == sorted(EXPECTED), \
        f"add the new files of {SHARED / 'segy-test-data'} to EXPECTED with their behaviour"


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shared_file(tmp_path, capsys, name):
    import h5py
    import segyio

    extra, shape, error = EXPECTED[name]
    rc, out, cap = _convert(tmp_path, capsys, name, extra)
    if error is not None:
        assert rc == 2
        lines = cap.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("hpcfault convert: error: ") and error in lines[0], cap.err
        assert not list(tmp_path.iterdir()), "a failed convert must leave no output"
        return
    assert rc == 0, cap.err
    endian = "little" if "--endian" in extra else "big"
    with segyio.open(shared_path("segy-test-data", name), endian=endian) as f:
        cube = segyio.tools.cube(f).astype(np.float32).transpose(2, 0, 1)
        ilines, xlines = f.ilines, f.xlines
    with h5py.File(out, "r") as h:
        assert h.attrs["axes"] == "time,inline,xline"
        assert h["data"].shape == shape
        assert np.array_equal(h["data"][...], cube)
        assert np.array_equal(h["geometry/inlines"][...], ilines)
        assert np.array_equal(h["geometry/xlines"][...], xlines)
        assert h["geometry/live"][...].all() and h.attrs["missing_traces"] == 0


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(WRONG_ENDIAN))
def test_wrong_endianness_names_the_right_one(tmp_path, capsys, name):
    right = WRONG_ENDIAN[name]
    wrong = "big" if right == "little" else "little"
    rc, _, cap = _convert(tmp_path, capsys, name, ["--endian", wrong])
    assert rc == 2 and f"pass --endian {right}" in cap.err and len(cap.err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


@pytest.mark.shared
def test_f3_is_real_data_with_coordinates(tmp_path, capsys):
    import h5py

    rc, out, cap = _convert(tmp_path, capsys, "f3.sgy", [])
    assert rc == 0, cap.err
    with h5py.File(out, "r") as h:
        assert h.attrs["segy_format_code"] == 3 and h.attrs["sample_interval"] == 4.0
        assert "F3" in h.attrs["text_header"]
        # F3 coordinates carry scalar -10 at byte 71: metres with one decimal
        assert h["geometry/cdp_x"][0, 0] == pytest.approx(620197.2)
        assert h["geometry/samples"][0] == 4.0
        assert h.attrs["value_min"] == -10239 and h.attrs["value_max"] == 10827


@pytest.mark.shared
def test_shot_gather_with_other_bytes_is_a_sparse_grid(tmp_path, capsys):
    """shot-gather.sgy: field record (byte 9: 2, 3, 5, 8) and trace number (byte 13: 36..61) span a
    7 x 26 grid only 34% filled - refused by default, converted when --min-live allows it."""
    import h5py

    rc, _, cap = _convert(tmp_path, capsys, "shot-gather.sgy", ["--iline", "9", "--xline", "13"])
    assert rc == 2 and "7 x 26 grid (34% filled)" in cap.err and not list(tmp_path.iterdir())
    rc, out, cap = _convert(tmp_path, capsys, "shot-gather.sgy", ["--iline", "9", "--xline", "13", "--min-live", "0.3"])
    assert rc == 0, cap.err
    with h5py.File(out, "r") as h:
        assert h["data"].shape == (25, 7, 26)
        assert list(h["geometry/inlines"][...]) == [2, 3, 4, 5, 6, 7, 8]   # missing field records kept as dead lines
        assert int(h["geometry/live"][...].sum()) == 61 and h.attrs["missing_traces"] == 7 * 26 - 61
        assert not h["data"][:, 2, :].any()                                 # record 4 is absent: zeros
