"""`hpcfault show` and viz.save_slices: real HDF5 volume files in, PNGs read back with matplotlib."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from matplotlib.image import imread

from conftest import run_cli
from hpcfault.errors import HpcfaultError
from hpcfault.io.volume import SurveyGeometry, write_array
from hpcfault.viz import index_of_number, index_of_sample, save_slices, show_volume

SHAPE = (24, 20, 16)   # (time, inline, xline)


def _volume_and_faults():
    rng = np.random.default_rng(0)
    seis = rng.standard_normal(SHAPE).astype(np.float32)
    prob = np.zeros(SHAPE, np.float32)
    prob[:, :, 7:9] = 0.95              # a vertical fault plane along the inlines
    return seis, prob


def _geometry():
    t, i, x = SHAPE
    return SurveyGeometry(inlines=np.arange(100, 100 + 2 * i, 2, dtype=np.int32),
                          xlines=np.arange(500, 500 + x, dtype=np.int32),
                          samples=np.arange(t, dtype=np.float64) * 4.0, sample_interval=4.0,
                          sample_unit="ms")


def _colored_fraction(img):
    rgb = img[..., :3]
    return float(np.mean((np.abs(rgb[..., 0] - rgb[..., 1]) > 0.1) | (np.abs(rgb[..., 1] - rgb[..., 2]) > 0.1)))


def test_three_view_png_size_and_overlay(tmp_path):
    seis, prob = _volume_and_faults()
    plain = imread(save_slices(seis, None, tmp_path / "plain.png"))
    over = imread(save_slices(seis, prob, tmp_path / "over.png"))
    assert plain.shape[:2] == (400, 1200) and over.shape[:2] == (400, 1200)
    assert plain[..., :3].std() > 0.05                   # not blank
    assert _colored_fraction(plain) < 0.001              # gray seismic only
    assert _colored_fraction(over) > 0.01                # the fault overlay is drawn in colour
    assert not list(tmp_path.glob(".*tmp*"))             # atomic: no temporary left behind


def test_single_slice_and_two_panels(tmp_path):
    seis, prob = _volume_and_faults()
    one = imread(save_slices(seis, prob, tmp_path / "one.png", time=5, cmap="seismic"))
    assert one.shape[:2] == (400, 400)
    two = imread(save_slices(seis, prob, tmp_path / "two.png", inline=3, xline=8, dpi=50))
    assert two.shape[:2] == (200, 400)
    with pytest.raises(HpcfaultError, match=r"inline index out of range \(got 20\); valid 0..19"):
        save_slices(seis, prob, tmp_path / "bad.png", inline=20)
    with pytest.raises(HpcfaultError, match="colormap"):
        save_slices(seis, prob, tmp_path / "bad.png", cmap="viridis")
    with pytest.raises(HpcfaultError, match="differs from the seismic"):
        save_slices(seis, prob[:, :5], tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


class _Recorder:
    """Forwards indexing to a real h5py dataset and records how many voxels each read returned."""

    def __init__(self, ds):
        self.ds, self.shape, self.voxels = ds, ds.shape, []

    def __getitem__(self, index):
        out = self.ds[index]
        self.voxels.append(out.size)
        return out


def test_only_the_drawn_slices_are_read_from_hdf5(tmp_path):
    seis, prob = _volume_and_faults()
    write_array(tmp_path / "v.h5", seis, geometry=_geometry(), labels=prob)
    with h5py.File(tmp_path / "v.h5", "r") as f:
        s, p = _Recorder(f["data"]), _Recorder(f["labels"])
        save_slices(s, p, tmp_path / "fig.png")
    t, i, x = SHAPE
    assert sorted(s.voxels) == sorted([t * x, t * i, i * x]) == sorted(p.voxels)


def test_show_volume_by_survey_numbers(tmp_path):
    seis, prob = _volume_and_faults()
    write_array(tmp_path / "v.h5", seis, geometry=_geometry(), labels=(prob > 0.5).astype(np.uint8))
    write_array(tmp_path / "p.h5", prob, geometry=_geometry())
    img = imread(show_volume(tmp_path / "v.h5", tmp_path / "il.png", faults=tmp_path / "p.h5", inline=104))
    assert img.shape[:2] == (400, 400) and _colored_fraction(img) > 0.01
    img = imread(show_volume(tmp_path / "v.h5", tmp_path / "lab.png", faults=tmp_path / "v.h5",
                             faults_dataset="labels", time=41.0))     # nearest sample: 40 ms
    assert img.shape[:2] == (400, 400) and _colored_fraction(img) > 0.001
    with pytest.raises(HpcfaultError, match=r"inline 105 is not in this survey .* 100..138 step 2"):
        show_volume(tmp_path / "v.h5", tmp_path / "x.png", inline=105)
    with pytest.raises(HpcfaultError, match=r"time 200 is outside the traces .* 0..92 ms"):
        show_volume(tmp_path / "v.h5", tmp_path / "x.png", time=200)
    write_array(tmp_path / "small.h5", prob[:, :4])
    with pytest.raises(HpcfaultError, match="has shape"):
        show_volume(tmp_path / "v.h5", tmp_path / "x.png", faults=tmp_path / "small.h5")
    assert index_of_number(np.array([5, 7, 9]), 9, "xline") == 2
    assert index_of_sample(np.array([0.0, 2.0, 4.0]), 2.9, "ms") == 1


def test_show_cli(tmp_path):
    seis, prob = _volume_and_faults()
    write_array(tmp_path / "v.h5", seis, geometry=_geometry())
    write_array(tmp_path / "p.h5", prob, geometry=_geometry())
    proc = run_cli("show", tmp_path / "v.h5", "--faults", tmp_path / "p.h5", "--xline", 508,
                   "--cmap", "seismic", "-o", tmp_path / "fig.png")
    assert "wrote" in proc.stdout
    assert imread(tmp_path / "fig.png").shape[:2] == (400, 400)
    bad = run_cli("show", tmp_path / "v.h5", "--inline", 99, "-o", tmp_path / "bad.png", check=False)
    assert bad.returncode == 2
    assert "inline 99 is not in this survey" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
