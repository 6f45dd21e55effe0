#!/usr/bin/env python
"""Benchmark the synthetic generator: one 128^3 cube in memory, and a large survey written block by
block to a volume file, with the process's peak resident memory.

Usage: python tools/bench_synth.py [--cube 128] [--repeat 3] [--survey 512 512 512] [--block 128]
                                   [--out DIR] [--skip-survey]
Prints one line per measurement; the survey file is deleted afterwards unless --out is given.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # Linux: KiB


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cube", type=int, default=128)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--survey", type=int, nargs=3, default=[512, 512, 512], metavar=("T", "I", "X"))
    p.add_argument("--block", type=int, default=128)
    p.add_argument("--out", help="keep the survey file in this folder")
    p.add_argument("--skip-survey", action="store_true")
    args = p.parse_args(argv)

    import numpy as np

    from hpcfault.data.synth import SynthModel, write_synthetic

    base = peak_rss_mib()
    print(f"cpus available: {len(os.sched_getaffinity(0))}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}")
    times = []
    for seed in range(args.repeat):
        t0 = time.perf_counter()
        SynthModel((args.cube,) * 3, seed).render()
        times.append(time.perf_counter() - t0)
    print(f"cube {args.cube}^3: median {np.median(times):.2f} s, best {min(times):.2f} s over {args.repeat} seeds "
          f"(model + seismic + labels + fault ids)")
    if args.skip_survey:
        return 0
    cube_peak = peak_rss_mib()
    print(f"peak RSS after the cubes {cube_peak:.0f} MiB (after imports {base:.0f} MiB)")
    folder = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench-synth-"))
    path = folder / "survey.h5"
    shape = tuple(args.survey)
    nvox = int(np.prod(shape))
    full_mib = nvox * (4 + 1 + 1) / 2 ** 20
    t0 = time.perf_counter()
    write_synthetic(path, shape, seed=1, block=args.block)
    dt = time.perf_counter() - t0
    peak = peak_rss_mib()
    print(f"survey {'x'.join(map(str, shape))} in blocks of {args.block}^3: {dt:.1f} s "
          f"({nvox / dt / 1e6:.2f} Mvoxel/s), file {path.stat().st_size / 2 ** 20:.0f} MiB")
    print(f"peak RSS {peak:.0f} MiB (after imports {base:.0f} MiB); the whole survey in memory would be "
          f"{full_mib:.0f} MiB (data float32 + labels + fault_ids)")
    if not args.out:
        shutil.rmtree(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
