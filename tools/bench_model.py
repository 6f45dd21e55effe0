#!/usr/bin/env python
"""Fault-Net forward speed and memory: our module against the published TorchScript file.

    .venv/bin/python tools/bench_model.py                      # 128^3 and 192^3, 2 threads
    .venv/bin/python tools/bench_model.py --sizes 128 --rounds 7 --bf16 --compile

Both run on the same synthetic seismic cube (hpcfault.data.synth, scaled to [0, 1]), with the same
thread count, under torch.inference_mode(). Rounds interleave the variants (ref, ours, ref, ours...)
so that load from other processes hits all of them alike; the table gives the best and the median
round, and the speedup as best/best and as the median of per-round ratios. Peak RSS is measured in
a fresh child process per variant and size (ru_maxrss after one forward, and its growth during it).

Variants: ref = TorchScript as published; exact = our FaultNet as loaded (same ops, bit-identical
output); fast = prepare_for_inference (BN folded, oneDNN convolutions, channels_last_3d);
fast-bf16 = fast with bf16 weights and activations; compile = torch.compile(fast). Differences are max abs
against ref, and, with --f64, against a float64 evaluation of the same weights (the exact answer).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_WEIGHTS = REPO.parent / "shared" / "weights" / "FaultNet_Gamma0.7.pt"


def synthetic_input(edge: int, seed: int = 11):
    import numpy as np
    import torch

    from hpcfault.data.synth import synthesize

    seismic = synthesize((edge, edge, edge), seed)[0].astype(np.float64)
    seismic = (seismic - seismic.min()) / (seismic.max() - seismic.min())
    return torch.from_numpy(seismic.astype(np.float32))[None, None]


def build_variants(weights: Path, names: list[str], device: str = "cpu"):
    import torch

    from hpcfault.models import FaultNet, prepare_for_inference
    from hpcfault.models.published import load_torchscript

    ref = load_torchscript(weights).eval().to(device)
    exact = FaultNet().eval()
    exact.load_state_dict(ref.state_dict(), strict=True)
    exact = exact.to(device)
    variants = {"ref": ref, "exact": exact}
    if any(n.startswith("fast") or n == "compile" for n in names):
        fast = prepare_for_inference(exact)
        variants["fast"] = fast
        for name, dtype in (("fast-bf16", torch.bfloat16), ("fast-fp16", torch.float16)):
            if name in names:  # weights and activations in half precision (autocast does not reach oneDNN convs)
                half = copy.deepcopy(fast).to(dtype)
                variants[name] = (lambda x, _m=half, _d=dtype: _m(x.to(_d)).float())
        if "compile" in names:
            variants["compile"] = torch.compile(fast)
    return {n: variants[n] for n in names}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch
        torch.cuda.synchronize()


def time_rounds(variants: dict, x, rounds: int, device: str) -> dict[str, list[float]]:
    import torch

    times: dict[str, list[float]] = {n: [] for n in variants}
    with torch.inference_mode():
        for f in variants.values():  # warm-up: oneDNN primitives, compile, caches
            f(x)
        for _ in range(rounds):
            for name, f in variants.items():
                sync(device)
                t0 = time.perf_counter()
                f(x)
                sync(device)
                times[name].append(time.perf_counter() - t0)
    return times


def differences(variants: dict, x, f64: bool) -> dict[str, dict[str, float]]:
    import torch

    out = {}
    with torch.inference_mode():
        ys = {n: f(x).float() for n, f in variants.items()}
        exact64 = None
        if f64:
            m64 = copy.deepcopy(variants["exact"]).double()
            exact64 = m64(x.double())
    ref = ys["ref"]
    for name, y in ys.items():
        d = (y - ref).abs()
        row = {"max_abs_vs_ref": d.max().item(), "mask_flips_vs_ref": int(((y > 0.5) != (ref > 0.5)).sum())}
        if exact64 is not None:
            row["max_abs_vs_f64"] = (y.double() - exact64).abs().max().item()
        out[name] = row
    return out


def rss_child(args) -> None:
    """One variant, one forward, in this fresh process: print peak RSS as JSON."""
    import torch

    import numpy as np

    torch.set_num_threads(args.threads)
    x = torch.from_numpy(np.load(args.rss_child_input))
    f = build_variants(Path(args.weights), [args.rss_child])[args.rss_child]
    with torch.inference_mode():
        f(x[..., :16, :16, :16].contiguous())  # load lazily initialised libraries first
    before = _reset_hwm()
    with torch.inference_mode():
        y = f(x)
    after = _vm_hwm()
    del y
    print(json.dumps({"peak_rss": after, "forward_growth": after - before}))


def _vm_hwm() -> int:
    """Peak RSS (VmHWM) of this process in bytes; ru_maxrss where /proc is absent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _reset_hwm() -> int:
    """Reset the peak-RSS mark to the current RSS (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _vm_hwm()


def measure_rss(args, name: str, x) -> dict:
    import tempfile

    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.npy"
        np.save(path, x.cpu().numpy())
        return _rss_child_run(args, name, path)


def _rss_child_run(args, name: str, path: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MALLOC_MMAP_THRESHOLD_": "65536"}
    cmd = [sys.executable, __file__, "--rss-child", name, "--rss-child-input", str(path),
           "--threads", str(args.threads), "--weights", str(args.weights)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 192], help="cube edges (multiples of 16)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    p.add_argument("--bf16", action="store_true", help="also time fast with bf16 weights and activations")
    p.add_argument("--compile", action="store_true", help="also time torch.compile(fast)")
    p.add_argument("--f64", action="store_true", help="also compare every variant with a float64 evaluation")
    p.add_argument("--no-rss", action="store_true", help="skip the peak-RSS child processes")
    p.add_argument("--device", default="cpu", help="cpu or cuda (on a GPU: ref, exact, fast, fast-fp16)")
    p.add_argument("--json", help="write all figures to this JSON file")
    p.add_argument("--rss-child", help=argparse.SUPPRESS)
    p.add_argument("--rss-child-input", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.rss_child:
        rss_child(args)
        return 0
    names = ["ref", "exact", "fast"] + (["fast-bf16"] if args.bf16 else []) + (["compile"] if args.compile else [])
    if "fast-bf16" in names and args.device == "cpu":
        from hpcfault.models.cpu_features import bf16_support

        if not bf16_support().ok:   # the fallback kernel is not the fast path this row measures
            print(f"fast-bf16 left out: {bf16_support().reason}")
            names.remove("fast-bf16")
    if args.device.startswith("cuda"):
        names = ["ref", "exact", "fast", "fast-fp16"]
    print(f"torch {torch.__version__}, {args.threads} threads, device {args.device}, weights {Path(args.weights).name}, "
          f"{args.rounds} interleaved rounds; Mvox/s best (median)")
    report = {"threads": args.threads, "device": args.device, "torch": str(torch.__version__), "sizes": {}}
    for edge in args.sizes:
        x = synthetic_input(edge).to(args.device)
        variants = build_variants(Path(args.weights), names, args.device)
        times = time_rounds(variants, x, args.rounds, args.device)
        diffs = differences(variants, x, args.f64)
        vox = edge ** 3
        rows = {}
        ref_best = min(times["ref"])
        for name in names:
            t = times[name]
            ratios = [r / s for r, s in zip(times["ref"], t)]
            row = {"best_mvox_s": vox / min(t) / 1e6, "median_mvox_s": vox / statistics.median(t) / 1e6,
                   "speedup_best": ref_best / min(t), "speedup_median_round": statistics.median(ratios),
                   **diffs[name]}
            if not args.no_rss and args.device == "cpu" and name != "compile":
                rss = measure_rss(args, name, x)
                row["peak_rss_mib"] = rss["peak_rss"] / 2 ** 20
                row["forward_rss_growth_mib"] = rss["forward_growth"] / 2 ** 20
            rows[name] = row
        report["sizes"][edge] = rows
        print(f"\n{edge}^3 ({vox / 1e6:.2f} Mvox)")
        print(f"  {'variant':<10} {'Mvox/s':>16} {'speedup':>15} {'max|d| vs ref':>14} {'flips':>6}"
              f"{' max|d| vs f64' if args.f64 else ''} {'peak RSS':>10} {'fwd growth':>11}")
        for name, r in rows.items():
            f64 = f" {r['max_abs_vs_f64']:13.1e}" if args.f64 else ""
            rss = f" {r['peak_rss_mib']:8.0f}Mi {r['forward_rss_growth_mib']:9.0f}Mi" if "peak_rss_mib" in r else ""
            print(f"  {name:<10} {r['best_mvox_s']:7.3f} ({r['median_mvox_s']:6.3f}) "
                  f"x{r['speedup_best']:5.2f} (x{r['speedup_median_round']:5.2f}) {r['max_abs_vs_ref']:14.1e} "
                  f"{r['mask_flips_vs_ref']:6d}{f64}{rss}")
    if args.json:
        from hpcfault.io.atomic import write_text_atomic
        write_text_atomic(args.json, json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
