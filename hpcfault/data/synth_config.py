"""Every axis of variation of the synthetic generator, with its documented range (`kind: synth`).

A `SynthConfig` says from which ranges each synthetic volume draws its parameters; the volume's
seed draws the values. The defaults are the ranges the embedded default fault model trains on,
chosen to span what real surveys look like (a 4 ms sample interval is assumed for frequencies):

    wavelet       Ricker or Ormsby (band-pass), peak 12-45 Hz, constant phase rotation up to
                  +-90 degrees (half the volumes), peak frequency falling by up to 40 % from top to
                  bottom (half the volumes)
    reflectivity  layers 1.5-8 samples thick on average (thin beds at the low end), 0-60 % of the
                  interfaces without contrast (dense to sparse), amplitudes varying by packets in
                  time and laterally (up to +-50 %), lateral thickening up to 40 %, an angular
                  unconformity in 30 % of the volumes, lateral facies changes (a second series
                  blended in by a smooth field that can end reflectors within a few traces, 50 %),
                  1-3 sinuous channels with a weak fill (30 %): discontinuities that are not faults
    structure     0-7 gaussian folds of 0-20 % of the volume height, planar dip up to 0.3
                  samples per trace
    faults        0-10 per volume plus 10 % fault-free volumes; dip 45-88 degrees; normal or
                  reverse; planar or listric (dip falling 10-30 degrees down the fault, never below 30); conjugate
                  pairs (30 %); throws of 1-3 samples (20 %) or 3-30; slip tapering along strike
                  and, for 30 % of the faults, up and down dip too
    noise         SNR 0-30 dB (10 % of volumes clean); a random mix of white noise, trace noise
                  (band-limited in time, independent from trace to trace, as in real surveys),
                  laterally correlated noise and coherent linear events; spikes; dead and noisy
                  traces. Off by default, on request (noise.kinds): "footprint" (multiplicative
                  stripes along one lateral axis, the held-out noise family's) and "gain" (a random
                  log-normal gain per trace, sigma 0.1-0.4: residual trace balance)
    amplitude     a time gain t**g (|g| <= 1.5, half the volumes), clipping at 1.5-4 x RMS (30 %),
                  integer quantization to 8-16 bits as in int8/int16 SEG-Y (30 %), a top mute
                  (zeros down to 3-25 % of the height, 20 %)
    degrade       off by default; the "multitask" family turns it on: the input is blurred laterally
                  (gaussian, sigma 1.5-3 traces) and gets noise of 0-50 % of the clean image's
                  maximum (uniform, normal or exponential, half the volumes smoothed), while the
                  targets rgt and dhr (the clean image with a wavelet of wavelet.dhr_band = 1.25 x
                  the input's peak frequency) stay clean (hpcfault/data/synth.py)
    salt          none by default; the "salt" family draws 1-3 bodies per volume (domes, diapirs
                  with stems, sheets/canopies; a mother salt layer on request), sediments dragged up
                  against them, strong top/base-salt reflections (2-5 x the RMS of the
                  sediments' interfaces, random polarity), weak chaotic reflectivity inside (hpcfault/data/salt.py)

`FAMILIES` holds named variants (`hpcfault synth --family NAME`), among them the held-out
families of tools/bench_generalization.py whose settings lie outside the training ranges.
Probabilities are in [0, 1]; a range is [low, high] with low <= high.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from hpcfault.errors import HpcfaultError

WAVELET_KINDS = ("ricker", "ormsby", "minphase")
SALT_KINDS = ("dome", "diapir", "sheet")
NOISE_KINDS = ("white", "trace", "lateral", "coherent", "footprint", "gain")


@dataclass(frozen=True)
class WaveletRanges:
    kinds: tuple[str, ...] = ("ricker", "ormsby")   # drawn with equal probability; also "minphase"
    peak_hz: tuple[float, float] = (12.0, 45.0)      # Ricker peak, Ormsby/minphase band centre (4 ms samples)
    ormsby_width: tuple[float, float] = (0.6, 1.4)   # pass band (f3 - f2) relative to the centre
    phase_prob: float = 0.5                          # share of volumes with a constant phase rotation
    phase_deg: tuple[float, float] = (-90.0, 90.0)
    decay_prob: float = 0.5                          # share of volumes whose frequency falls with time
    decay: tuple[float, float] = (0.0, 0.4)          # relative fall of the peak frequency, top to bottom
    dhr_band: float = 1.25                           # the dhr target's wavelet: this x the input's frequencies


@dataclass(frozen=True)
class ReflectivityRanges:
    layer_mean: tuple[float, float] = (1.5, 8.0)     # mean layer thickness, samples (exponential + 1)
    sparsity: tuple[float, float] = (0.0, 0.6)       # share of interfaces without contrast
    packet_contrast: tuple[float, float] = (0.0, 0.7)  # amplitude packets: log-std of the envelope in time
    lateral_amplitude: tuple[float, float] = (0.0, 0.5)   # +- relative lateral amplitude variation
    lateral_wavelength: tuple[float, float] = (40.0, 200.0)  # traces
    thickening: tuple[float, float] = (0.0, 0.4)     # layers thicken by up to this across the volume
    unconformity_prob: float = 0.3
    unconformity_tilt: tuple[float, float] = (0.05, 0.3)   # extra dip of the older sequence, samples/trace
    facies_prob: float = 0.5                         # lateral facies change (a second series blended in)
    facies_sharpness: tuple[float, float] = (1.0, 10.0)   # how abruptly (high: reflectors end within a few traces)
    facies_wavelength: tuple[float, float] = (15.0, 120.0)  # lateral scale of the facies field, traces
    channel_prob: float = 0.3                        # sinuous channels cut into the layers
    channels: tuple[int, int] = (1, 3)
    channel_width: tuple[float, float] = (4.0, 24.0)     # traces
    channel_depth: tuple[float, float] = (3.0, 14.0)     # samples


@dataclass(frozen=True)
class StructureRanges:
    folds: tuple[int, int] = (0, 7)                  # gaussian bumps, inclusive
    fold_amplitude: tuple[float, float] = (0.0, 0.2)  # of the volume height, each (their sum is capped at 0.4)
    fold_width: tuple[float, float] = (0.1, 0.4)     # gaussian sigma, of the larger lateral size
    dip: tuple[float, float] = (0.0, 0.3)            # planar dip, samples per trace (random azimuth)


@dataclass(frozen=True)
class FaultRanges:
    count: tuple[int, int] = (0, 10)                 # per volume, inclusive
    none_prob: float = 0.1                           # extra share of fault-free volumes
    dip: tuple[float, float] = (45.0, 88.0)          # degrees from horizontal, at the fault's centre
    reverse_prob: float = 0.35
    listric_prob: float = 0.3
    listric_loss: tuple[float, float] = (10.0, 30.0)  # degrees the dip falls over the volume's height (floor 30)
    arcuate_prob: float = 0.0                        # fault traces bent in map view (held-out style)
    arcuate_curvature: tuple[float, float] = (0.5, 1.5)   # sagitta of the trace over the survey, x 10 % of its width
    conjugate_prob: float = 0.3                      # the next fault dips the other way through the same line
    small_throw_prob: float = 0.2
    small_throw: tuple[float, float] = (1.0, 3.0)    # samples
    throw: tuple[float, float] = (3.0, 30.0)         # samples (vertical offset at the centre)
    tip_prob: float = 0.3                            # slip also tapers up and down dip (the fault dies out)
    half_length: tuple[float, float] = (0.5, 1.2)    # along strike, of the lateral diagonal


@dataclass(frozen=True)
class NoiseRanges:
    clean_prob: float = 0.1                          # share of volumes without noise (spikes etc. too)
    snr_db: tuple[float, float] = (0.0, 30.0)        # clean signal power over the noise mix's power
    kinds: tuple[str, ...] = ("white", "trace", "lateral", "coherent")   # mixed with random weights
    lateral_sigma: tuple[float, float] = (0.7, 2.0)  # traces, for "lateral"
    coherent_slope: tuple[float, float] = (0.3, 3.0)  # samples per trace, for "coherent"
    footprint_period: tuple[float, float] = (4.0, 10.0)   # traces, for "footprint" (multiplicative stripes)
    footprint_depth: tuple[float, float] = (0.15, 0.4)
    trace_gain: tuple[float, float] = (0.1, 0.4)     # sigma of log(per-trace gain), for "gain" (trace balance)
    spike_density: tuple[float, float] = (0.0, 2e-4)  # share of samples with a spike
    spike_amplitude: tuple[float, float] = (3.0, 8.0)  # x the signal RMS
    dead_traces: tuple[float, float] = (0.0, 0.01)   # share of traces zeroed
    noisy_traces: tuple[float, float] = (0.0, 0.01)  # share of traces with 3x extra noise


@dataclass(frozen=True)
class AmplitudeRanges:
    gain_prob: float = 0.5
    gain_exponent: tuple[float, float] = (-1.5, 1.5)  # amplitude x ((t + T/8) / T) ** g
    clip_prob: float = 0.3
    clip_level: tuple[float, float] = (1.5, 4.0)     # x the recorded RMS
    quantize_prob: float = 0.3
    quantize_bits: tuple[int, int] = (8, 16)         # int8 ... int16 SEG-Y
    mute_prob: float = 0.2                           # a top mute: zero samples above a smooth surface
    mute_depth: tuple[float, float] = (0.03, 0.25)   # of the volume height


DEGRADE_NOISE_KINDS = ("uniform", "normal", "exponential")


@dataclass(frozen=True)
class DegradeRanges:
    """The multi-task input: a blurred, noisy version of the image whose clean twin is the target."""

    blur_prob: float = 0.0                           # share of volumes whose input is blurred laterally
    blur_sigma: tuple[float, float] = (1.5, 3.0)     # gaussian sigma in traces (inline and xline)
    noise_prob: float = 0.0                          # share of volumes with this noise
    noise_level: tuple[float, float] = (0.0, 0.5)    # x the clean image's maximum |amplitude|: uniform noise
                                                     # spans +-level x max, normal and exponential have its std
    noise_kinds: tuple[str, ...] = DEGRADE_NOISE_KINDS   # one drawn per volume
    smooth_prob: float = 0.5                         # share of noisy volumes whose noise is smoothed
    smooth_sigma: tuple[float, float] = (0.5, 1.5)   # gaussian sigma of that smoothing, samples (all 3 axes)


@dataclass(frozen=True)
class SaltRanges:
    count: tuple[int, int] = (0, 0)                  # salt bodies per volume, inclusive (0: no salt at all)
    none_prob: float = 0.0                           # extra share of salt-free volumes
    kinds: tuple[str, ...] = ("dome", "diapir", "sheet")   # drawn with equal probability
    radius: tuple[float, float] = (0.12, 0.3)        # lateral radius, of the larger lateral size
    top: tuple[float, float] = (0.2, 0.55)           # top of a dome or diapir head, of the volume height
    thickness: tuple[float, float] = (0.1, 0.25)     # vertical semi-axis of a dome / head, of the height
    stem: tuple[float, float] = (0.3, 0.6)           # diapir stem radius, of the head's radius
    sheet_top: tuple[float, float] = (0.1, 0.35)     # top of a sheet, of the height
    sheet_thickness: tuple[float, float] = (0.05, 0.12)   # of the height
    feeder_prob: float = 0.5                         # a sheet fed by a stem from below
    layer_prob: float = 0.0                          # a mother salt layer at the bottom (an option: see salt.py)
    layer_top: tuple[float, float] = (0.6, 0.92)     # its top, of the height
    roughness: tuple[float, float] = (0.05, 0.3)     # relative undulation of the lateral radius
    reflection: tuple[float, float] = (2.0, 5.0)     # top/base-salt reflection, x the RMS of the sediments' interfaces
    interior: tuple[float, float] = (0.03, 0.2)      # chaotic reflectivity inside salt, x their RMS per sample
    drag: tuple[float, float] = (0.15, 0.6)          # uplift of the layers at a body, of its height
    drag_width: tuple[float, float] = (0.04, 0.12)   # lateral reach of the drag, of the larger lateral size


@dataclass(frozen=True)
class SynthConfig:
    wavelet: WaveletRanges = field(default_factory=WaveletRanges)
    reflectivity: ReflectivityRanges = field(default_factory=ReflectivityRanges)
    structure: StructureRanges = field(default_factory=StructureRanges)
    faults: FaultRanges = field(default_factory=FaultRanges)
    noise: NoiseRanges = field(default_factory=NoiseRanges)
    amplitude: AmplitudeRanges = field(default_factory=AmplitudeRanges)
    degrade: DegradeRanges = field(default_factory=DegradeRanges)
    salt: SaltRanges = field(default_factory=SaltRanges)

    def __post_init__(self) -> None:
        check(self)


def _walk(obj: Any, prefix: str = ""):
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            yield from _walk(value, prefix + f.name + ".")
        else:
            yield prefix + f.name, value


def check(cfg: SynthConfig) -> None:
    """One-line errors for ranges that are reversed, probabilities outside [0, 1], unknown kinds."""
    for key, value in _walk(cfg):
        name = key.rsplit(".", 1)[-1]
        if name in ("kinds", "noise_kinds"):
            valid = {"wavelet.kinds": WAVELET_KINDS, "noise.kinds": NOISE_KINDS,
                     "salt.kinds": SALT_KINDS}.get(key, DEGRADE_NOISE_KINDS)
            bad = [k for k in value if k not in valid]
            if not value and key != "noise.kinds" or bad:
                raise HpcfaultError(f"synth config: {key} lists unknown or no kinds (got {list(value)}); "
                                    f"valid kinds: {', '.join(valid)}")
        elif name.endswith("_prob"):
            if not 0.0 <= value <= 1.0:
                raise HpcfaultError(f"synth config: {key} is a probability (got {value}); use a value in [0, 1]")
        elif isinstance(value, tuple):
            if len(value) != 2 or value[0] > value[1] or min(value) < 0 and name not in ("phase_deg", "gain_exponent"):
                raise HpcfaultError(f"synth config: {key} must be a range [low, high] with 0 <= low <= high "
                                    f"(got {list(value)}); e.g. {key}=[1, 5]")
    f = cfg.faults
    if f.dip[0] < 10.0 or f.dip[1] > 89.5:
        raise HpcfaultError(f"synth config: faults.dip must lie in [10, 89.5] degrees (got {list(f.dip)}); "
                            "e.g. faults.dip=[45, 88]")
    if f.count[1] > 250:
        raise HpcfaultError(f"synth config: faults.count allows at most 250 faults (got {list(f.count)}); "
                            "fault ids are stored as uint8")
    if cfg.wavelet.peak_hz[0] <= 0 or cfg.wavelet.peak_hz[1] > 100:
        raise HpcfaultError(f"synth config: wavelet.peak_hz must lie in (0, 100] Hz at 4 ms samples "
                            f"(got {list(cfg.wavelet.peak_hz)}); e.g. wavelet.peak_hz=[15, 40]")
    if not 1.0 <= cfg.wavelet.dhr_band <= 2.0:
        raise HpcfaultError(f"synth config: wavelet.dhr_band must lie in [1, 2] (got {cfg.wavelet.dhr_band}); "
                            "the reference uses 1.25")
    if cfg.degrade.blur_sigma[1] > 8 or cfg.degrade.smooth_sigma[1] > 4:
        raise HpcfaultError(f"synth config: degrade.blur_sigma must stay <= 8 traces and degrade.smooth_sigma "
                            f"<= 4 samples (got {list(cfg.degrade.blur_sigma)}, {list(cfg.degrade.smooth_sigma)}); "
                            "e.g. degrade.blur_sigma=[1.5, 3]")
    if cfg.reflectivity.layer_mean[0] < 0.5:
        raise HpcfaultError(f"synth config: reflectivity.layer_mean must be >= 0.5 samples "
                            f"(got {list(cfg.reflectivity.layer_mean)}); e.g. [1.5, 8]")
    if cfg.amplitude.quantize_bits[0] < 2 or cfg.amplitude.quantize_bits[1] > 32:
        raise HpcfaultError(f"synth config: amplitude.quantize_bits must lie in [2, 32] "
                            f"(got {list(cfg.amplitude.quantize_bits)}); e.g. [8, 16]")


# Named variants: `hpcfault synth --family NAME`. "train" is what the default model trains on; the
# "heldout-*" families change one axis to settings outside the training ranges; "classic" is close to
# the single-family generator of hpcfault 0.1 (FaultSeg3D-like, always 4-8 planar faults, mild noise).
FAMILIES: dict[str, dict[str, Any]] = {
    "train": {},
    "fault-free": {"faults": {"count": [0, 0], "none_prob": 1.0}},
    "classic": {"wavelet": {"kinds": ["ricker"], "peak_hz": [20, 35], "phase_prob": 0.0, "decay_prob": 0.0},
                "reflectivity": {"layer_mean": [3.5, 3.5], "sparsity": [0, 0], "packet_contrast": [0, 0],
                                 "lateral_amplitude": [0, 0], "thickening": [0, 0], "unconformity_prob": 0.0,
                                 "facies_prob": 0.0, "channel_prob": 0.0},
                "structure": {"folds": [3, 6], "fold_amplitude": [0.05, 0.15], "dip": [0.0, 0.15]},
                "faults": {"count": [4, 8], "none_prob": 0.0, "dip": [60, 85], "listric_prob": 0.0,
                           "conjugate_prob": 0.0, "small_throw_prob": 0.0, "throw": [5, 30], "tip_prob": 0.0},
                "noise": {"clean_prob": 0.0, "snr_db": [2, 8], "kinds": ["lateral"], "spike_density": [0, 0],
                          "dead_traces": [0, 0], "noisy_traces": [0, 0]},
                "amplitude": {"gain_prob": 0.0, "clip_prob": 0.0, "quantize_prob": 0.0, "mute_prob": 0.0}},
    "heldout-wavelet": {"wavelet": {"kinds": ["minphase"], "peak_hz": [18, 40], "phase_prob": 0.0}},
    "heldout-noise": {"noise": {"clean_prob": 0.0, "snr_db": [3, 12], "kinds": ["footprint", "trace"]}},
    "heldout-faults": {"faults": {"count": [3, 8], "none_prob": 0.0, "arcuate_prob": 1.0, "listric_prob": 0.5,
                                  "small_throw_prob": 0.0}},
    "heldout-thin": {"reflectivity": {"layer_mean": [0.7, 1.3]}, "wavelet": {"peak_hz": [30, 60]}},
    # multi-task interpretation (Gao 2024): the input is the lower band blurred laterally with strong
    # noise, the targets (rgt, dhr at 1.25 x the band, faults with dip and strike) are clean. Only
    # normal faults reaching through the volume (no reverse faults, which repeat a section, and no
    # tipped ones, whose slip gradient can overturn the hanging wall), so that RGT increases down the traces.
    "multitask": {"faults": {"reverse_prob": 0.0, "tip_prob": 0.0},
                  "reflectivity": {"facies_prob": 0.0, "channel_prob": 0.0},   # as the reference's data
                  "noise": {"clean_prob": 1.0},
                  "amplitude": {"gain_prob": 0.0, "clip_prob": 0.0, "quantize_prob": 0.0, "mute_prob": 0.0},
                  "degrade": {"blur_prob": 1.0, "noise_prob": 1.0}},
    # salt surveys: 1-3 bodies (10 % of the volumes without), few faults; "salt-free" is the same
    # sediments without salt (what a salt model must leave alone)
    "salt": {"salt": {"count": [1, 3], "none_prob": 0.1}, "faults": {"count": [0, 4], "none_prob": 0.4}},
    "salt-free": {"salt": {"count": [0, 0]}, "faults": {"count": [0, 4], "none_prob": 0.4}},
}


def merge_mapping(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = merge_mapping(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def synth_config(family: str = "train", overrides: Sequence[str] = (), mapping: Mapping[str, Any] | None = None,
                 source: str = "synth config") -> SynthConfig:
    """The config of `family`, updated by a mapping (e.g. from YAML) and `key=value` overrides."""
    from hpcfault.config import apply_overrides, from_mapping

    if family not in FAMILIES:
        raise HpcfaultError(f"unknown synthetic family (got {family!r}); valid families: {', '.join(FAMILIES)}")
    data = merge_mapping(FAMILIES[family], mapping or {})
    return from_mapping(SynthConfig, apply_overrides(data, overrides), source)


DEFAULT = SynthConfig()
