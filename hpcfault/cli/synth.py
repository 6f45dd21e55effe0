"""Make a synthetic faulted survey with fault labels, block by block.

Every axis of variation (wavelet, reflectivity, structure, faults, noise, amplitude) is drawn
per survey from the ranges of a family (hpcfault/data/synth_config.py; `--family`, default
"train", the ranges the default model trains on), updated by a YAML file (`--config`, keys as in
SynthConfig) and KEY=VALUE overrides. Writes a volume file with datasets `data` (float32 seismic),
`labels` (uint8 0/1 fault voxels), `salt` (uint8 0/1 salt voxels; all 0 outside the salt family),
`fault_ids` (uint8, which fault; 0 = none), `fault_dip` and `fault_strike` (float32 degrees on
fault voxels: dip from horizontal; strike = azimuth of the fault trace from the inline-number axis
towards the crossline-number axis, modulo 180), the multi-task targets `rgt` (relative geologic
time in [0, 1], increasing with depth) and `dhr` (the clean image at 1.25 x the band, in the units
of `data`; family multitask: `data` is then a blurred, noisy version of the lower band), root attributes `faults` (JSON list of the fault
parameters), `synth` (JSON of the other parameters) and `seed`. The same seed and shape always
give the same survey, whatever --block is.

Examples:
  hpcfault synth survey.h5 --shape 128 128 128 --seed 7 --segy survey.sgy
  hpcfault synth big.h5 --shape 512 512 512 --seed 1 --block 128
  hpcfault synth quiet.h5 --family fault-free --seed 3
  hpcfault synth mt.h5 --family multitask --shape 128 128 128 --seed 5
  hpcfault synth salt.h5 --family salt --seed 3           (domes, diapirs, sheets; labels in 'salt')
  hpcfault synth salt.h5 --salt --seed 3                  (the same: --salt is --family salt)
  hpcfault synth noisy.h5 --seed 4 noise.snr_db=[0,3] faults.count=[2,2] wavelet.kinds=[ormsby]
"""
from __future__ import annotations

import argparse

HELP = "make a synthetic faulted survey with labels"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="output volume file (.h5)")
    p.add_argument("--shape", nargs=3, type=int, metavar=("T", "I", "X"), default=[128, 128, 128],
                   help="time samples, inlines, crosslines (default 128 128 128)")
    p.add_argument("--seed", type=int, default=0, help="random seed (>= 0); same seed, same survey (default 0)")
    p.add_argument("--segy", metavar="OUT.sgy", help="also write the seismic as SEG-Y (IEEE float, bytes 189/193)")
    p.add_argument("--block", type=int, default=128,
                   help="edge of the blocks rendered one at a time; memory grows with its cube (default 128)")
    p.add_argument("--family", default="train",
                   help="generator family: train (default), fault-free, classic, heldout-wavelet, heldout-noise, "
                        "heldout-faults, heldout-thin, multitask, salt, salt-free (see hpcfault/data/synth_config.py)")
    p.add_argument("--salt", dest="family", action="store_const", const="salt",
                   help="salt bodies in the survey: the same as --family salt")
    p.add_argument("--config", metavar="FILE.yaml", help="generator ranges over the family's (keys of SynthConfig)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="generator ranges, e.g. faults.count=[0,3]")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is none anyway when stderr is not a terminal)")
    p.parse_args = p.parse_intermixed_args  # type: ignore[method-assign]  # overrides before or after options


def paths(args: argparse.Namespace) -> tuple[list, list]:
    from hpcfault.io.paths import arg

    return [], [arg("OUT", args.out), arg("--segy", args.segy)]


def run(args: argparse.Namespace) -> int:
    from hpcfault.config import read_yaml
    from hpcfault.data.synth import write_synthetic
    from hpcfault.data.synth_config import synth_config

    mapping = read_yaml(args.config) if args.config else None
    config = synth_config(args.family, args.overrides, mapping, source=args.config or "hpcfault synth")
    model = write_synthetic(args.out, args.shape, args.seed, segy=args.segy, block=args.block,
                            progress=not args.no_progress, config=config, family=args.family)
    faults = model.faults
    snr = "clean" if model.snr_db is None else f"SNR {model.snr_db:.1f} dB"
    dg = model.degrade
    if dg.blur_sigma or dg.level:
        snr += (f", input degraded: lateral blur sigma {dg.blur_sigma:.1f} traces, {dg.kind} noise of "
                f"{100 * dg.level:.0f} % of the maximum") if dg.level else f", input blurred (sigma {dg.blur_sigma:.1f} traces)"
    n = len(faults)
    salt = ""
    if config.salt.count[1] > 0:
        bodies = (model.params["salt"] or {}).get("bodies", [])
        salt = f", {len(bodies)} salt bod{'y' if len(bodies) == 1 else 'ies'}" + (
            f" ({', '.join(b['kind'] for b in bodies)})" if bodies else "")
    print(f"wrote {args.out}: shape {tuple(model.shape)} (time, inline, xline), family {args.family}, seed {model.seed}, "
          f"{n} fault{'s' if n != 1 else ''}{salt}, {model.wavelet_kind} wavelet at {model.peak_hz:.1f} Hz, {snr}")
    for f in faults:
        print(f"  fault {f['id']}: {f['kind']:<7} {f['style']:<16} dip {f['dip']:5.1f} strike {f['strike']:6.1f} "
              f"throw {f['throw']:5.1f} samples")
    if args.segy:
        print(f"wrote {args.segy}")
    return 0
