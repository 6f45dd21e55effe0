"""Throughput-driven block choice: the block shape that finishes the survey soonest, measured.

The memory planner gives the largest block that fits; on a GPU that is usually the fastest too,
but on CPUs large blocks can run slower per voxel than ~128^3 ones, while small blocks recompute
more overlap. So `predict` without `--block` times the prepared model once on each candidate block
shape that fits in memory and picks the one with the smallest predicted compute time for this
survey: blocks x seconds per block, which counts both the speed of the model at that size and the
overlap every block recomputes (the voxels a block owns are what it delivers).

Candidates are cubes (EDGES) and, where the survey's time axis is at most COLUMN_MAX samples,
columns of whole traces: blocks spanning the whole time axis on a square of a cube's edge. A column
recomputes no overlap along time and cuts no trace, so it owns more of what it computes than the
cube of the same lateral edge (256 x 512 x 512 at 128 laterally: x1.56 the survey's voxels against
x2.34 for 128^3 cubes). Timings are cached per model, device, dtype, thread count and torch version in a
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
COLUMN_MAX = 512    # columns of whole traces are candidates on surveys of at most this many samples
WARM_ENOUGH_S = 1.0   # a first forward this long is timed as it is (one-off costs are a few percent of it)
# The most a larger block gains in speed per voxel over the fastest one measured, by device type:
# on CPUs within 15 % from 64^3 to 256 x 192 x 192 (Fault-Net, docs/performance.md), so 1.25;
# on GPUs larger blocks can be several times faster per voxel: no bound, every candidate is timed.
MAX_GAIN_PER_VOXEL = {"cpu": 1.25}
CACHE_VERSION = 1


@dataclass(frozen=True)
class Candidate:
    edge: int | tuple[int, int, int]   # the block asked for: a cube's edge, or a column's (time, inline, xline)
    overlap: int
    blocks: int
    input_shape: tuple[int, int, int]
    seconds_per_block: float | None = None
    memory_bytes: int = 0
    column: bool = False             # spans the whole time axis (one block along time)

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
                    edges: Sequence[int] = EDGES, columns: bool = True) -> list[Candidate]:
    """One candidate per distinct plan among the cubes of `edges` that fit (<= max_edge) and the
    columns of whole traces (time axis padded to `align`, at most COLUMN_MAX and max_edge) on a square
    of each smaller edge; without timings. First the blocks that cut the time axis, then those that
    span it (`column`: columns, and cubes at least as long as the time axis), each by increasing edge."""
    from hpcfault.infer.plan import make_plan, round_up

    top = round_up(max(shape), align)
    sizes = [e for e in sorted(set(int(e) // align * align for e in edges) | {min(top, max(edges))})
             if not (e < 2 * align or (max_edge is not None and e > max_edge) or e > max(top, 2 * align))]
    time_len = round_up(shape[0], align)
    tall = columns and time_len <= COLUMN_MAX and (max_edge is None or time_len <= max_edge)
    asked = [e for e in sizes] + [(time_len, e, e) for e in sizes if tall and e < time_len]
    out, seen = [], set()
    for block in asked:
        lateral = block if isinstance(block, int) else block[1]
        plan = make_plan(shape, block, overlap_of(lateral), align=align)
        key = (plan.input_shape, len(plan))
        if key in seen:
            continue
        seen.add(key)
        out.append(Candidate(plan.edge if isinstance(block, int) else plan.edges, plan.overlap, len(plan),
                             plan.input_shape, column=plan.grid[0] == 1))
    return sorted(out, key=lambda c: (c.column, c.input_shape[1], c.input_shape[2]))


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


def cached_times(cache: dict, key: str) -> dict[str, float]:
    """The usable timings of `key` in a loaded cache: entries "TxIxX" -> positive seconds (anything
    else, e.g. from a damaged or hand-edited file, is dropped and timed again)."""
    import math

    entries = cache.get(key)
    if not isinstance(entries, dict):
        return {}
    good = {}
    for k, v in entries.items():
        parts = str(k).split("x")
        if len(parts) == 3 and all(p.isdigit() and int(p) > 0 for p in parts) and \
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0:
            good[str(k)] = float(v)
    return good


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
    """Seconds of one forward of `model` (a BlockModel) on a random block of `shape`. The first
    forward of a shape also pays one-off costs (allocations, kernel choices: ~0.1 s here), so it is
    timed again, unless it took WARM_ENOUGH_S or more: those costs are then a few percent of it."""
    import numpy as np

    x = np.random.default_rng(0).random(tuple(int(n) for n in shape), dtype=np.float32)
    t = time.perf_counter()
    model(x)
    best = time.perf_counter() - t
    if best >= WARM_ENOUGH_S:
        return best
    best = float("inf")
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        model(x)
        best = min(best, time.perf_counter() - t)
    return best


def measured_times(cands: Sequence[Candidate], times: dict[str, float], timer: Callable[[tuple], float],
                   device: str) -> dict[str, float]:
    """Seconds per block of the candidates worth timing, added to the known `times` (by input shape).

    Cubes, then the blocks that span the time axis, each series by increasing edge; a series stops
    once its predicted time has grown twice in a row. On a device where a larger block is never
    much faster per voxel (MAX_GAIN_PER_VOXEL), a candidate that could not beat the best prediction
    even at that gain over the fastest rate yet measured is not timed, and counts as grown. The passes
    repeat until one times nothing new (a faster rate found late can make a skipped one worth timing),
    so a run given these times back times nothing: the choice is then a function of the cache."""
    times = dict(times)
    while True:
        known = len(times)
        _timing_pass(cands, times, timer, MAX_GAIN_PER_VOXEL.get(device.split(":")[0]))
        if len(times) == known:
            return times


def _timing_pass(cands: Sequence[Candidate], times: dict[str, float], timer: Callable[[tuple], float],
                 gain: float | None) -> None:
    rate = min((t / _voxels(k) for k, t in times.items()), default=None)   # seconds per input voxel
    for kind in (False, True):
        rising, best = 0, None
        for c in (c for c in cands if c.column == kind):
            k = shape_key(c.input_shape)
            if k not in times:
                if gain and best is not None and rate is not None and \
                        c.blocks * c.input_voxels * rate / gain >= best:
                    rising += 1
                    if rising >= 2:
                        break
                    continue
                times[k] = round(timer(c.input_shape), 6)
                rate = min(rate or float("inf"), times[k] / c.input_voxels)
            predicted = c.blocks * times[k]
            rising = rising + 1 if best is not None and predicted > best else 0
            best = predicted if best is None else min(best, predicted)
            if rising >= 2:
                break


def _voxels(key: str) -> int:
    a, b, c = (int(n) for n in key.split("x"))
    return a * b * c


def timed(candidates: Sequence[Candidate], times: dict[str, float], memory_of: Callable[[tuple], int]) -> list[Candidate]:
    from dataclasses import replace

    return [replace(c, seconds_per_block=times.get(shape_key(c.input_shape)), memory_bytes=int(memory_of(c.input_shape)))
            for c in candidates]


def describe(c: Candidate, survey_voxels: int, chosen: bool) -> str:
    from hpcfault.fmt import duration
    from hpcfault.infer.report import gib

    speed = "-" if c.seconds_per_block is None else f"{survey_voxels / c.predicted_s / 1e6:7.2f} Mvox/s"
    from hpcfault.infer.plan import block_edges, block_text

    return (f"{'->' if chosen else '  '} block {block_text(block_edges(c.edge)):>11} (input {shape_key(c.input_shape)}), "
            f"overlap {c.overlap:>3}, "
            f"{c.blocks:>5} blocks, redundancy x{c.redundancy(survey_voxels):5.2f}, "
            f"{'-' if c.seconds_per_block is None else duration(c.seconds_per_block)} per block, "
            f"survey {speed}, memory ~{gib(c.memory_bytes)}")


def record(work: Path, chosen: Candidate, key: str) -> None:
    """Keep the choice in the work dir: a rerun plans the same blocks without measuring."""
    from hpcfault.io.atomic import write_text_atomic

    work.mkdir(parents=True, exist_ok=True)
    write_text_atomic(work / "autoblock.json", json.dumps({"key": key, "choice": asdict(chosen)}, indent=1))


def recorded(work: Path, key: str) -> int | tuple[int, int, int] | None:
    """The block (cube edge or column edges) a previous run of this work dir chose with the same
    model/device/threads; None if none, or not readable as one."""
    try:
        data = json.loads((work / "autoblock.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key") != key or not isinstance(data.get("choice"), dict):
        return None
    edge = data["choice"].get("edge")
    if isinstance(edge, int) and not isinstance(edge, bool):
        return edge
    if isinstance(edge, list) and len(edge) == 3 and all(isinstance(e, int) and not isinstance(e, bool) for e in edge):
        return tuple(edge)  # type: ignore[return-value]
    return None
