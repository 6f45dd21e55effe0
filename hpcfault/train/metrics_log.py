"""RUN_DIR/metrics.jsonl: one JSON object per line, written by rank 0.

Training lines:   {"step": 120, "kind": "train", "loss": 0.41, "lr": 0.001, "cubes_per_s": 3.2, "time": ...}
Validation lines: {"step": 200, "kind": "val", "iou": ..., "precision": ..., "recall": ..., "tol_iou": ...}

On resume the lines written after the checkpoint being resumed are dropped (the file is rewritten
atomically), so the log reads as one continuous run whatever was interrupted.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from hpcfault.errors import HpcfaultError
from hpcfault.io.atomic import write_text_atomic

NAME = "metrics.jsonl"


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All records of a metrics file (or of RUN_DIR/metrics.jsonl when given a directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / NAME
    if not path.is_file():
        raise HpcfaultError(f"no metrics file (got {str(path)!r}); pass a training run directory")
    records = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if n == len(lines):
                break  # a last line cut by a kill: ignore it
            raise HpcfaultError(f"{path}:{n} is not a JSON line (got {line[:60]!r})") from None
    return records


class MetricsLog:
    def __init__(self, run_dir: str | os.PathLike, enabled: bool = True) -> None:
        self.path = Path(run_dir) / NAME
        self.enabled = enabled

    def truncate_after(self, step: int) -> None:
        """Keep only records with step <= `step` (called on resume, before training continues)."""
        if not self.enabled or not self.path.exists():
            return
        keep = [r for r in read_metrics(self.path) if int(r.get("step", 0)) <= step]
        write_text_atomic(self.path, "".join(json.dumps(r) + "\n" for r in keep))

    def write(self, step: int, kind: str, **values: Any) -> None:
        if not self.enabled:
            return
        record = {"step": int(step), "kind": kind, **values, "time": round(time.time(), 3)}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
