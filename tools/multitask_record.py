#!/usr/bin/env python3
"""Install a trained multitask run's model as an embedded model with its record.

Copies RUN_DIR/checkpoints/model.pt to hpcfault/assets/NAME.pt and writes NAME.json beside it:
the recipe and resolved config, step, training wall time and mean rate (from metrics.jsonl), the
run's validation scores, the held-out figures of tools/multitask_figures.py (its summary.json), the
machine and the sha256 of the checkpoint (tests/test_multitask_default.py checks it).

    python tools/multitask_record.py runs/mti configs/train-multitask-cpu.yaml multitask-default \\
        --figures /tmp/mtfig/summary.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("recipe", help="the config the run was trained with (a path in the repository)")
    ap.add_argument("name", help="asset name without .pt, e.g. multitask-default")
    ap.add_argument("--figures", required=True, help="summary.json of tools/multitask_figures.py")
    ap.add_argument("--machine", default=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores "
                                         "(shared with other jobs while training)")
    args = ap.parse_args(argv)
    import torch
    import yaml

    run = Path(args.run_dir)
    recs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    train = [r for r in recs if r["kind"] == "train"]
    val = [r for r in recs if r["kind"] == "val"]
    config = yaml.safe_load((run / "config.yaml").read_text())
    src = run / "checkpoints" / "model.pt"
    ckpt = torch.load(src, map_location="cpu", weights_only=True)
    dst = REPO / "hpcfault" / "assets" / f"{args.name}.pt"
    shutil.copyfile(src, dst)
    figures = json.loads(Path(args.figures).read_text())
    info = {
        "model": f"{ckpt['model']} {ckpt['config']}",
        "parameters": int(sum(v.numel() for k, v in ckpt["state_dict"].items() if not k.endswith(
            ("running_mean", "running_var", "num_batches_tracked")))),
        "checkpoint_sha256": hashlib.sha256(dst.read_bytes()).hexdigest(),
        "recipe": args.recipe,
        "config": config,
        "reproduce": f"hpcfault train {args.recipe} --run-dir RUN threads={config.get('threads', 0)}; "
                     f"python tools/multitask_record.py RUN {args.recipe} {args.name} --figures SUMMARY.json",
        "step": int(ckpt["provenance"]["step"]),
        "training_wall_s": round(recs[-1]["time"] - recs[0]["time"], 1),   # first to last metrics record
        "training_wall_note": "from the step-0 validation to the last record; making the 24 training surveys "
                              "before it took about a minute",
        "mean_cubes_per_s": round(sum(r["cubes_per_s"] for r in train) / len(train), 3) if train else None,
        "cubes_seen": int(ckpt["provenance"]["step"]) * int(config["batch"]),
        "validation": {str(v["step"]): {k: v[k] for k in v if k not in ("kind", "time", "step")} for v in val},
        "held_out": figures,
        "machine": args.machine,
        "torch": torch.__version__,
        "threads": config.get("threads", 0),          # torch threads of the run (0: torch's default)
    }
    dst.with_suffix(".json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"installed {dst} ({dst.stat().st_size / 2**20:.2f} MiB) and {dst.with_suffix('.json').name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
