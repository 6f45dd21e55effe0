"""Synthetic seismic with fault labels, drawn from wide ranges, renderable box by box.

A volume is a set of analytic fields whose parameters its seed draws from a `SynthConfig`
(hpcfault/data/synth_config.py documents every axis of variation and its range):

1. layered reflectivity series r(tau) (reflectivity.py): thin to thick beds, dense to sparse
   interfaces, amplitude packets, lateral amplitude variation, and optionally an angular
   unconformity below which an older, tilted sequence lies;
2. structure: tau = t + 1.5 t/T sum_k b_k exp(-|(i, x) - c_k|^2 / 2 s_k^2) + planar dip, then
   lateral thickening (gaussian bumps that grow with depth);
3. 0-10 faults (faults.py): planar, listric or arcuate, normal or reverse, conjugate pairs,
   throws from 1 sample, slip tapering along strike and optionally along dip; applied one after
   another as displacement fields;
4. a wavelet convolved along time after faulting (Ricker, Ormsby or minimum phase, optionally
   phase-rotated, optionally falling in frequency with time: convolutions with the wavelets at the
   top, middle and bottom are blended linearly in time);
5. noise (noise.py): a mix of white, trace-independent, laterally correlated and coherent noise at
   0-30 dB SNR, spikes, dead and noisy traces, footprint;
6. recording: a time gain, clipping and integer quantization (int8-int16);
7. for multi-task learning (degrade.py, the "multitask" family): the input blurred laterally and
   with strong noise added, while the targets stay clean.

Besides the seismic and the fault labels (ids, dip, strike) every render yields two multi-task targets:

- `dhr`: the same reflectivity convolved with the wavelet(s) at `wavelet.dhr_band` (1.25) x the
  input's frequencies, without blur, noise or recording artefacts, scaled like the seismic (both
  divided by the clean input's RMS, so a reflector has about the same amplitude in both);
- `rgt`: relative geologic time in [0, 1], increasing with depth: the folded depositional
  coordinate tau of each voxel's unfaulted position (so faults offset it like the reflectors).
  Below an unconformity the older sequence's own coordinate tau_old = tau + tilt is used, shifted
  by a survey-wide constant (the hiatus) so that every older voxel is older than the younger
  sequence above it: RGT steps up across the unconformity and stays monotonic down each trace.
  It is scaled to [0, 1] by its minimum on the top and maximum on the bottom time slice. With
  reverse faults (which repeat a section) RGT steps back where a trace crosses one, and values may
  leave [0, 1] slightly; the "multitask" family draws normal faults only.

A voxel's value depends only on its global coordinates and the seed: the reflectivity, structure
and faults are evaluated at the voxel, convolutions are computed with halos, and noise values are
hashes of (seed, t, i, x). So `render` of any sub-box equals the same box of a whole render, and
surveys of any size are written block by block.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from hpcfault.data.degrade import Degradation
from hpcfault.data.faults import Fault, draw_faults, undo_faults
from hpcfault.data.noise import NoiseModel
from hpcfault.data.reflectivity import Channels, Facies, Lateral, Unconformity, layered_series, sample
from hpcfault.data.salt import SaltModel
from hpcfault.data.synth_config import DEFAULT, SynthConfig
from hpcfault.data.wavelet import minimum_phase, ormsby, ricker, rotate_phase
from hpcfault.errors import HpcfaultError
from hpcfault.geometry import check_shape3

log = logging.getLogger(__name__)

DT_MS = 4.0
POWER_TRACES = 6                       # signal power is measured on a POWER_TRACES^2 grid of traces
MAX_SYNTH_VOXELS = 2 ** 40             # refuse absurd shapes before any work
VERSION = "hpcfault-synth/2"
SALT_STREAM = 0x5A17                   # salt bodies draw from their own stream: volumes without salt are unchanged


def _box(s: slice, n: int, axis: str) -> tuple[int, int]:
    start, stop, step = s.indices(n)
    if step != 1 or stop <= start:
        raise HpcfaultError(f"render needs a non-empty slice with step 1 along {axis} "
                            f"(got {s} for size {n}); pass slice(start, stop)")
    return start, stop


def _u(rng: np.random.Generator, r) -> float:
    return float(rng.uniform(r[0], r[1])) if r[1] > r[0] else float(r[0])


def make_wavelet(kind: str, peak_hz: float, width: float, phase: float) -> np.ndarray:
    """A float32 wavelet of `kind` (ricker, ormsby, minphase) at `peak_hz` for 4 ms samples."""
    dt = DT_MS / 1000.0
    if kind == "ricker":
        w = ricker(peak_hz, dt)
    elif kind == "ormsby":
        nyq = 0.5 / dt
        f2, f3 = peak_hz * (1.0 - width / 2.0), peak_hz * (1.0 + width / 2.0)
        f2 = max(f2, 2.0)
        f1, f4 = max(0.5, f2 * 0.6), min(f3 * 1.4, 0.95 * nyq)
        f3 = min(f3, f4 - 1.0)
        w = ormsby(f1, f2, f3, f4, dt)
    else:
        w = minimum_phase(peak_hz, dt)
    if phase:
        w = rotate_phase(w, phase)
    return w.astype(np.float32)


class SynthModel:
    """A synthetic survey of `shape` (T, I, X), fully determined by `seed` and `config`.

    `render(t, i, x)` returns (seismic float32, labels uint8, fault_ids uint8) for a sub-box;
    `faults` lists the fault parameters and `params` the rest. Seismic is scaled so that the
    noise-free signal has unit RMS.
    """

    def __init__(self, shape: Sequence[int], seed: int, config: SynthConfig = DEFAULT):
        self.shape = check_shape3(shape, "synthetic survey")
        if int(np.prod(self.shape, dtype=np.float64)) > MAX_SYNTH_VOXELS:
            raise HpcfaultError(f"synthetic survey too large (got {self.shape}, "
                                f"{np.prod(self.shape, dtype=np.float64):.3g} voxels); at most 2**40 voxels")
        if not 0 <= int(seed) < 2 ** 63:
            raise HpcfaultError(f"the synthetic seed must be in [0, 2**63) (got {seed})")
        self.seed = int(seed)
        self.config = config
        nt, ni, nx = self.shape
        rng = np.random.default_rng(self.seed)
        self._faults = draw_faults(rng, self.shape, config.faults)
        # wavelet(s): top, middle, bottom when the frequency falls with time
        wc = config.wavelet
        self.wavelet_kind = str(rng.choice(list(wc.kinds)))
        self.peak_hz = _u(rng, wc.peak_hz)
        width = _u(rng, wc.ormsby_width)
        self.phase = _u(rng, wc.phase_deg) if rng.random() < wc.phase_prob else 0.0
        self.decay = _u(rng, wc.decay) if rng.random() < wc.decay_prob else 0.0
        peaks = [self.peak_hz] if self.decay == 0 else [self.peak_hz * (1 - self.decay * k / 2) for k in range(3)]
        self._wavelets = [make_wavelet(self.wavelet_kind, f, width, self.phase) for f in peaks]
        self._dhr_wavelets = [make_wavelet(self.wavelet_kind, f * wc.dhr_band, width, self.phase) for f in peaks]
        self._halo = max(len(w) for w in self._wavelets + self._dhr_wavelets) // 2
        # structure: gaussian bumps (sum of |amplitudes| <= 0.4 T keeps tau increasing in t), planar dip
        sc = config.structure
        nb = int(rng.integers(sc.folds[0], sc.folds[1] + 1))
        side = float(max(ni, nx))
        amp = rng.uniform(*sc.fold_amplitude, nb) * nt * rng.choice([-1.0, 1.0], nb)
        if nb and np.abs(amp).sum() > 0.4 * nt:
            amp *= 0.4 * nt / np.abs(amp).sum()
        self._bumps = np.stack([amp, rng.uniform(0, ni, nb), rng.uniform(0, nx, nb),
                                rng.uniform(*sc.fold_width, nb) * side], axis=1).reshape(nb, 4)
        dip, azimuth = _u(rng, sc.dip), float(rng.uniform(0, 2 * np.pi))
        self._shear = np.array([dip * np.cos(azimuth), dip * np.sin(azimuth)])
        rc = config.reflectivity
        thick = _u(rng, rc.thickening)
        b = float(rng.uniform(0, 2 * np.pi))
        self._thicken = (thick * np.cos(b) / max(ni, 1), thick * np.sin(b) / max(nx, 1))
        self._lateral = Lateral.draw(rng, rc)
        self._unconformity = Unconformity.draw(rng, self.shape, rc) if rng.random() < rc.unconformity_prob else None
        self._salt = (SaltModel.draw(np.random.default_rng([self.seed, SALT_STREAM]), self.shape, config.salt)
                      if config.salt.count[1] > 0 else None)
        # reflectivity on an integer tau grid wide enough for every fold, thickening, fault shift and salt drag
        total_throw = sum(f.throw for f in self._faults)
        reach = self._halo + total_throw + 2 + (int(np.ceil(self._salt.max_lift)) if self._salt else 0)
        fold_max = 1.5 * (nt + reach) / nt * np.abs(amp).sum()
        shear_max = np.abs(self._shear).sum() * (max(ni, nx) / 2.0 + total_throw + 1)
        tilt_max = self._unconformity.reach(self.shape) if self._unconformity else 0.0
        margin = int(np.ceil((reach + fold_max + shear_max) * (1 + thick) + tilt_max)) + 4
        self._tau0 = -margin
        self._hiatus = self._unconformity.hiatus(self.shape, margin) if self._unconformity else 0.0
        self._age_lo, self._age_span = 0.0, 1.0       # RGT's scaling, set at the end
        n = nt + 2 * margin
        self._refl = layered_series(rng, n, rc)
        self._refl_old = layered_series(rng, n, rc) if self._unconformity else None
        # salt: top/base reflections scale with the sediments' interfaces, the chaos inside with their mean power
        refl64 = self._refl.astype(np.float64)
        self._refl_rms = (float(np.sqrt(np.mean(refl64[refl64 != 0] ** 2))) if refl64.any() else 1.0,
                          float(np.sqrt(np.mean(refl64 ** 2))) or 1.0)
        # facies, channels and the mute draw from a stream of their own: volumes without them are as before
        extra = np.random.default_rng([self.seed, 0x5EED])
        self._facies = Facies.draw(extra, rc) if extra.random() < rc.facies_prob else None
        self._refl_facies = layered_series(extra, n, rc) if self._facies else None
        self._channels = Channels.draw(extra, self.shape, rc) if extra.random() < rc.channel_prob else None
        self._refl_fill = layered_series(extra, n, rc) * np.float32(extra.uniform(0.1, 0.4)) if self._channels else None
        ac0 = config.amplitude
        self._mute = None
        if extra.random() < ac0.mute_prob:
            self._mute = (_u(extra, ac0.mute_depth) * nt, float(extra.uniform(-0.2, 0.2)), float(extra.uniform(-0.2, 0.2)))
        self.noise = NoiseModel.draw(rng, config.noise, self.peak_hz * DT_MS / 1000.0)
        ac = config.amplitude
        self.gain = _u(rng, ac.gain_exponent) if rng.random() < ac.gain_prob else 0.0
        self.clip = _u(rng, ac.clip_level) if rng.random() < ac.clip_prob else 0.0
        self.bits = int(rng.integers(ac.quantize_bits[0], ac.quantize_bits[1] + 1)) if rng.random() < ac.quantize_prob else 0
        tg = (np.arange(nt, dtype=np.float64) + nt / 8.0) / nt
        self._gain_norm = float(np.sqrt(np.mean(tg ** (2 * self.gain))))
        ti = np.linspace(0, ni - 1, POWER_TRACES).round().astype(int)
        tx = np.linspace(0, nx - 1, POWER_TRACES).round().astype(int)
        clean = self._clean(0, nt, ti, tx)["clean"]
        self._signal_rms = float(np.sqrt(np.mean(clean.astype(np.float64) ** 2))) or 1.0
        self._recorded_rms = self._signal_rms * float(np.sqrt(1.0 + self.noise.scale ** 2))
        # drawn last, so that every other parameter of a seed is what it was before this existed
        self.degrade = Degradation.draw(rng, config.degrade)
        self._clean_peak = float(np.abs(clean).max()) or 1.0
        self._age_lo, self._age_span = self._age_bounds()

    # -- description ------------------------------------------------------------------------
    @property
    def faults(self) -> list[dict]:
        return [f.as_dict() for f in self._faults]

    @property
    def fault_objects(self) -> tuple[Fault, ...]:
        return tuple(self._faults)

    @property
    def snr_db(self) -> float | None:
        return self.noise.snr_db

    @property
    def params(self) -> dict:
        r = lambda v: round(float(v), 4)   # noqa: E731
        return {
            "version": VERSION, "seed": self.seed, "shape": list(self.shape), "dt_ms": DT_MS,
            "wavelet": {"kind": self.wavelet_kind, "peak_hz": r(self.peak_hz), "phase_deg": r(self.phase),
                        "decay": r(self.decay)},
            "peak_hz": r(self.peak_hz), "snr_db": None if self.snr_db is None else r(self.snr_db),
            "n_faults": len(self._faults),
            "fold_bumps": [dict(zip(("amplitude", "inline", "xline", "sigma"), map(r, b))) for b in self._bumps],
            "shear": [round(float(v), 6) for v in self._shear],
            "thickening": [round(float(v), 6) for v in self._thicken],
            "unconformity": self._unconformity is not None,
            "facies": None if self._facies is None else {"sharpness": r(self._facies.sharpness)},
            "channels": 0 if self._channels is None else len(self._channels.channels),
            "mute_depth": None if self._mute is None else r(self._mute[0]),
            "noise": self.noise.describe(),
            "amplitude": {"gain_exponent": r(self.gain), "clip_x_rms": r(self.clip), "quantize_bits": self.bits},
            "degrade": self.degrade.describe(),
            "rgt": {"hiatus": r(self._hiatus), "tau_min": r(self._age_lo), "tau_span": r(self._age_span)},
            "salt": None if self._salt is None else self._salt.describe(),
        }

    # -- rendering --------------------------------------------------------------------------
    def _tau(self, q: list[np.ndarray]) -> np.ndarray:
        """Folding, dip and thickening: unfaulted coordinates -> folded time."""
        nt, ni, nx = self.shape
        tq, iq, xq = q
        g = np.zeros(tq.shape, np.float32)
        for amp, ci, cx, sig in self._bumps:
            d2 = (iq - np.float32(ci)) ** 2 + (xq - np.float32(cx)) ** 2
            g += np.float32(amp) * np.exp(d2 * np.float32(-0.5 / sig ** 2))
        tau = tq + tq * np.float32(1.5 / nt) * g
        tau += np.float32(self._shear[0]) * (iq - np.float32(ni / 2)) + np.float32(self._shear[1]) * (xq - np.float32(nx / 2))
        ramp = np.float32(self._thicken[0]) * (iq - np.float32(ni / 2)) + np.float32(self._thicken[1]) * (xq - np.float32(nx / 2))
        mid = np.float32(nt / 2)
        return mid + (tau - mid) / (np.float32(1.0) + ramp)

    def _reflectivity(self, q: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(reflectivity, tau, age) at unfaulted coordinates q; tau is the position in the series,
        age the depositional coordinate (tau, or tau_old + hiatus below an unconformity)."""
        tau = self._tau(q)
        refl = sample(self._refl, self._tau0, tau)
        age = tau
        if self._unconformity is not None:
            older = tau > self._unconformity.surface(q[1], q[2])
            if older.any():
                tau_old = tau + self._unconformity.tilt(q[1], q[2])
                refl = np.where(older, sample(self._refl_old, self._tau0, tau_old), refl)
                age = np.where(older, tau_old + np.float32(self._hiatus), tau)
        if self._facies is not None:
            w = self._facies(tau, q[1], q[2])
            refl = refl * (np.float32(1.0) - w) + sample(self._refl_facies, self._tau0, tau) * w
        if self._channels is not None:
            inside = self._channels.inside(tau, q[1], q[2], self.shape)
            if inside.any():
                refl = np.where(inside, sample(self._refl_fill, self._tau0, tau), refl)
        refl *= self._lateral(tau, q[1], q[2])
        return refl, tau, age

    def _age_bounds(self, rows: int = 64) -> tuple[float, float]:
        """(min of age on the top time slice, max on the bottom one - that min): RGT's scaling."""
        nt, ni, nx = self.shape
        lo, hi = np.inf, -np.inf
        for i0 in range(0, ni, rows):
            full = (2, min(ni, i0 + rows) - i0, nx)
            q = [np.broadcast_to(np.array([0, nt - 1], np.float32)[:, None, None], full).copy(),
                 np.broadcast_to(np.arange(i0, i0 + full[1], dtype=np.float32)[None, :, None], full).copy(),
                 np.broadcast_to(np.arange(nx, dtype=np.float32)[None, None, :], full).copy()]
            undo_faults(self._faults, q)
            if self._salt is not None:                  # sediments dragged up by salt, as in _clean
                q[0] += self._salt.lift(np.array([0, nt - 1]), np.arange(i0, i0 + full[1]), np.arange(nx))
            age = self._reflectivity(q)[2]
            lo, hi = min(lo, float(age[0].min())), max(hi, float(age[1].max()))
        return lo, max(hi - lo, 1e-6)

    def _convolve(self, refl: np.ndarray, t0: int, wavelets: list[np.ndarray] | None = None) -> np.ndarray:
        """Convolve along time with the wavelet(s) (default: the input's); `refl` starts at global
        time t0 - halo."""
        from scipy.ndimage import convolve1d

        wavelets = self._wavelets if wavelets is None else wavelets
        out = convolve1d(refl, wavelets[0], axis=0, mode="constant")
        if len(wavelets) > 1:
            nt = self.shape[0]
            t = (np.arange(refl.shape[0], dtype=np.float32) + np.float32(t0 - self._halo)) * np.float32(2.0 / max(nt - 1, 1))
            t = np.clip(t, 0.0, 2.0)[:, None, None]
            w_mid = np.float32(1.0) - np.abs(t - np.float32(1.0))
            out *= np.clip(np.float32(1.0) - t, 0.0, None)
            out += w_mid * convolve1d(refl, wavelets[1], axis=0, mode="constant")
            out += np.clip(t - np.float32(1.0), 0.0, None) * convolve1d(refl, wavelets[2], axis=0, mode="constant")
        return out

    def _clean(self, t0: int, t1: int, i_idx: np.ndarray, x_idx: np.ndarray) -> dict:
        """Noise-free seismic ("clean", input band), "dhr" (target band), fault ids, dip and strike,
        salt (uint8 0/1), tau and rgt for times [t0, t1) at the traces i_idx x x_idx.

        Fault ids need each trace's neighbours: pass consecutive indices with one extra on each side
        and drop the outer traces (render_components does)."""
        h = self._halo
        full = (t1 - t0 + 2 * h, len(i_idx), len(x_idx))
        q = [np.broadcast_to(np.arange(t0 - h, t1 + h, dtype=np.float32)[:, None, None], full).copy(),
             np.broadcast_to(np.asarray(i_idx, np.float32)[None, :, None], full).copy(),
             np.broadcast_to(np.asarray(x_idx, np.float32)[None, None, :], full).copy()]
        ids, dip, strike = undo_faults(self._faults, q, orientation=True)
        if self._salt is not None:
            tv = np.arange(t0 - h - 1, t1 + h)                 # one sample more above: salt edges along t
            q[0] += self._salt.lift(tv[1:], i_idx, x_idx)
        refl, tau, age = self._reflectivity(q)
        del q
        if self._salt is not None:
            frac = self._salt.fraction(tv, i_idx, x_idx)
            refl = self._salt.apply(refl, frac, tv[1:], i_idx, x_idx, self._refl_rms)
            salt = (frac[1:] >= 0.5).astype(np.uint8)
            for a in (ids, dip, strike):
                a[salt > 0] = 0                                # faults end at the salt
        else:
            salt = np.zeros(ids.shape, np.uint8)
        inner = slice(h, h + t1 - t0)
        rgt = age[inner] - np.float32(self._age_lo)
        rgt *= np.float32(1.0 / self._age_span)
        return {"clean": self._convolve(refl, t0)[inner], "dhr": self._convolve(refl, t0, self._dhr_wavelets)[inner],
                "fault_ids": ids[inner], "fault_dip": dip[inner], "fault_strike": strike[inner], "salt": salt[inner],
                "tau": tau[inner], "rgt": rgt}

    def render_components(self, t: slice = slice(None), i: slice = slice(None), x: slice = slice(None)) -> dict:
        """Every part of a sub-box: clean (the input's noise-free image, blurred when the volume's
        degradation says so) and additive noise (both in the clean signal's units), dhr (the target
        image, same units), fault_ids, fault_dip and fault_strike (degrees on labelled voxels, 0
        elsewhere; see faults.undo_faults), salt (uint8 0/1), tau (folded time of each voxel's
        unfaulted position) and rgt (relative geologic time, see the module doc)."""
        nt, ni, nx = self.shape
        tb, ib, xb = _box(t, nt, "time"), _box(i, ni, "inline"), _box(x, nx, "xline")
        r = self.degrade.blur_halo                       # traces of context for the lateral blur
        parts = self._clean(tb[0], tb[1], np.arange(ib[0] - 1 - r, ib[1] + 1 + r),
                            np.arange(xb[0] - 1 - r, xb[1] + 1 + r))
        inner = (slice(None), slice(1 + r, -1 - r), slice(1 + r, -1 - r))
        out = {k: v[inner] for k, v in parts.items()}
        out["clean"] = self.degrade.blur(parts["clean"][:, 1:-1, 1:-1])
        noise = self.noise.additive(tb, ib, xb, self._wavelets[0])
        noise *= np.float32(self._signal_rms)
        noise += self.degrade.noise(tb, ib, xb, self._clean_peak)
        out["noise"] = noise
        return out

    def _record(self, data: np.ndarray, tb: tuple[int, int], ib: tuple[int, int] = (0, 0),
                xb: tuple[int, int] = (0, 0)) -> np.ndarray:
        """Gain, clipping, quantization and the top mute of the recorded traces (in place)."""
        nt = self.shape[0]
        if self.gain:
            tg = (np.arange(*tb, dtype=np.float64) + nt / 8.0) / nt
            data *= (tg ** self.gain / self._gain_norm).astype(np.float32)[:, None, None]
        full_scale = self.clip * self._recorded_rms if self.clip else 6.0 * self._recorded_rms
        if self.clip or self.bits:
            np.clip(data, -full_scale, full_scale, out=data)
        if self.bits:
            levels = np.float32(2 ** (self.bits - 1) - 1)
            data *= levels / np.float32(full_scale)
            np.round(data, out=data)
            data *= np.float32(full_scale) / levels
        if self._mute is not None:   # zeros above a gently dipping surface, a 4-sample taper below it
            depth, si, sx = self._mute
            ii = np.arange(*ib, dtype=np.float32)[None, :, None] - np.float32(self.shape[1] / 2)
            xx = np.arange(*xb, dtype=np.float32)[None, None, :] - np.float32(self.shape[2] / 2)
            tt = np.arange(*tb, dtype=np.float32)[:, None, None]
            data *= np.clip((tt - (np.float32(depth) + np.float32(si) * ii + np.float32(sx) * xx)) / np.float32(4.0),
                            0.0, 1.0)
        return data

    def render_volumes(self, t: slice = slice(None), i: slice = slice(None), x: slice = slice(None)) -> dict:
        """The box [t, i, x] as named volumes: seismic (float32, as recorded), labels (uint8 0/1),
        fault_ids (uint8), fault_dip and fault_strike (float32 degrees on labelled voxels), salt
        (uint8 0/1), rgt (float32 in [0, 1]) and dhr (float32, the clean higher-band image in the
        seismic's units)."""
        nt, ni, nx = self.shape
        tb, ib, xb = _box(t, nt, "time"), _box(i, ni, "inline"), _box(x, nx, "xline")
        parts = self.render_components(t, i, x)
        seis = parts["clean"]
        seis += parts["noise"]
        self.noise.artefacts(seis, tb, ib, xb, self._signal_rms)
        self._record(seis, tb, ib, xb)
        seis *= np.float32(1.0 / self._signal_rms)
        dhr = parts["dhr"]
        dhr *= np.float32(1.0 / self._signal_rms)
        ids = parts["fault_ids"]
        return {"seismic": seis, "labels": (ids > 0).astype(np.uint8), "fault_ids": ids,
                "fault_dip": parts["fault_dip"], "fault_strike": parts["fault_strike"], "salt": parts["salt"],
                "rgt": parts["rgt"], "dhr": dhr}

    def render(self, t: slice = slice(None), i: slice = slice(None), x: slice = slice(None)):
        """(seismic float32, labels uint8 0/1, fault_ids uint8) for the box [t, i, x] of the survey."""
        v = self.render_volumes(t, i, x)
        return v["seismic"], v["labels"], v["fault_ids"]


def synthesize(shape: Sequence[int], seed: int, config: SynthConfig = DEFAULT):
    """A whole synthetic survey in memory: (seismic, labels, fault_ids, faults list)."""
    model = SynthModel(shape, seed, config)
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
DISK_BYTES_PER_VOXEL = 14       # data float32 + labels uint8 + fault_ids uint8 + fault_dip, fault_strike float32
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
                    block: int = 128, progress: bool = False, config: SynthConfig = DEFAULT,
                    family: str = "") -> SynthModel:
    """Write a synthetic survey as a volume file (data, labels, fault_ids, fault_dip, fault_strike,
    salt, rgt, dhr; attributes faults, seed, synth, synth_config, synth_family), block by block so memory stays at
    a few blocks; optionally also as SEG-Y. Atomic."""
    import h5py

    from hpcfault.io.volume import create_volume

    shape = check_shape3(shape, "synthetic survey")
    if segy is not None and os.path.realpath(segy) == os.path.realpath(path):
        raise HpcfaultError(f"--segy and OUT name the same file (got {str(segy)!r}); give each output its own path")
    check_resources(shape, block, path, segy)
    model = SynthModel(shape, seed, config)
    geom = synth_geometry(shape, seed)
    boxes = block_boxes(shape, block)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(boxes), unit="block", desc="synth", disable=None)
    from hpcfault.config import to_mapping

    attrs = {"faults": json.dumps(model.faults), "seed": model.seed, "synth": json.dumps(model.params),
             "synth_config": json.dumps(to_mapping(config)), "synth_family": family}
    extra = {"labels": "uint8", "fault_ids": "uint8", "fault_dip": "float32", "fault_strike": "float32",
             "salt": "uint8", "rgt": "float32", "dhr": "float32"}
    with create_volume(path, shape, "float32", geometry=geom, extra=extra, attrs=attrs) as f:
        for box in boxes:
            v = model.render_volumes(*box)
            f["data"][box] = v.pop("seismic")
            for name, values in v.items():
                f[name][box] = values
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
