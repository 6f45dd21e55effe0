"""The volume file format: atomic creation, geometry round trip, axis checks with the got-value quoted."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from hpcfault.errors import HpcfaultError
from hpcfault.io.atomic import atomic_path, temp_name
from hpcfault.io.volume import SurveyGeometry, create_volume, open_volume, read_geometry, write_array


def test_write_and_read_back_with_geometry(tmp_path):
    data = np.random.default_rng(0).standard_normal((8, 5, 6)).astype(np.float32)
    live = np.ones((5, 6), bool)
    live[2, 3] = False
    geom = SurveyGeometry(inlines=np.arange(100, 105), xlines=np.arange(200, 212, 2),
                          samples=np.arange(8) * 4.0, sample_interval=4.0, sample_unit="ms",
                          iline_byte=189, xline_byte=193, cdp_x=np.full((5, 6), 1.5),
                          cdp_y=np.full((5, 6), 2.5), live=live, text_header="C 1 hello", source="s.sgy")
    path = tmp_path / "v.h5"
    write_array(path, data, geom, labels=(data > 0).astype(np.uint8))
    with open_volume(path) as f:
        np.testing.assert_array_equal(f["data"][...], data)
        assert f["labels"].dtype == np.uint8 and f["data"].chunks is not None
        g = read_geometry(f)
    assert g.shape == (8, 5, 6) and g.iline_byte == 189 and g.sample_unit == "ms"
    np.testing.assert_array_equal(g.inlines, np.arange(100, 105))
    np.testing.assert_array_equal(g.live, live)
    assert g.text_header == "C 1 hello" and g.cdp_x[0, 0] == 1.5
    sub = g.crop(slice(0, 4), slice(1, 3), slice(None))
    assert sub.shape == (4, 2, 6) and sub.live.shape == (2, 6)


def test_regular_geometry_has_no_bytes(tmp_path):
    path = tmp_path / "r.h5"
    write_array(path, np.zeros((4, 3, 2), np.float32))
    with open_volume(path) as f:
        g = read_geometry(f)
    assert g.iline_byte is None and g.live is None and list(g.inlines) == [0, 1, 2]


def test_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "out.h5"
    with pytest.raises(RuntimeError):
        with create_volume(path, (4, 4, 4)) as f:
            f["data"][0] = 1.0
            raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_renames_only_on_success(tmp_path):
    final = tmp_path / "a.txt"
    with atomic_path(final) as tmp:
        assert tmp == temp_name(final) and tmp.parent == tmp_path
        tmp.write_text("x")
        assert not final.exists()
    assert final.read_text() == "x"


@pytest.mark.parametrize("setup, needle", [
    (lambda f: f.create_dataset("other", data=np.zeros((2, 2, 2))), "no dataset 'data' (got datasets ['other'])"),
    (lambda f: f.create_dataset("data", data=np.zeros((2, 2, 2))), "no 'axes' attribute"),
    (lambda f: (f.create_dataset("data", data=np.zeros((2, 2, 2))), f.attrs.__setitem__("axes", "inline,xline,time")),
     "axis order is 'inline,xline,time'"),
    (lambda f: (f.create_dataset("data", data=np.zeros((2, 2))), f.attrs.__setitem__("axes", "time,inline,xline")),
     "got shape (2, 2)"),
])
def test_open_volume_rejects_with_got_value(tmp_path, setup, needle):
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        setup(f)
    with pytest.raises(HpcfaultError) as err:
        with open_volume(path):
            pass
    assert needle in str(err.value)


def test_open_volume_missing_and_not_hdf5(tmp_path):
    with pytest.raises(HpcfaultError, match="volume file not found"):
        with open_volume(tmp_path / "none.h5"):
            pass
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    with pytest.raises(HpcfaultError, match="not a readable HDF5 file"):
        with open_volume(junk):
            pass
