"""hpcfault info on SEG-Y, volume and array files."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hpcfault.cli import main
from hpcfault.io.describe import describe
from hpcfault.io.segy import write_segy
from hpcfault.io.volume import SurveyGeometry, write_array
from tests.conftest import shared_path


def _info(capsys, *args):
    rc = main(["info", *map(str, args)])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.mark.shared
def test_info_f3(capsys):
    rc, out, _ = _info(capsys, shared_path("segy-test-data", "f3.sgy"))
    assert rc == 0
    for text in ("(time, inline, xline) = (75, 23, 18)", "3 (int16), big-endian", "23 (111..133 step 1)",
                 "18 (875..892 step 1)", "75 (4..300 ms, interval 4 ms)", "inline 189, crossline 193",
                 "414 of 414 (0 missing)", "min -10239, max 10827"):
        assert text in out, out


@pytest.mark.shared
def test_info_detects_little_endian_and_scans_bytes(capsys):
    rc, out, _ = _info(capsys, shared_path("segy-test-data", "small-lsb.sgy"), "--scan-bytes", "--text")
    assert rc == 0 and "little-endian" in out and "C 1 DATE" in out
    assert "189/193" in out and "<- --iline 189 --xline 193" in out
    rc, out, err = _info(capsys, shared_path("segy-test-data", "shot-gather.sgy"), "--scan-bytes")
    assert rc == 2 and "no: several traces per position" in out and "no 3D geometry" in err


def test_info_irregular_volume_and_npy(tmp_path, capsys):
    data = np.linspace(-2, 3, 6 * 5 * 4, dtype=np.float32).reshape(6, 5, 4)
    live = np.ones((5, 4), bool)
    live[1, 1] = False
    write_segy(tmp_path / "s.sgy", data, replace(SurveyGeometry.regular(data.shape), live=live))
    rc, out, _ = _info(capsys, tmp_path / "s.sgy")
    assert rc == 0 and "19 of 20 (1 missing)" in out
    assert main(["convert", str(tmp_path / "s.sgy"), str(tmp_path / "v.h5"), "--no-progress"]) == 0
    capsys.readouterr()
    rc, out, _ = _info(capsys, tmp_path / "v.h5")
    assert rc == 0 and "chunks (6, 5, 4)" in out and "hpcfault-volume/1" in out and "19 of 20 (1 missing)" in out
    np.save(tmp_path / "a.npy", data)
    rows = dict(describe(tmp_path / "a.npy", axes="time,inline,xline"))
    assert rows["shape"].endswith("(6, 5, 4)") and rows["values"].startswith("min -2, max 3")
    write_array(tmp_path / "w.h5", data)
    rc, out, _ = _info(capsys, tmp_path / "w.h5", "--no-values")
    assert rc == 0 and "values" not in out
