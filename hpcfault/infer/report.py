"""What rank 0 shows and writes: the dry-run text, the progress bar and the summary JSON."""
from __future__ import annotations

import json
import resource
import sys
from pathlib import Path
from typing import Any

from hpcfault.fmt import duration, mvox, plural
from hpcfault.infer.plan import Plan
from hpcfault.io.atomic import write_text_atomic


def gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def peak_rss() -> int:
    """Peak resident memory of this process in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def plan_text(plan: Plan, ranks: int, todo: int, memory: dict[str, int], seconds_per_block: float | None,
              device: str, threads: int) -> str:
    g = plan.grid
    per_axis = [a.overlap_text for a in plan.axes]
    if all(t == "-" for t in per_axis):
        overlap = f"asked {plan.overlap}; none needed: one block covers the survey"
    else:
        overlap = (f"asked {plan.overlap}, actual per axis (time/inline/xline) "
                   + "/".join("none" if t == "-" else t for t in per_axis)
                   + " (blocks start on the survey's 16-voxel grid; the last one ends at the survey's end "
                   "rounded up to 16)")
    lines = [
        f"survey       {plan.shape[0]} x {plan.shape[1]} x {plan.shape[2]} (time, inline, xline), "
        f"{mvox(plan.shape[0] * plan.shape[1] * plan.shape[2])}",
        f"block edge   {plan.block_text} (model input {plan.input_shape[0]} x {plan.input_shape[1]} x "
        f"{plan.input_shape[2]}, reflect padding past the survey's end {plan.pad[0]}/{plan.pad[1]}/{plan.pad[2]})",
        f"overlap      {overlap}",
        f"blocks       {len(plan)} = {g[0]} x {g[1]} x {g[2]}; to compute now: {todo}",
        f"ranks        {ranks}" + (f", dynamic: each rank takes the next block from a shared counter "
                                   f"(about {-(-todo // max(1, ranks))} per rank if equally fast)" if ranks > 1 else ""),
        f"device       {device}, {plural(threads, 'thread')} per rank",
        f"memory/rank  runtime ~{gib(memory['runtime'])} + model forward ~{gib(memory['model'])} + block "
        f"buffers ~{gib(memory['buffers'])} + merge tile ~{gib(memory['merge'])} = ~{gib(sum(memory.values()))}",
    ]
    if seconds_per_block is not None:
        total = seconds_per_block * -(-todo // max(1, ranks))
        lines.append(f"estimate     {duration(seconds_per_block)} per block -> ~{duration(total)} for the "
                     f"prediction stage (from a timed forward on this machine)")
    lines.append("first blocks " + ", ".join(plan.block(k).id for k in range(min(4, len(plan))))
                 + (" ..." if len(plan) > 4 else ""))
    return "\n".join(lines)


class Progress:
    """One aggregated bar on rank 0 (blocks done/total, Mvox/s, ETA); silent elsewhere, and when
    stderr is not a terminal (batch logs)."""

    def __init__(self, enabled: bool, total: int, vox_per_block: int, desc: str) -> None:
        self.bar = None
        self.vox = vox_per_block
        if enabled and total and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="blk", file=sys.stderr, dynamic_ncols=True,
                            mininterval=0.5)

    def set(self, done: int) -> None:
        if self.bar is None or done <= self.bar.n:
            return
        self.bar.update(done - self.bar.n)
        rate = self.bar.format_dict.get("rate")
        if rate:
            self.bar.set_postfix_str(f"{rate * self.vox / 1e6:.2f} Mvox/s", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def summary_path(out: Path) -> Path:
    return out.with_name(out.stem + ".summary.json")


def write_summary(out: Path, data: dict[str, Any]) -> Path:
    path = summary_path(out)
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=False))
    return path
