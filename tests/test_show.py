"""`hpcfault show` and viz.save_slices: real HDF5 volume files in, PNGs read back with matplotlib."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from matplotlib.image import imread

from conftest import run_cli
from hpcfault.errors import HpcfaultError
from hpcfault.io.volume import SurveyGeometry, write_array
from hpcfault.viz import (COLORBAR_INCHES, DPI, PANEL_INCHES, _overlay_rgba, index_of_number, index_of_sample,
                          save_comparison, save_slices, show_volume, slice_name, slice_title, slices_figure)

SHAPE = (24, 20, 16)   # (time, inline, xline)
PANEL = int(PANEL_INCHES * DPI)
BAR = int(COLORBAR_INCHES * DPI)   # each colorbar (amplitude; fault probability) widens the figure


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
    assert plain.shape[:2] == (PANEL, 3 * PANEL + BAR) and over.shape[:2] == (PANEL, 3 * PANEL + 2 * BAR)
    assert plain[..., :3].std() > 0.05                   # not blank
    assert _colored_fraction(plain) < 0.001              # gray seismic only
    assert _colored_fraction(over) > 0.01                # the fault overlay is drawn in colour
    assert not list(tmp_path.glob(".*tmp*"))             # atomic: no temporary left behind


def test_single_slice_and_two_panels(tmp_path):
    seis, prob = _volume_and_faults()
    one = imread(save_slices(seis, prob, tmp_path / "one.png", time=5, cmap="seismic"))
    assert one.shape[:2] == (PANEL, PANEL + 2 * BAR)
    two = imread(save_slices(seis, prob, tmp_path / "two.png", inline=3, xline=8, dpi=50))
    assert two.shape[:2] == (PANEL // 2, PANEL + BAR)
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
    assert img.shape[:2] == (PANEL, PANEL + 2 * BAR) and _colored_fraction(img) > 0.01
    img = imread(show_volume(tmp_path / "v.h5", tmp_path / "lab.png", faults=tmp_path / "v.h5",
                             faults_dataset="labels", time=41.0))     # nearest sample: 40 ms
    assert img.shape[:2] == (PANEL, PANEL + 2 * BAR) and _colored_fraction(img) > 0.001
    both = imread(show_volume(tmp_path / "v.h5", tmp_path / "both.png", faults=tmp_path / "p.h5",
                              labels=tmp_path / "v.h5"))
    assert both.shape[:2] == (3 * PANEL, 2 * PANEL + 2 * BAR)     # one row per slice: labels | prediction
    with pytest.raises(HpcfaultError, match="--labels draws labels beside a prediction"):
        show_volume(tmp_path / "v.h5", tmp_path / "x.png", labels=tmp_path / "v.h5")
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
    assert imread(tmp_path / "fig.png").shape[:2] == (PANEL, PANEL + 2 * BAR)
    bad = run_cli("show", tmp_path / "v.h5", "--inline", 99, "-o", tmp_path / "bad.png", check=False)
    assert bad.returncode == 2
    assert "inline 99 is not in this survey" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_overlay_keeps_the_seismic_visible_and_grows_with_probability(tmp_path):
    seis, prob = _volume_and_faults()
    zero = imread(save_slices(seis, prob * 0, tmp_path / "zero.png", time=5))
    low = imread(save_slices(seis, np.full_like(prob, 0.49), tmp_path / "low.png", time=5))
    assert np.array_equal(zero, low)                  # below the threshold nothing is drawn
    rgba = _overlay_rgba(np.array([0.3, 0.55, 0.95, 1.0]), "gray", 0.5)
    assert rgba[0, 3] == 0 and 0 < rgba[1, 3] < rgba[2, 3] < rgba[3, 3] < 1   # opacity grows, never opaque
    # through the strongest overlay, brighter seismic stays brighter (reflectors remain readable)
    under = np.linspace(0, 1, 5)[:, None] * np.ones(3)
    a = rgba[3, 3]
    seen = a * rgba[3, :3] + (1 - a) * under
    assert np.all(np.diff(seen.mean(axis=1)) > 0.05)


@pytest.mark.parametrize("cmap", ["gray", "seismic"])
def test_overlay_colour_contrasts_with_the_seismic_colormap(cmap):
    r, g, b, _ = _overlay_rgba(np.array([1.0]), cmap, 0.5)[0]
    assert max(r, g, b) - min(r, g, b) > 0.3         # a saturated colour, not a gray
    if cmap == "seismic":                              # red-white-blue amplitudes: the overlay is green-yellow
        assert g > b and g > 0.5 and not (r > g and r > b)


def test_integer_ticks_and_file_names_by_survey_numbers():
    seis, prob = _volume_and_faults()
    fig = slices_figure(seis[:, :3, :3], prob[:, :3, :3], geometry=_small_geometry())
    for ax in fig.axes[:3]:
        assert all(float(t).is_integer() for t in ax.get_xticks()), ax.get_title()
    assert [ax.get_title() for ax in fig.axes[:3]] == ["inline 112", "xline 501", "time 48 ms"]
    geom = _small_geometry()
    assert [slice_name(v, 1, geom) for v in ("inline", "xline", "time")] == ["inline-112", "xline-501", "time-4ms"]
    assert slice_title("time", 1, geom) == "time 4 ms" and slice_name("time", 3) == "time-3"


def test_comparison_reads_only_the_drawn_slices(tmp_path):
    seis, prob = _volume_and_faults()
    write_array(tmp_path / "v.h5", seis, labels=(prob > 0.5).astype(np.uint8))
    with h5py.File(tmp_path / "v.h5", "r") as f:
        s, lab, p = _Recorder(f["data"]), _Recorder(f["labels"]), _Recorder(f["labels"])
        img = imread(save_comparison(s, lab, p, tmp_path / "cmp.png", xline=4))
    assert img.shape[:2] == (PANEL, 2 * PANEL + 2 * BAR)
    assert s.voxels == lab.voxels == p.voxels == [SHAPE[0] * SHAPE[1]]


def _small_geometry():
    t = SHAPE[0]
    return SurveyGeometry(inlines=np.array([111, 112, 113], np.int32), xlines=np.array([500, 501, 502], np.int32),
                          samples=np.arange(t, dtype=np.float64) * 4.0, sample_interval=4.0, sample_unit="ms")


def test_the_overlay_colorbar_names_what_the_probability_is_of(tmp_path, monkeypatch):
    import hpcfault.viz as viz

    seis, prob = _volume_and_faults()
    write_array(tmp_path / "v.h5", seis, geometry=_geometry())
    write_array(tmp_path / "p.h5", prob, geometry=_geometry())
    bars = []
    monkeypatch.setattr(viz, "_save", lambda fig, out, dpi: bars.append(
        [ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"]))
    with h5py.File(tmp_path / "p.h5", "r+") as f:
        f.attrs["task"] = "salt"               # as `hpcfault predict --task salt` marks its file
    show_volume(tmp_path / "v.h5", tmp_path / "x.png", faults=tmp_path / "p.h5", inline=100)
    with h5py.File(tmp_path / "p.h5", "r+") as f:
        del f.attrs["task"]
    show_volume(tmp_path / "v.h5", tmp_path / "x.png", faults=tmp_path / "p.h5", inline=100)
    assert [b[-1].split(" (")[0] for b in bars] == ["salt probability", "fault probability"]
