"""Strong scaling of `hpcfault predict`: 1 -> N ranks, one thread each, same survey and blocks.

    python tools/bench_scaling.py -m faultnet-g07.pt --shape 128 256 256 --block 64 --ranks 1 2

Writes a synthetic survey, then runs `mpiexec -n R hpcfault predict ... --threads 1 --restart` for
each R, and prints the wall time of the whole command, of the predict stage (from the summary
JSON) and the speedups relative to the first rank count. The load average is printed with each
run: on a shared machine the figures only mean something when the load is below the core count.

--control also runs R independent plain-torch processes side by side, each doing a few
single-thread forwards of one block (no hpcfault stages, no MPI): the speedup the machine itself
offers at that moment, the ceiling for any scheduler.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-m", "--model", required=True)
    p.add_argument("--shape", type=int, nargs=3, default=(128, 256, 256))
    p.add_argument("--block", type=int, default=64)
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--control", action="store_true", help="also measure R side-by-side plain forward loops")
    args = p.parse_args(argv)

    from hpcfault.data.synth import write_synthetic

    mpiexec = str(Path(sys.executable).parent / "mpiexec")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        survey = Path(tmp) / "survey.h5"
        write_synthetic(survey, args.shape, 13)
        out = Path(tmp) / "out.h5"
        for ranks in args.ranks:
            best = None
            for _ in range(args.repeats):
                cmd = [mpiexec, "-n", str(ranks), sys.executable, "-m", "hpcfault", "predict", str(survey),
                       "-m", args.model, "-o", str(out), "--block", str(args.block), "--threads", "1",
                       "--restart", "--no-progress"]
                load = os.getloadavg()[0]
                t = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
                wall = time.perf_counter() - t
                if proc.returncode:
                    print(proc.stderr[-2000:])
                    return 1
                s = json.loads(out.with_name("out.summary.json").read_text())
                row = (wall, s["times_s"]["predict_s"], s["blocks"], [r["blocks"] for r in s["per_rank"]], load)
                print(f"ranks {ranks}: wall {wall:.1f} s, predict stage {row[1]:.1f} s, blocks per rank {row[3]}, "
                      f"load before {load:.2f}", flush=True)
                best = row if best is None or row[0] < best[0] else best
            rows.append((ranks, best))
    if args.control:
        control(args.model, args.block, args.ranks)
    base = rows[0][1]
    print(f"\nsurvey {tuple(args.shape)}, block {args.block}, {rows[0][1][2]} blocks, one thread per rank")
    for ranks, (wall, pred, _, per, load) in rows:
        print(f"ranks {ranks}: wall {wall:6.1f} s (speedup {base[0] / wall:4.2f}x), predict stage {pred:6.1f} s "
              f"(speedup {base[1] / pred:4.2f}x), blocks per rank {per}")
    return 0


CONTROL = """
import sys, time, numpy as np
from hpcfault.infer.forward import BlockModel
m = BlockModel(sys.argv[1], "cpu", "fp32", 1)
x = np.random.default_rng(0).random((int(sys.argv[2]),) * 3, dtype=np.float32)
m(x)
t = time.perf_counter()
for _ in range(4):
    m(x)
print(time.perf_counter() - t)
"""


def control(model: str, block: int, ranks_list) -> None:
    """R plain processes side by side, 4 single-thread forwards each: aggregate speedup vs one."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    base = None
    for r in ranks_list:
        procs = [subprocess.Popen([sys.executable, "-c", CONTROL, model, str(block)], stdout=subprocess.PIPE,
                                  text=True, env=env) for _ in range(r)]
        times = [float(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
        rate = 4 * r / max(times)
        base = base or rate
        print(f"control: {r} plain process(es) side by side, 4 forwards of {block}^3 each: "
              f"{', '.join(f'{t:.1f} s' for t in times)} -> aggregate speedup {rate / base:.2f}x "
              f"(load {os.getloadavg()[0]:.2f})", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
