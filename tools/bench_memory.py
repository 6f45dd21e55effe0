#!/usr/bin/env python
"""Peak forward memory per voxel: formula (hpcfault/models/memory.py) against measurement.

    .venv/bin/python tools/bench_memory.py                  # 64^3 on CPU, every model, fp32 and bf16
    .venv/bin/python tools/bench_memory.py --edge 128 --device cuda

Measured on CPU from the profiler's allocator events, on CUDA with torch.cuda.max_memory_allocated,
for prepare_for_inference(model) (what `hpcfault predict` runs) and, with --plain, for the plain
eval model too. The last columns are the largest block edge for 16 GiB from the formula.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--edge", type=int, default=64)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--plain", action="store_true", help="also measure the plain eval model (BN not folded)")
    args = p.parse_args(argv)
    import torch

    from hpcfault.models import MODELS, build_model, largest_block, prepare_for_inference
    from hpcfault.models.memory import measure_peak_bytes, peak_bytes

    torch.set_num_threads(args.threads)
    dtypes = ["fp32", "fp16"] if args.device.startswith("cuda") else ["fp32", "bf16"]
    if "bf16" in dtypes:
        from hpcfault.models.cpu_features import bf16_support

        if not bf16_support().ok:   # the fallback kernel would measure another path
            print(f"bf16 left out: {bf16_support().reason}")
            dtypes.remove("bf16")
    torch_dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    shape = (args.edge,) * 3
    print(f"{'model':<15} {'variant':<9} {'dtype':<5} {'formula B/vox':>13} {'measured':>9} {'ratio':>6} "
          f"{'16GiB edge':>10}")
    for name in MODELS:
        base = build_model(name).eval()
        variants = [("prepared", prepare_for_inference(base), True)]
        if args.plain:
            variants.append(("plain", base, False))
        for label, model, folded in variants:
            for dtype in dtypes:
                m = model.to(args.device).to(torch_dtype[dtype])
                measured = measure_peak_bytes(m, shape, dtype, args.device) / args.edge ** 3
                formula = peak_bytes(name, shape, dtype, folded=folded) / args.edge ** 3
                edge = largest_block(name, 16 * 2 ** 30, dtype) if folded else ""
                print(f"{name:<15} {label:<9} {dtype:<5} {formula:13.1f} {measured:9.1f} {measured / formula:6.3f} "
                      f"{edge:>10}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
