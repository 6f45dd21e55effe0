#!/usr/bin/env python
"""Predict and the reference on a busy node: whole-process wall times alone and with a competing
CPU-bound job on the same cores, side by side.

    .venv/bin/python tools/bench_busy.py --torchscript ../shared/weights/FaultNet_Gamma0.7.pt \
        --shape 128 256 256 --block 128 --ranks 2

Runs, each as child processes timed from start to exit (imports, reading, everything):

  reference   one process, `--threads` threads: torch.jit.load of the published TorchScript and one
              forward of the whole normalized survey held in memory (the bare network)
  predict     `mpiexec -n RANKS hpcfault predict SURVEY -m MODEL -o OUT --block B` (one thread per rank);
              with --block 0 (predict's own choice) a first run times the candidates (reported apart)
              and the rows use its cached timings

each alone, then with a competitor started just before and killed right after: COMPETE copies of a
busy loop (pure Python, one core each; default: as many as the cores). Every predict variant in
--env (default: as shipped, and with OMP_WAIT_POLICY=ACTIVE forced, i.e. spinning threads) is
measured the same way. Prints one row per run and the slowdown each suffers from the competition;
the target of issue 18 is predict's slowdown <= the reference's.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

REFERENCE = """
import sys, h5py, torch
from hpcfault.normalize import normalizer_from, stats_of
torch.set_num_threads(int(sys.argv[3]))
with h5py.File(sys.argv[1], "r") as f:
    vol = f["data"][...]
x = normalizer_from(stats_of(vol)).apply(vol)
pad = [(-n) % 16 for n in x.shape]
import numpy as np
x = np.pad(x, [(0, p) for p in pad], mode="reflect")
model = torch.jit.load(sys.argv[2], map_location="cpu").eval()
with torch.no_grad():
    model(torch.from_numpy(x)[None, None])
"""
BUSY = "while True:\n    pass\n"


def run(cmd: list[str], env: dict, compete: int) -> float:
    rivals = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(compete)]
    try:
        time.sleep(0.5 if compete else 0)
        t = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t
    finally:
        for r in rivals:
            r.kill()
            r.wait()
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--torchscript", default=str(REPO.parent / "shared" / "weights" / "FaultNet_Gamma0.7.pt"))
    ap.add_argument("--shape", type=int, nargs=3, default=[128, 256, 256])
    ap.add_argument("--block", type=int, default=128, help="predict's --block; 0 = its own choice (no --block)")
    ap.add_argument("--rank-threads", type=int, default=1, help="predict's --threads per rank (default 1)")
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="reference threads (default: cores)")
    ap.add_argument("--compete", type=int, default=os.cpu_count() or 2, help="busy-loop processes (default: cores)")
    ap.add_argument("--env", nargs="*", default=["", "OMP_WAIT_POLICY=ACTIVE"],
                    help="predict variants: '' = as shipped, or NAME=VALUE[,NAME=VALUE] environment settings")
    ap.add_argument("--repeat", type=int, default=1, help="best of N per row")
    args = ap.parse_args()
    base = {**os.environ, "PYTHONPATH": str(REPO)}
    base.pop("OMP_NUM_THREADS", None)
    rows, first = [], []
    with tempfile.TemporaryDirectory() as tmp:
        survey, model = Path(tmp) / "survey.h5", Path(tmp) / "g07.pt"
        subprocess.run([sys.executable, "-m", "hpcfault", "synth", str(survey), "--shape", *map(str, args.shape),
                        "--seed", "11", "--family", "classic", "--no-progress"], check=True, env=base)
        subprocess.run([sys.executable, "-m", "hpcfault", "import-weights", args.torchscript, "-o", str(model)],
                       check=True, env=base, capture_output=True)

        def best(cmd: list[str], env: dict, compete: int) -> float:
            return min(run(cmd, env, compete) for _ in range(args.repeat))

        ref = [sys.executable, "-c", REFERENCE, str(survey), args.torchscript, str(args.threads)]
        for compete in (0, args.compete):
            rows.append(("reference", f"{args.threads} threads", compete, best(ref, base, compete)))
        for variant in args.env:
            env = dict(base)
            for item in filter(None, variant.split(",")):
                k, _, v = item.partition("=")
                env[k] = v
            out = Path(tmp) / "out.h5"
            cmd = [str(BIN / "mpiexec"), "-n", str(args.ranks), sys.executable, "-m", "hpcfault", "predict",
                   str(survey), "-m", str(model), "-o", str(out), "--threads", str(args.rank_threads), "--no-progress"]
            cmd += ["--block", str(args.block)] if args.block else []
            if not args.block and not first:   # predict's own choice: its first run times the candidates
                first.append(run(cmd, env, 0))
                out.unlink(missing_ok=True)
            for compete in (0, args.compete):
                out.unlink(missing_ok=True)
                rows.append(("predict", variant or "as shipped", compete, best(cmd, env, compete)))
    print(f"survey {'x'.join(map(str, args.shape))}, predict --block {args.block or 'auto'} on {args.ranks} ranks x "
          f"{args.rank_threads} thread(s), "
          f"{os.cpu_count()} cores, load average before: {os.getloadavg()[0]:.2f}")
    if first:
        print(f"predict's first run, which times the block candidates (cached for the rows below; "
              f"{os.environ.get('HPCFAULT_CACHE') or '~/.cache/hpcfault'}): {first[0]:.1f} s")
    print(f"{'run':<10} {'variant':<28} {'competitors':>11} {'wall s':>8} {'slowdown':>9}")
    alone = {}
    for what, variant, compete, wall in rows:
        if compete == 0:
            alone[(what, variant)] = wall
        slow = wall / alone[(what, variant)]
        print(f"{what:<10} {variant:<28} {compete:>11} {wall:>8.1f} {slow:>8.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
