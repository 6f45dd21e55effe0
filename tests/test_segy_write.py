"""write_segy: fresh regular or irregular 3D post-stack SEG-Y, read back by segyio."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import segyio

from hpcfault.errors import HpcfaultError
from hpcfault.io.segy import write_segy
from hpcfault.io.volume import SurveyGeometry


def test_regular_file_reads_back_exactly(tmp_path):
    data = np.random.default_rng(0).standard_normal((20, 4, 6)).astype(np.float32)
    out = tmp_path / "a.sgy"
    write_segy(out, data, text_header="C 1 HELLO", sample_interval_us=2000)
    with segyio.open(out) as f:
        assert list(f.ilines) == [1, 2, 3, 4] and list(f.xlines) == [1, 2, 3, 4, 5, 6]
        assert f.bin[segyio.BinField.Format] == 5 and f.bin[segyio.BinField.Interval] == 2000
        assert np.array_equal(segyio.tools.cube(f).transpose(2, 0, 1), data)
        assert bytes(f.text[0]).startswith(b"C 1 HELLO")
        assert f.header[0][segyio.TraceField.CDP_X] == 1000
    assert [p.name for p in tmp_path.iterdir()] == ["a.sgy"]  # no temporary left


def test_geometry_numbers_coordinates_and_dead_traces(tmp_path):
    data = np.ones((5, 3, 4), np.float32)
    live = np.ones((3, 4), bool)
    live[1, 2] = False
    geom = replace(SurveyGeometry.regular(data.shape), inlines=np.array([10, 12, 14]),
                   xlines=np.array([5, 6, 7, 8]), cdp_x=np.full((3, 4), 0.5), cdp_y=np.full((3, 4), 7.0), live=live)
    out = tmp_path / "b.sgy"
    write_segy(out, data, geom)
    with segyio.open(out, ignore_geometry=True) as f:
        assert f.tracecount == 11
        assert (12, 7) not in set(zip(f.attributes(189)[:], f.attributes(193)[:]))
        h = f.header[0]
        assert h[segyio.TraceField.SourceGroupScalar] == -100 and h[segyio.TraceField.CDP_X] == 50


def test_shape_mismatch_is_a_clear_error(tmp_path):
    with pytest.raises(HpcfaultError, match="does not match"):
        write_segy(tmp_path / "c.sgy", np.zeros((5, 3, 4), np.float32), SurveyGeometry.regular((5, 3, 3)))
    assert not list(tmp_path.iterdir())
