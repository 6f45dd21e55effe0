"""FaultSeg3D-style synthetic seismic with fault labels, renderable box by box.

The model (Wu et al. 2019, FaultSeg3D, written from its description) is a set of analytic fields:

1. a layered random reflectivity series r(tau) along time, laterally continuous;
2. folding: tau = t + 1.5 t/T * sum_k b_k exp(-|(i, x) - c_k|^2 / 2 s_k^2) + f i + g x
   (gaussian bumps that grow with depth, plus a planar shear);
3. 4-8 planar faults applied one after another as displacement fields (see faults.py);
4. a Ricker wavelet (peak 20-35 Hz, 4 ms sampling) convolved along time after faulting;
5. band-limited noise (the same wavelet along time, a small gaussian laterally) at 2-8 dB SNR.

A voxel's value depends only on its global coordinates and the seed: the reflectivity, fold and
faults are evaluated at the voxel, the convolution is computed with a halo along time, and the
noise is a hash of (seed, t, i, x) filtered with a halo on every axis. So `render` of any sub-box
equals the same box of a whole render, and surveys of any size are written block by block.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from hpcfault.data.faults import Fault, draw_faults, undo_faults
from hpcfault.data.wavelet import hash_noise, ricker, smoothing_kernel
from hpcfault.errors import HpcfaultError
from hpcfault.geometry import check_shape3

log = logging.getLogger(__name__)

DT_MS = 4.0
PEAK_HZ_RANGE = (20.0, 35.0)
SNR_DB_RANGE = (2.0, 8.0)
NOISE_SIGMA, NOISE_RADIUS = 1.0, 2     # lateral correlation of the noise, traces
POWER_TRACES = 6                       # signal power is measured on a POWER_TRACES^2 grid of traces
VERSION = "hpcfault-synth/1"


def _box(s: slice, n: int, axis: str) -> tuple[int, int]:
    start, stop, step = s.indices(n)
    if step != 1 or stop <= start:
        raise HpcfaultError(f"render needs a non-empty slice with step 1 along {axis} "
                            f"(got {s} for size {n}); pass slice(start, stop)")
    return start, stop


class SynthModel:
    """A synthetic faulted survey of `shape` (T, I, X), fully determined by `seed`.

    `render(t, i, x)` returns (seismic float32, labels uint8, fault_ids uint8) for a sub-box;
    `faults` lists the fault parameters (id, center, strike, dip, throw, kind, half_length) and
    `params` the rest (wavelet, SNR, folds). Seismic is scaled so that the noise-free signal has
    unit RMS.
    """

    def __init__(self, shape: Sequence[int], seed: int):
        self.shape = check_shape3(shape, "synthetic survey")
        if not 0 <= int(seed) < 2 ** 63:
            raise HpcfaultError(f"the synthetic seed must be in [0, 2**63) (got {seed})")
        self.seed = int(seed)
        nt, ni, nx = self.shape
        rng = np.random.default_rng(self.seed)
        self._faults = draw_faults(rng, self.shape)
        self.peak_hz = float(rng.uniform(*PEAK_HZ_RANGE))
        self.snr_db = float(rng.uniform(*SNR_DB_RANGE))
        self._wavelet = ricker(self.peak_hz, DT_MS / 1000.0).astype(np.float32)
        self._halo = len(self._wavelet) // 2
        # folding: 3-6 gaussian bumps (sum of |amplitudes| <= 0.4 T keeps tau increasing in t)
        nb = int(rng.integers(3, 7))
        side = float(max(ni, nx))
        amp = rng.uniform(0.05, 0.15, nb) * nt * rng.choice([-1.0, 1.0], nb)
        amp *= min(1.0, 0.4 * nt / np.abs(amp).sum())
        self._bumps = np.stack([amp, rng.uniform(0, ni, nb), rng.uniform(0, nx, nb),
                                rng.uniform(0.1, 0.3, nb) * side], axis=1)
        self._shear = rng.uniform(-0.12, 0.12, 2)
        # layered reflectivity on an integer tau grid wide enough for every fold and fault shift
        total_throw = sum(f.throw for f in self._faults)
        reach = self._halo + total_throw + 2
        fold_max = 1.5 * (nt + reach) / nt * np.abs(amp).sum()
        shear_max = np.abs(self._shear).sum() * (max(ni, nx) / 2.0 + total_throw + 1)
        margin = int(np.ceil(reach + fold_max + shear_max)) + 4
        self._tau0 = -margin
        n = nt + 2 * margin
        gaps = rng.integers(1, 7, size=n)
        spikes = np.cumsum(gaps)
        spikes = spikes[spikes < n]
        self._refl = np.zeros(n, np.float32)
        self._refl[spikes] = rng.uniform(-1.0, 1.0, len(spikes))
        self._noise_seed = int(rng.integers(0, 2 ** 62))
        self._kl = smoothing_kernel(NOISE_SIGMA, NOISE_RADIUS).astype(np.float32)
        noise_var = float((self._wavelet.astype(np.float64) ** 2).sum() * (self._kl.astype(np.float64) ** 2).sum() ** 2)
        ti = np.linspace(0, ni - 1, POWER_TRACES).round().astype(int)
        tx = np.linspace(0, nx - 1, POWER_TRACES).round().astype(int)
        clean, _, _ = self._clean(0, nt, ti, tx)
        self._signal_rms = float(np.sqrt(np.mean(clean.astype(np.float64) ** 2))) or 1.0
        self._noise_scale = float(np.sqrt(10.0 ** (-self.snr_db / 10.0) / noise_var)) * self._signal_rms

    # -- description ------------------------------------------------------------------------
    @property
    def faults(self) -> list[dict]:
        return [f.as_dict() for f in self._faults]

    @property
    def fault_objects(self) -> tuple[Fault, ...]:
        return tuple(self._faults)

    @property
    def params(self) -> dict:
        return {
            "version": VERSION, "seed": self.seed, "shape": list(self.shape), "dt_ms": DT_MS,
            "peak_hz": round(self.peak_hz, 4), "snr_db": round(self.snr_db, 4),
            "n_faults": len(self._faults),
            "fold_bumps": [dict(zip(("amplitude", "inline", "xline", "sigma"), map(lambda v: round(float(v), 4), b)))
                           for b in self._bumps],
            "shear": [round(float(v), 6) for v in self._shear],
            "reflectivity": "layered spikes, layers 1-6 samples, amplitudes U(-1, 1)",
        }

    # -- rendering --------------------------------------------------------------------------
    def _tau(self, q: list[np.ndarray]) -> np.ndarray:
        """Folding and shear: unfaulted coordinates -> position in the reflectivity series."""
        nt, ni, nx = self.shape
        tq, iq, xq = q
        g = np.zeros(tq.shape, np.float32)
        for amp, ci, cx, sig in self._bumps:
            d2 = (iq - np.float32(ci)) ** 2 + (xq - np.float32(cx)) ** 2
            g += np.float32(amp) * np.exp(d2 * np.float32(-0.5 / sig ** 2))
        tau = tq + tq * np.float32(1.5 / nt) * g
        tau += np.float32(self._shear[0]) * (iq - np.float32(ni / 2)) + np.float32(self._shear[1]) * (xq - np.float32(nx / 2))
        return tau

    def _clean(self, t0: int, t1: int, i_idx: np.ndarray, x_idx: np.ndarray):
        """Noise-free seismic, fault ids and tau for times [t0, t1) at the traces i_idx x x_idx.

        Fault ids need each trace's neighbours: pass consecutive indices with one extra on each side
        and drop the outer traces (render_components does)."""
        from scipy.ndimage import convolve1d

        h = self._halo
        full = (t1 - t0 + 2 * h, len(i_idx), len(x_idx))
        q = [np.broadcast_to(np.arange(t0 - h, t1 + h, dtype=np.float32)[:, None, None], full).copy(),
             np.broadcast_to(np.asarray(i_idx, np.float32)[None, :, None], full).copy(),
             np.broadcast_to(np.asarray(x_idx, np.float32)[None, None, :], full).copy()]
        ids = undo_faults(self._faults, q)
        tau = self._tau(q)
        del q
        # linear interpolation in the reflectivity series
        pos = tau - np.float32(self._tau0)
        k = np.floor(pos)
        frac = pos - k
        k = np.clip(k.astype(np.int64), 0, len(self._refl) - 2)
        refl = self._refl[k] * (np.float32(1.0) - frac) + self._refl[k + 1] * frac
        del k, frac, pos
        seis = convolve1d(refl, self._wavelet, axis=0, mode="constant")
        inner = slice(h, h + t1 - t0)
        return seis[inner], ids[inner], tau[inner]

    def _noise(self, t: tuple[int, int], i: tuple[int, int], x: tuple[int, int]) -> np.ndarray:
        from scipy.ndimage import convolve1d

        h, r = self._halo, NOISE_RADIUS
        n = hash_noise(self._noise_seed, np.arange(t[0] - h, t[1] + h), np.arange(i[0] - r, i[1] + r),
                       np.arange(x[0] - r, x[1] + r))
        n = convolve1d(n, self._wavelet, axis=0, mode="constant")[h:h + t[1] - t[0]]
        n = convolve1d(n, self._kl, axis=1, mode="constant")[:, r:r + i[1] - i[0]]
        n = convolve1d(n, self._kl, axis=2, mode="constant")[:, :, r:r + x[1] - x[0]]
        return n * np.float32(self._noise_scale)

    def render_components(self, t: slice = slice(None), i: slice = slice(None), x: slice = slice(None)) -> dict:
        """Every part of a sub-box: clean and noise (unscaled), fault_ids, tau (reflectivity time)."""
        nt, ni, nx = self.shape
        tb, ib, xb = _box(t, nt, "time"), _box(i, ni, "inline"), _box(x, nx, "xline")
        clean, ids, tau = self._clean(tb[0], tb[1], np.arange(ib[0] - 1, ib[1] + 1), np.arange(xb[0] - 1, xb[1] + 1))
        inner = (slice(None), slice(1, -1), slice(1, -1))
        return {"clean": clean[inner], "noise": self._noise(tb, ib, xb), "fault_ids": ids[inner], "tau": tau[inner]}

    def render(self, t: slice = slice(None), i: slice = slice(None), x: slice = slice(None)):
        """(seismic float32, labels uint8 0/1, fault_ids uint8) for the box [t, i, x] of the survey."""
        parts = self.render_components(t, i, x)
        seis = parts["clean"]
        seis += parts["noise"]
        seis *= np.float32(1.0 / self._signal_rms)
        ids = parts["fault_ids"]
        return seis, (ids > 0).astype(np.uint8), ids


def synthesize(shape: Sequence[int], seed: int):
    """A whole synthetic survey in memory: (seismic, labels, fault_ids, faults list)."""
    model = SynthModel(shape, seed)
    seis, labels, ids = model.render()
    return seis, labels, ids, model.faults


def synth_geometry(shape: Sequence[int], seed: int):
    """Survey geometry of a synthetic: lines numbered from 1, 4 ms samples, 25 m trace spacing."""
    from hpcfault.io.volume import SurveyGeometry

    nt, ni, nx = shape
    ii, xx = np.meshgrid(np.arange(ni), np.arange(nx), indexing="ij")
    return SurveyGeometry(inlines=np.arange(1, ni + 1, dtype=np.int32), xlines=np.arange(1, nx + 1, dtype=np.int32),
                          samples=np.arange(nt, dtype=np.float64) * DT_MS, sample_interval=DT_MS, sample_unit="ms",
                          cdp_x=1000.0 + 25.0 * ii, cdp_y=2000.0 + 25.0 * xx, source=f"hpcfault synth seed={seed}")


def block_boxes(shape: Sequence[int], block: int) -> list[tuple[slice, slice, slice]]:
    """The boxes of edge `block` (smaller at the ends) that tile `shape`, time fastest."""
    if block < 1:
        raise HpcfaultError(f"--block must be >= 1 (got {block})")
    nt, ni, nx = shape
    return [(slice(t, min(t + block, nt)), slice(i, min(i + block, ni)), slice(x, min(x + block, nx)))
            for i in range(0, ni, block) for x in range(0, nx, block) for t in range(0, nt, block)]


# What a synthetic costs, to refuse one that cannot fit before any work starts.
DISK_BYTES_PER_VOXEL = 6        # data float32 + labels uint8 + fault_ids uint8
SEGY_BYTES_PER_VOXEL = 4        # IEEE float samples (+ 240 bytes per trace)
MEMORY_BYTES_PER_TRACE = 48     # geometry: coordinate grids and CDP X/Y (float64, int64)
MEMORY_BYTES_PER_BLOCK_VOXEL = 100   # work arrays of one rendered block (about 200 MiB at 128^3)


def check_resources(shape: Sequence[int], block: int, path: str | os.PathLike,
                    segy: str | os.PathLike | None = None) -> None:
    """Refuse, with one line, a survey whose files or work arrays cannot fit on this machine."""
    import shutil

    from hpcfault.io.paths import existing_folder, memory_available
    from hpcfault.io.slabs import format_size

    nt, ni, nx = shape
    if block < 1:
        raise HpcfaultError(f"--block must be >= 1 (got {block}); e.g. --block 128")
    voxels = nt * ni * nx
    needs: dict[str, int] = {}
    for target, size in ((path, voxels * DISK_BYTES_PER_VOXEL),
                         (segy, voxels * SEGY_BYTES_PER_VOXEL + ni * nx * 240 + 3600)):
        if target is not None:
            folder = str(existing_folder(Path(target).parent))
            needs[folder] = needs.get(folder, 0) + size
    for folder, need in needs.items():
        free = shutil.disk_usage(folder).free
        if need > free:
            raise HpcfaultError(f"a {nt} x {ni} x {nx} synthetic needs {format_size(need)} of disk (got "
                                f"{format_size(free)} free in {folder}); choose a smaller --shape or another folder")
    edge = min(block, max(shape))
    memory = ni * nx * MEMORY_BYTES_PER_TRACE + min(voxels, edge ** 3) * MEMORY_BYTES_PER_BLOCK_VOXEL
    avail = memory_available()
    if avail is not None and memory > avail:
        raise HpcfaultError(f"a {nt} x {ni} x {nx} synthetic with --block {block} needs about {format_size(memory)} "
                            f"of memory (got {format_size(avail)} available); choose a smaller --shape or --block")


def write_synthetic(path: str | os.PathLike, shape: Sequence[int], seed: int, *, segy: str | os.PathLike | None = None,
                    block: int = 128, progress: bool = False) -> SynthModel:
    """Write a synthetic survey as a volume file (data, labels, fault_ids; attributes faults, seed,
    synth), block by block so memory stays at a few blocks; optionally also as SEG-Y. Atomic."""
    import h5py

    from hpcfault.io.volume import create_volume

    shape = check_shape3(shape, "synthetic survey")
    if segy is not None and os.path.realpath(segy) == os.path.realpath(path):
        raise HpcfaultError(f"--segy and OUT name the same file (got {str(segy)!r}); give each output its own path")
    check_resources(shape, block, path, segy)
    model = SynthModel(shape, seed)
    geom = synth_geometry(shape, seed)
    boxes = block_boxes(shape, block)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(boxes), unit="block", desc="synth", disable=None)
    attrs = {"faults": json.dumps(model.faults), "seed": model.seed, "synth": json.dumps(model.params)}
    with create_volume(path, shape, "float32", geometry=geom, extra={"labels": "uint8", "fault_ids": "uint8"},
                       attrs=attrs) as f:
        for box in boxes:
            seis, labels, ids = model.render(*box)
            f["data"][box] = seis
            f["labels"][box] = labels
            f["fault_ids"][box] = ids
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    log.info("wrote %s: %s, %d faults, seed %d", path, "x".join(map(str, shape)), len(model.faults), model.seed)
    if segy is not None:
        from hpcfault.io.segy import write_segy

        with h5py.File(path, "r") as f:
            write_segy(segy, f["data"], geom)
    return model
