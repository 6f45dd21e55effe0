"""Throughput-driven block choice: the block edge that finishes the survey soonest, measured.

The memory planner gives the largest block that fits; on a GPU that is usually the fastest too,
but on CPUs large blocks run at less than half the per-voxel speed of ~128^3 ones, while small
blocks recompute more overlap. So `predict` without `--block` times the prepared model once on
each candidate block shape that fits in memory and picks the one with the smallest predicted
compute time for this survey: blocks(edge) x seconds per block, which counts both the speed of
the model at that size and the overlap every block recomputes (the voxels a block owns are what
it delivers). Timings are cached per model, device, dtype, thread count and torch version in a
JSON file (the user cache, `$HPCFAULT_CACHE` or ~/.cache/hpcfault/block-times.json) and the choice
is recorded in the work dir, so reruns and resumed runs plan the same blocks without measuring.

Pure functions here (candidates, predictions, the choice) are tested without torch; `measure`
times a BlockModel.
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

log = logging.getLogger(__name__)

EDGES = (64, 96, 128, 160, 192, 256, 320, 384, 448, 512)   # candidate block edges, multiples of 32
CACHE_VERSION = 1


@dataclass(frozen=True)
class Candidate:
    edge: int                        # block edge asked for (capped per axis by the survey)
    overlap: int
    blocks: int
    input_shape: tuple[int, int, int]
    seconds_per_block: float | None = None
    memory_bytes: int = 0

    @property
    def input_voxels(self) -> int:
        return self.input_shape[0] * self.input_shape[1] * self.input_shape[2]

    @property
    def predicted_s(self) -> float | None:
        return None if self.seconds_per_block is None else self.blocks * self.seconds_per_block

    def redundancy(self, survey_voxels: int) -> float:
        """Model input voxels over survey voxels (overlap and padding recomputed)."""
        return self.blocks * self.input_voxels / max(1, survey_voxels)


def candidate_plans(shape: Sequence[int], max_edge: int | None, align: int, overlap_of: Callable[[int], int],
                    edges: Sequence[int] = EDGES) -> list[Candidate]:
    """One candidate per distinct plan among `edges` that fit (<= max_edge), without timings."""
    from hpcfault.infer.plan import make_plan, round_up

    top = round_up(max(shape), align)
    out, seen = [], set()
    for edge in sorted(set(int(e) // align * align for e in edges) | {min(top, max(edges))}):
        if edge < 2 * align or (max_edge is not None and edge > max_edge) or edge > max(top, 2 * align):
            continue
        plan = make_plan(shape, edge, overlap_of(edge), align=align)
        key = (plan.input_shape, len(plan))
        if key in seen:
            continue
        seen.add(key)
        out.append(Candidate(plan.edge, plan.overlap, len(plan), plan.input_shape))
    return out


def choose(candidates: Sequence[Candidate]) -> Candidate:
    """The candidate with the smallest predicted time; ties go to the larger block (less overlap)."""
    timed = [c for c in candidates if c.predicted_s is not None]
    if not timed:
        raise ValueError("no timed candidate")
    return min(timed, key=lambda c: (round(c.predicted_s, 9), -c.input_voxels))


# -- timings -------------------------------------------------------------------------------------------
def cache_path() -> Path:
    root = os.environ.get("HPCFAULT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "hpcfault")
    return Path(root) / "block-times.json"


def cache_key(model_sha256: str, device: str, dtype: str, threads: int) -> str:
    import torch

    return f"v{CACHE_VERSION}|{model_sha256[:16]}|{device}|{dtype}|{threads}t|torch {torch.__version__}"


def load_cache(path: Path) -> dict[str, dict[str, float]]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def save_cache(path: Path, data: dict) -> None:
    from hpcfault.io.atomic import write_text_atomic

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True))
    except OSError as exc:   # a read-only home must not stop a prediction
        log.info("could not write the block timing cache %s (%s)", path, exc)


def shape_key(shape: Sequence[int]) -> str:
    return "x".join(str(int(n)) for n in shape)


def measure(model: Any, shape: Sequence[int], repeats: int = 1) -> float:
    """Seconds of one forward of `model` (a BlockModel) on a random block of `shape`, after a warm-up
    forward of the same shape (first-call allocations and kernel choices are not counted)."""
    import numpy as np

    x = np.random.default_rng(0).random(tuple(int(n) for n in shape), dtype=np.float32)
    model(x)
    best = float("inf")
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        model(x)
        best = min(best, time.perf_counter() - t)
    return best


def timed(candidates: Sequence[Candidate], times: dict[str, float], memory_of: Callable[[tuple], int]) -> list[Candidate]:
    from dataclasses import replace

    return [replace(c, seconds_per_block=times.get(shape_key(c.input_shape)), memory_bytes=int(memory_of(c.input_shape)))
            for c in candidates]


def describe(c: Candidate, survey_voxels: int, chosen: bool) -> str:
    from hpcfault.fmt import duration
    from hpcfault.infer.report import gib

    speed = "-" if c.seconds_per_block is None else f"{survey_voxels / c.predicted_s / 1e6:7.2f} Mvox/s"
    return (f"{'->' if chosen else '  '} block {c.edge:>4} (input {shape_key(c.input_shape)}), overlap {c.overlap:>3}, "
            f"{c.blocks:>5} blocks, redundancy x{c.redundancy(survey_voxels):5.2f}, "
            f"{'-' if c.seconds_per_block is None else duration(c.seconds_per_block)} per block, "
            f"survey {speed}, memory ~{gib(c.memory_bytes)}")


def record(work: Path, chosen: Candidate, key: str) -> None:
    """Keep the choice in the work dir: a rerun plans the same blocks without measuring."""
    from hpcfault.io.atomic import write_text_atomic

    work.mkdir(parents=True, exist_ok=True)
    write_text_atomic(work / "autoblock.json", json.dumps({"key": key, "choice": asdict(chosen)}, indent=1))


def recorded(work: Path, key: str) -> int | None:
    """The block edge a previous run of this work dir chose with the same model/device/threads."""
    try:
        data = json.loads((work / "autoblock.json").read_text())
    except (OSError, ValueError):
        return None
    if data.get("key") != key:
        return None
    edge = data.get("choice", {}).get("edge")
    return int(edge) if isinstance(edge, int) else None
