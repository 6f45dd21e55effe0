"""End-to-end predict throughput against the TorchScript reference, and peak RSS per rank.

Throughput (volume file in -> merged volume file out, same threads as the reference):

    python tools/bench_predict.py throughput --torchscript ../shared/weights/FaultNet_Gamma0.7.pt \
        --shape 256 256 256 --threads 2

makes a synthetic survey, imports the weights (hpcfault.models.published), then alternates
`repeats` times: the reference's bare forward (torch.jit.load, one forward of the whole normalized
volume under no_grad, input already in memory) and `hpcfault predict`'s stages in this process
(statistics, plan, model load, read, forward, shard, ledger, merge, output file). The reference
is warmed up with three 64^3 forwards first. Best of each is reported.

Peak RSS per rank (a survey of float32 written chunk by chunk, never held in memory):

    python tools/bench_predict.py rss -m faultnet-g07.pt --shape 512 1024 1024 --block 256 --max-blocks 2

runs `hpcfault predict` as a child process and reads its peak RSS (the summary's per_rank and
getrusage of the children). --max-blocks N stops after N blocks (the statistics pass still reads
the whole survey; merge memory is bounded by the merge tile and is measured on a full run).
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


def _load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def throughput(args) -> int:
    import h5py
    import torch

    from hpcfault.cluster.mpi import SerialComm
    from hpcfault.data.synth import write_synthetic
    from hpcfault.infer.config import PredictConfig
    from hpcfault.infer.runner import PredictJob, run_predict
    from hpcfault.models import save_checkpoint
    from hpcfault.models.published import import_published
    from hpcfault.normalize import normalizer_from, stats_of

    torch.set_num_threads(args.threads)
    vox = int(np.prod(args.shape))
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        survey, ckpt = Path(tmp) / "survey.h5", Path(tmp) / "model.pt"
        write_synthetic(survey, args.shape, 11)
        model, name, config, prov = import_published(args.torchscript, check_shape=None)
        save_checkpoint(ckpt, model, name, config, prov)
        ref = torch.jit.load(args.torchscript, map_location="cpu").eval()
        with h5py.File(survey, "r") as f:
            vol = f["data"][...]
        x = torch.from_numpy(normalizer_from(stats_of(vol)).apply(vol))[None, None]
        del vol
        with torch.no_grad():   # warm-up: the TorchScript profiling executor optimizes on its 2nd call
            for _ in range(3):
                ref(x[..., :64, :64, :64])
        t_ref, t_ours = [], []
        for rep in range(args.repeats):
            t = time.perf_counter()
            with torch.no_grad():
                ref(x)
            t_ref.append(time.perf_counter() - t)
            out = Path(tmp) / f"out{rep}.h5"
            cfg = PredictConfig(model=str(ckpt), threads=args.threads, progress=False, dtype=args.dtype)
            t = time.perf_counter()
            summary = run_predict(PredictJob(str(survey), str(out), cfg), SerialComm())
            t_ours.append(time.perf_counter() - t)
            print(f"repeat {rep}: reference forward {t_ref[-1]:.1f} s, hpcfault predict {t_ours[-1]:.1f} s "
                  f"(stages {summary['times_s']}, {summary['blocks']} block(s) of {summary['plan']['input_shape']}); "
                  f"{_load()}", flush=True)
            out.unlink()
        r, o = min(t_ref), min(t_ours)
        print(f"\nsurvey {tuple(args.shape)} ({vox / 1e6:.1f} Mvox), {args.threads} thread(s), dtype {args.dtype}")
        print(f"reference bare forward   {vox / r / 1e6:6.2f} Mvox/s  ({r:.1f} s, best of {args.repeats})")
        print(f"hpcfault predict (e2e)   {vox / o / 1e6:6.2f} Mvox/s  ({o:.1f} s, best of {args.repeats})")
        print(f"ratio                    {r / o:6.2f}x")
    return 0


def write_big(path: Path, shape, chunk: int = 64) -> None:
    """A float32 volume file of `shape` written inline slab by slab (bounded memory)."""
    from hpcfault.io.volume import create_volume

    rng = np.random.default_rng(0)
    t = np.arange(shape[0], dtype=np.float32)[:, None, None]
    with create_volume(path, shape, "float32") as f:
        for lo in range(0, shape[1], chunk):
            hi = min(shape[1], lo + chunk)
            slab = np.sin(t / 5.0 + rng.random((1, hi - lo, shape[2]), dtype=np.float32))
            slab += 0.3 * rng.standard_normal((shape[0], hi - lo, shape[2]), dtype=np.float32)
            f["data"][:, lo:hi, :] = slab


def rss(args) -> int:
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        survey = Path(tmp) / "big.h5"
        t = time.perf_counter()
        write_big(survey, args.shape)
        size = survey.stat().st_size
        print(f"survey {tuple(args.shape)} float32, {size / 2**30:.2f} GiB written in {time.perf_counter() - t:.0f} s")
        out = Path(tmp) / "out.h5"
        cmd = [sys.executable, "-m", "hpcfault", "predict", str(survey), "-m", args.model, "-o", str(out),
               "--block", str(args.block), "--threads", str(args.threads), "--no-progress"]
        if args.memory:
            cmd += ["--memory", args.memory]
        if args.max_blocks:
            cmd += ["--max-blocks", str(args.max_blocks)]
        if args.ranks:
            cmd = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(args.ranks)] + cmd
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t
        print(proc.stdout.strip())
        plan = [ln for ln in proc.stderr.splitlines() if "block" in ln.lower()][:3]
        print("\n".join(plan))
        if proc.returncode not in (0, 3):
            print(proc.stderr[-3000:])
            return 1
        child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        summary = out.with_name("out.summary.json")
        per_rank = json.loads(summary.read_text())["per_rank"] if summary.exists() else None
        print(f"wall {wall:.0f} s; peak RSS of the largest child process {child / 2**30:.2f} GiB; {_load()}")
        if per_rank:
            for r in per_rank:
                print(f"  rank {r['rank']}: {r['blocks']} blocks, peak RSS {r['peak_rss_bytes'] / 2**30:.2f} GiB")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    a = sub.add_parser("throughput")
    a.add_argument("--torchscript", required=True)
    a.add_argument("--shape", type=int, nargs=3, default=(256, 256, 256))
    a.add_argument("--threads", type=int, default=2)
    a.add_argument("--repeats", type=int, default=2)
    a.add_argument("--dtype", default="fp32")
    a.add_argument("--tmp", default=None)
    b = sub.add_parser("rss")
    b.add_argument("-m", "--model", required=True)
    b.add_argument("--shape", type=int, nargs=3, default=(512, 1024, 1024))
    b.add_argument("--block", type=int, default=256)
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--ranks", type=int, default=0, help="run under mpiexec -n RANKS (0: no MPI)")
    b.add_argument("--max-blocks", type=int, default=0)
    b.add_argument("--memory", default=None, help="memory per rank for the block planner, e.g. 1.5GiB")
    b.add_argument("--tmp", default=None)
    args = p.parse_args(argv)
    return throughput(args) if args.what == "throughput" else rss(args)


if __name__ == "__main__":
    raise SystemExit(main())
