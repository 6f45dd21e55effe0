#!/usr/bin/env python
"""Training throughput (cubes/s) of `hpcfault train` with 1 and 2 processes on CPU, and on GPU.

Runs the real CLI on a throw-away run directory (synthetic survey source with labels on every 30th
inline, no validation) and measures steady-state throughput from the metrics log: global cubes per
second between the end of the warm-up steps and the last step (data drawing and the DDP allreduce
included). CPU rows: 1 process with 1 and with N threads, and 2 gloo processes (torchrun) with
N/2 threads each. GPU rows (when CUDA is present): 1 process, and all GPUs with one process each.

    python tools/bench_train.py                       # Fault-Net, 64^3 cubes, global batch 4
    python tools/bench_train.py --cube 128 --batch 8 --steps 12 --model unet3d
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def throughput(run_dir: Path, batch: int, warmup: int) -> float:
    recs = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in recs if r["kind"] == "train"]
    a, b = train[warmup - 1], train[-1]
    return batch * (b["step"] - a["step"]) / (b["time"] - a["time"])


def bench(label: str, procs: int, threads: int, device: str, args: argparse.Namespace, work: Path) -> dict:
    run = work / label.replace(" ", "_").replace("/", "-")
    micro = 0 if device == "cuda" else 1   # GPU: the per-process batch in one pass; CPU: one cube per pass
    overrides = [f"steps={args.steps}", f"batch={args.batch}", f"micro_batch={micro}", f"data.cube={args.cube}",
                 f"model.name={args.model}", f"device={device}", f"threads={threads}", "log_every=1",
                 "checkpoint_every=100000", "validation.every=0", "data.min_fault_voxels=64",
                 "data.sources=[{kind: synthetic-survey, shape: [%d, 128, 128], seed: 7, count: 2, label_every: 30}]"
                 % max(args.cube, 64), f"amp={'auto' if device == 'cuda' else 'off'}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "OMPI_", "PMI_", "SUBMITIT_"))}
    env.update(OMP_NUM_THREADS=str(threads))
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    base = ["-m", "hpcfault", "train", str(REPO / "configs" / "train-tiny.yaml"), "--run-dir", str(run),
            *overrides, "model.options={}"]
    if procs == 1:
        cmd = [sys.executable, *base]
    else:
        torchrun = Path(sys.executable).parent / "torchrun"
        cmd = [str(torchrun), "--nproc_per_node", str(procs), "--master_addr", "127.0.0.1",
               "--master_port", str(free_port()), *base[0:]]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{label} failed:\n{proc.stdout}\n{proc.stderr[-3000:]}")
    return {"run": label, "processes": procs, "threads": threads, "device": device,
            "cubes_per_s": round(throughput(run, args.batch, args.warmup), 3)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="faultnet")
    p.add_argument("--cube", type=int, default=64)
    p.add_argument("--batch", type=int, default=4, help="global batch (divisible by 2)")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2, help="steps left out of the measurement")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="CPU threads in all")
    p.add_argument("--json", help="also write the rows to this file")
    args = p.parse_args()
    import torch

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        work = Path(tmp)
        rows.append(bench("cpu 1 proc x 1 thread", 1, 1, "cpu", args, work))
        if args.threads > 1:
            rows.append(bench(f"cpu 1 proc x {args.threads} threads", 1, args.threads, "cpu", args, work))
        rows.append(bench(f"cpu 2 procs x {max(1, args.threads // 2)} threads", 2, max(1, args.threads // 2),
                          "cpu", args, work))
        if torch.cuda.is_available():
            rows.append(bench("gpu 1 proc", 1, 4, "cuda", args, work))
            n = torch.cuda.device_count()
            if n > 1:
                rows.append(bench(f"gpu {n} procs", n, 4, "cuda", args, work))
    cpu = platform.processor() or platform.machine()
    print(f"# hpcfault train throughput: model {args.model}, cube {args.cube}^3, global batch {args.batch}, "
          f"{args.steps} steps ({args.warmup} warm-up), torch {torch.__version__}, {os.cpu_count()} cores ({cpu})")
    print(f"{'run':<28} {'cubes/s':>8}")
    for r in rows:
        print(f"{r['run']:<28} {r['cubes_per_s']:>8.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
