"""Convert throughput and peak memory for a generated SEG-Y, for several memory budgets.

    python tools/bench_convert.py --shape 500 400 300 --budgets 16MiB 64MiB 256MiB [--ranks 2]

Writes a float32 SEG-Y of the given (T, I, X) size one inline at a time (never the whole survey in
memory), then runs `hpcfault convert` on it once per budget as a separate process and prints the
throughput (MB/s of float32 volume written) and the peak resident memory of that process, next to
the peak of a process that only imports the same modules (the interpreter baseline).
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hpcfault.io.segy import write_segy  # noqa: E402


class LazySurvey:
    """A (T, I, X) array-like that makes each inline on demand from its index (deterministic)."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def __getitem__(self, key):
        _, i, _ = key
        rng = np.random.default_rng(int(i))
        return rng.standard_normal((self.shape[0], self.shape[2]), dtype=np.float32)


def child_peak_mib(cmd: list[str]) -> tuple[float, float]:
    """Run cmd; return (seconds, peak RSS MiB of the largest child so far)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    secs = time.perf_counter() - t0
    return secs, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", type=int, nargs=3, default=(500, 400, 300), metavar=("T", "I", "X"))
    p.add_argument("--budgets", nargs="+", default=["16MiB", "64MiB", "256MiB"])
    p.add_argument("--ranks", type=int, default=0, help="run convert under mpiexec -n RANKS")
    p.add_argument("--dir", default=None, help="work folder (default: a temporary one)")
    args = p.parse_args(argv)
    work = Path(args.dir or tempfile.mkdtemp(prefix="bench_convert_"))
    work.mkdir(parents=True, exist_ok=True)
    sgy = work / "bench.sgy"
    t0 = time.perf_counter()
    write_segy(sgy, LazySurvey(args.shape))
    size_mb = sgy.stat().st_size / 1e6
    print(f"SEG-Y {tuple(args.shape)} (T, I, X): {size_mb:.0f} MB written in {time.perf_counter() - t0:.1f} s")
    base_cmd = [sys.executable, "-c", "import h5py, segyio, tqdm, numpy; import hpcfault.io.convert, hpcfault.cli"]
    _, base = child_peak_mib(base_cmd)
    print(f"baseline (interpreter + imports): peak RSS {base:.0f} MiB")
    launcher = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(args.ranks)] if args.ranks else []
    volume_mb = float(np.prod(args.shape)) * 4 / 1e6
    print(f"{'budget':>8} {'seconds':>8} {'MB/s':>7} {'peak RSS MiB':>13}  (largest process; ranks={args.ranks or 1})")
    for budget in args.budgets:
        out = work / f"bench-{budget}.h5"
        cmd = launcher + [sys.executable, "-m", "hpcfault", "convert", str(sgy), str(out), "--no-progress",
                          "--memory-budget", budget]
        # RUSAGE_CHILDREN keeps the maximum over all children: run the big budgets last
        secs, peak = child_peak_mib(cmd)
        print(f"{budget:>8} {secs:8.1f} {volume_mb / secs:7.1f} {peak:13.0f}")
        out.unlink()
    sgy.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
