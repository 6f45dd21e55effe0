"""Peak memory and speed of `hpcfault faults` against survey size, for one memory budget.

    python tools/bench_faults.py --shapes "128 256 128" "128 1024 128" "128 4096 128" --memory 32MiB [--ranks 2]

For each (T, I, X) shape it writes a fault-probability volume (Gaussian bands around a few planes,
made one inline slab at a time, so the bench never holds the survey), then runs `hpcfault faults` on
it as separate processes that report their own peak resident memory (the largest rank under
--ranks). The interpreter with the same imports is measured too (the baseline). Prints one row per
survey: its float32 size, the slab plan, peak RSS, wall time and throughput.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PEAK = "BENCH_PEAK_RSS_MIB"


def child(argv: list[str]) -> int:
    """Run `hpcfault ARGV` in this process and print its own peak RSS (MiB) on stderr."""
    sys.path.insert(0, str(REPO))
    code = 0
    if argv and argv[0] == "--imports-only":
        import h5py  # noqa: F401
        import scipy.ndimage  # noqa: F401
        import scipy.sparse.csgraph  # noqa: F401

        import hpcfault.faults.driver  # noqa: F401
    else:
        from hpcfault.cli import main

        code = main(argv)
    print(f"{PEAK} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}", file=sys.stderr)
    return code


def make_volume(path: Path, shape: tuple[int, int, int], seed: int = 0, planes: int = 6) -> None:
    """A probability volume of `planes` random planar faults, written inline slab by inline slab."""
    sys.path.insert(0, str(REPO))
    from hpcfault.faults.orientation import normals_from_dip_strike
    from hpcfault.io.volume import create_volume

    rng = np.random.default_rng(seed)
    t, ni, nx = shape
    normals = normals_from_dip_strike(rng.uniform(55, 85, planes), rng.uniform(0, 360, planes))
    centres = rng.uniform(0.1, 0.9, (planes, 3)) * np.array(shape)
    tt, xx = np.meshgrid(np.arange(t, dtype=np.float32), np.arange(nx, dtype=np.float32), indexing="ij")
    with create_volume(path, shape, "float32") as f:
        step = 64
        for a in range(0, ni, step):
            b = min(ni, a + step)
            slab = np.zeros((t, b - a, nx), np.float32)
            for n, c in zip(normals, centres):
                for k, i in enumerate(range(a, b)):
                    d = (tt - c[0]) * n[0] + (i - c[1]) * n[1] + (xx - c[2]) * n[2]
                    np.maximum(slab[:, k, :], np.exp(-0.5 * (d / 2.0) ** 2), out=slab[:, k, :])
            f["data"][:, a:b, :] = slab


def run_child(args: list[str], ranks: int) -> tuple[float, float, str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *args]
    if ranks:
        mpiexec = Path(sys.executable).parent / "mpiexec"
        cmd = [str(mpiexec) if mpiexec.exists() else "mpiexec", "-n", str(ranks), *cmd]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    secs = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    peaks = [float(ln.split()[1]) for ln in proc.stderr.splitlines() if ln.startswith(PEAK)]
    return secs, max(peaks), proc.stdout.strip()


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        return child(argv[1:])
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", nargs="+", default=["128 256 128", "128 1024 128", "128 4096 128"],
                   help="surveys as 'T I X' strings")
    p.add_argument("--memory", default="32MiB", help="hpcfault faults --memory")
    p.add_argument("--ranks", type=int, default=0, help="run under mpiexec -n RANKS")
    p.add_argument("--dir", help="work folder (default: a temporary one)")
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args(argv)
    work = Path(args.dir or tempfile.mkdtemp(prefix="bench_faults_"))
    work.mkdir(parents=True, exist_ok=True)
    _, base, _ = run_child(["--imports-only"], 0)
    print(f"hpcfault faults --memory {args.memory}{f' on {args.ranks} ranks' if args.ranks else ''}; "
          f"interpreter + imports alone: {base:.0f} MiB peak RSS")
    print(f"{'survey (T, I, X)':>20s} {'float32':>9s} {'slabs':>16s} {'peak RSS':>9s} {'over base':>9s} "
          f"{'time':>7s} {'Mvox/s':>7s}  faults")
    rows = []
    for text in args.shapes:
        shape = tuple(int(v) for v in text.split())
        vol = work / f"prob-{'x'.join(map(str, shape))}.h5"
        if not vol.exists():
            make_volume(vol, shape)
        out = work / f"faults-{'x'.join(map(str, shape))}"
        secs, peak, stdout = run_child(["faults", str(vol), "-o", str(out), "--memory", args.memory], args.ranks)
        summary = json.loads((out / "faults.json").read_text())
        slabs = summary["slabs"]
        mib = np.prod(shape) * 4 / 2 ** 20
        voxels = float(np.prod(shape))
        row = {"shape": shape, "float32_mib": round(float(mib), 1), "slabs": slabs["count"],
               "core_inlines": slabs["core_inlines"], "halo": slabs["halo"], "peak_rss_mib": peak,
               "baseline_mib": base, "seconds": round(secs, 1), "faults": summary["counts"]["faults"]}
        rows.append(row)
        print(f"{str(shape):>20s} {mib:7.0f} MiB {slabs['count']:4d} x {slabs['core_inlines']:3d}+2x{slabs['halo']:<3d}"
              f" {peak:5.0f} MiB {peak - base:5.0f} MiB {secs:6.1f}s {voxels / secs / 1e6:7.2f}  "
              f"{summary['counts']['faults']}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
