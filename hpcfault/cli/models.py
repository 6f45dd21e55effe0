"""List the models with their parameter count and GFLOP per 128^3 block, or plan a block size.

Examples:
  hpcfault models
  hpcfault models --count          # build each model and count again (imports torch; a few seconds)
  hpcfault models --plan --mem 16GiB --dtype fp16
  hpcfault models --plan --mem 40GB --dtype fp32 --model unet3d --reserve 2GiB

The listing reads hpcfault/models/catalog.py (no torch import); --count measures the same figures
on the built models and says where they differ from the catalog.

The plan is the largest cube edge (a multiple of 16) whose forward pass (prepare_for_inference,
torch.inference_mode) fits in --mem, from the per-voxel formulas of hpcfault/models/memory.py.
"""
from __future__ import annotations

import argparse

HELP = "list the models; --plan prints the largest block for a memory budget"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plan", action="store_true", help="print the largest block edge that fits in --mem")
    p.add_argument("--count", action="store_true",
                   help="build each model and count parameters and GFLOP (imports torch) instead of listing "
                        "the catalog's figures")
    p.add_argument("--mem", default="16GiB", help="memory budget for --plan, e.g. 16GiB, 80GB (default 16GiB)")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "tf32", "fp16", "bf16"], help="activation dtype (default fp32)")
    p.add_argument("--model", default=None, help="only this model (default: all)")
    p.add_argument("--reserve", default="0", help="bytes kept free for weights, CUDA context etc. (default 0)")


def gflop_per_block(model, edge: int = 128) -> float:
    """Convolution GFLOP (2 per multiply-add) of one forward pass on an edge^3 block (a 2D section
    model: its edge sections of edge^2), counted on 'meta'."""
    import copy

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    meta = copy.deepcopy(model).to("meta").eval()
    counter = FlopCounterMode(display=False)
    cin = getattr(model, "in_channels", 1)
    shape = (edge, cin, edge, edge) if getattr(model, "dims", 3) == 2 else (1, cin, edge, edge, edge)
    with torch.no_grad(), counter:
        meta(torch.empty(*shape, device="meta"))
    return counter.get_total_flops() / 1e9


def run(args: argparse.Namespace) -> int:
    from hpcfault.errors import HpcfaultError
    from hpcfault.models.catalog import CATALOG

    if args.model and args.model not in CATALOG:
        raise HpcfaultError(f"unknown model (got {args.model!r}); valid models: {', '.join(CATALOG)}")
    names = [args.model] if args.model else list(CATALOG)
    if args.plan:
        from hpcfault.models.memory import largest_block, parse_bytes, peak_bytes

        mem = parse_bytes(args.mem)
        reserve = parse_bytes(args.reserve) if args.reserve not in ("0", "") else 0
        print(f"{'model':<16} {'dtype':<5} {'B/voxel':>8} {'block edge':>10}  memory at that edge")
        from hpcfault.models.memory import has_formula

        for name in names:
            if not has_formula(name):
                print(f"{name:<16} {args.dtype:<5} {'-':>8} {'-':>10}  no memory formula: predict uses the block asked for")
                continue
            edge = largest_block(name, mem, args.dtype, reserve_bytes=reserve)
            peak = peak_bytes(name, (edge,) * 3, args.dtype)
            used, bpv = peak / 2 ** 30, peak / max(1, edge) ** 3
            print(f"{name:<16} {args.dtype:<5} {bpv:8.1f} {edge:>10}  {used:.2f} GiB of {mem / 2 ** 30:.2f} GiB")
        return 0
    print(f"{'model':<16} {'params':>10} {'GFLOP/128^3':>12}  {'tasks':<14} description")
    differ = []
    for name in names:
        facts = CATALOG[name]
        params, gflop = facts.params, facts.gflop_128
        if args.count:
            from hpcfault.models.registry import build_model, count_parameters

            model = build_model(name)
            params, gflop = count_parameters(model), gflop_per_block(model)
            if params != facts.params or abs(gflop - facts.gflop_128) > 5e-4 * gflop:
                differ.append(f"{name}: catalog {facts.params:,} / {facts.gflop_128}, counted {params:,} / {gflop:.3f}")
        serves = ",".join(facts.tasks) if facts.tasks else "any" + (" (2D)" if facts.dims == 2 else "")
        print(f"{name:<16} {params:>10,} {gflop:>12.1f}  {serves:<14} {facts.summary}")
    if not args.model:
        from hpcfault.tasks import TASKS

        print(f"\n{'task':<16} outputs (kind, merge rule)")
        for task in TASKS.values():
            outs = ", ".join(f"{o.name} ({o.kind}, {o.merge})" for o in task.outputs)
            print(f"{task.name:<16} {outs}: {task.summary}")
    if differ:
        print("hpcfault/models/catalog.py differs from the count; update it: " + "; ".join(differ))
        return 1
    return 0
