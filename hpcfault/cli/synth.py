"""Make a FaultSeg3D-style synthetic survey with fault labels, block by block.

Writes a volume file with datasets `data` (float32 seismic), `labels` (uint8 0/1 fault voxels) and
`fault_ids` (uint8, which fault; 0 = none), root attributes `faults` (JSON list of the fault
parameters), `synth` (JSON of the other parameters) and `seed`. The same seed and shape always
give the same survey, whatever --block is.

Examples:
  hpcfault synth survey.h5 --shape 128 128 128 --seed 7 --segy survey.sgy
  hpcfault synth big.h5 --shape 512 512 512 --seed 1 --block 128
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
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def paths(args: argparse.Namespace) -> tuple[list, list]:
    from hpcfault.io.paths import arg

    return [], [arg("OUT", args.out), arg("--segy", args.segy)]


def run(args: argparse.Namespace) -> int:
    from hpcfault.data.synth import write_synthetic

    model = write_synthetic(args.out, args.shape, args.seed, segy=args.segy, block=args.block,
                            progress=not args.no_progress)
    faults = model.faults
    print(f"wrote {args.out}: shape {tuple(model.shape)} (time, inline, xline), seed {model.seed}, "
          f"{len(faults)} faults, peak {model.peak_hz:.1f} Hz, SNR {model.snr_db:.1f} dB")
    for f in faults:
        print(f"  fault {f['id']}: {f['kind']:<7} dip {f['dip']:5.1f} strike {f['strike']:6.1f} "
              f"throw {f['throw']:5.1f} samples")
    if args.segy:
        print(f"wrote {args.segy}")
    return 0
