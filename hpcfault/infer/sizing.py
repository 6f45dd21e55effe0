"""How big a block, for one checkpoint on one device: what planning knows of the model without its
weights, the memory budget and the largest block it allows, the caps (an out-of-memory record, cuDNN
indexing), and the timed choice among the candidates (autoblock.py) that predict makes without --block.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hpcfault.errors import HpcfaultError
from hpcfault.infer import ledger as ledg
from hpcfault.infer.config import PredictConfig
from hpcfault.infer.plan import Plan
from hpcfault.infer.report import peak_rss

log = logging.getLogger(__name__)


def refine_models(cfg: PredictConfig) -> tuple[str, ...]:
    """--refine, or with no -m the task's embedded refinement models (Task.default_refine)."""
    if cfg.refine or cfg.model is not None:
        return tuple(cfg.refine)
    from hpcfault.infer.config import ASSETS
    from hpcfault.tasks import task_spec

    return tuple(str(ASSETS / name) for name in task_spec(cfg.task).default_refine)


def check_task(checkpoint: Path, task: str | None) -> None:
    """--task with -m must name the checkpoint's own task."""
    if task is None:
        return
    from hpcfault.models import read_checkpoint

    own = read_checkpoint(checkpoint)["task"]
    if own != task:
        raise HpcfaultError(f"the model serves task {own!r} (got --task {task} with -m {checkpoint}); leave out "
                            "--task (predict takes the task from the checkpoint) or pass a model of that task")


def model_facts(checkpoint: Path) -> dict:
    """What planning needs to know of a checkpoint without loading its weights: registry name,
    task, dimensionality (3: volumes, 2: sections), size multiple, the catalog's default overlap and
    the edge of the cubes it was trained on (provenance `cube`; None if not recorded)."""
    from hpcfault.models import build_model, read_checkpoint
    from hpcfault.models.catalog import CATALOG
    from hpcfault.tasks import task_spec

    payload = read_checkpoint(checkpoint)
    model = build_model(payload["model"], **payload["config"])
    cube = payload["provenance"].get("cube")
    facts = CATALOG.get(str(payload["model"]))
    return {"name": str(payload["model"]), "task": task_spec(payload["task"]),
            "dims": int(getattr(model, "dims", 3)), "size_multiple": int(getattr(model, "size_multiple", 16)),
            "overlap": None if facts is None else facts.overlap, "cube": min(cube) if isinstance(cube, list) else cube}


def auto_block(job: Any, cfg: PredictConfig, checkpoint: Path, facts: dict, shape: tuple, max_edge: int | None,
               device: str, threads: int, cap: int | None = None) -> dict:
    """Rank 0: the candidate block with the smallest predicted compute time for this survey, from
    cached timings or timed here (one forward per candidate shape worth timing: autoblock.measured_times),
    none larger than `cap` (which is a candidate itself; no columns then); a work dir keeps its earlier
    choice. Returns
    {"edge", "key", "candidates" (Candidate list, timed), "chosen" (Candidate or None), "cube" (the cap)}."""
    from hpcfault.infer import autoblock as ab
    from hpcfault.infer.plan import auto_overlap

    key = ab.cache_key(ledg.sha256_file(checkpoint), device, cfg.dtype, threads)
    if not job.restart and (edge := ab.recorded(job.work, key)) is not None:
        return {"edge": edge, "key": key, "candidates": [], "chosen": None}
    align = facts["size_multiple"]

    def overlap_of(edge: int) -> int:
        return cfg.overlap if cfg.overlap is not None else auto_overlap(edge, facts["overlap"])

    edges = ab.EDGES
    if cap is not None:
        edges = tuple(e for e in edges if e < cap) + (cap,)
        max_edge = cap if max_edge is None else min(max_edge, cap)
    cands = ab.candidate_plans(shape, max_edge, align, overlap_of, edges, columns=cap is None)
    if not cands and cap is not None:      # a training cube below the smallest block the chooser times
        return {"edge": cap, "key": key, "candidates": [], "chosen": None, "cube": cap}
    path = ab.cache_path()
    cache = ab.load_cache(path)
    times = ab.cached_times(cache, key)
    model = None

    def timer(shape_in: tuple) -> float:
        nonlocal model
        if model is None:
            from hpcfault.infer.forward import BlockModel

            model = BlockModel(str(checkpoint), device, cfg.dtype, threads, cfg.deterministic)
        return ab.measure(model, shape_in)

    times = ab.measured_times(cands, times, timer, device)
    if model is not None:
        cache[key] = times
        ab.save_cache(path, cache)

    def memory_of(shape_in: tuple) -> int:
        from hpcfault.models.memory import has_formula, peak_bytes

        vox = shape_in[0] * shape_in[1] * shape_in[2]
        return (int(peak_bytes(facts["name"], shape_in, cfg.dtype)) if has_formula(facts["name"]) else 0) + 24 * vox

    cands = ab.timed(cands, times, memory_of)
    chosen = ab.choose(cands)
    return {"edge": chosen.edge, "key": key, "candidates": cands, "chosen": chosen, "cube": cap}


def trained_clip(checkpoint: Path) -> float | None:
    """The input scaling a checkpoint was trained with (provenance `input_clip_percentile`), if recorded."""
    from hpcfault.models import read_checkpoint

    value = read_checkpoint(checkpoint)["provenance"].get("input_clip_percentile")
    return None if value is None else float(value)


def memory_budget(cfg: PredictConfig, device: str, local_ranks: int, gpus: list | None = None) -> int | None:
    if cfg.memory:
        from hpcfault.models.memory import parse_bytes

        return parse_bytes(cfg.memory)
    if device.startswith("cuda"):
        from hpcfault.infer.oom import shared_budget

        return shared_budget(gpus)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024 * 6 // 10 // max(1, local_ranks)
    except OSError:
        pass
    return None


def largest_edge(model: str, budget: int | None, dtype: str, device: str) -> int | None:
    """Largest block edge whose forward fits in `budget` next to what this process already holds
    (on CPU: the current RSS - interpreter, torch, weights - plus 24 B per voxel of block buffers:
    the input being computed, the next one read ahead, the prediction)."""
    if budget is None:
        return None
    from hpcfault.models.memory import has_formula, largest_block

    if not has_formula(model):
        log.info("the memory planner has no formula for model %s: block edge as asked", model)
        return None
    from hpcfault.infer.oom import planning_dtype
    from hpcfault.models.memory import cuda_extra_bytes_per_voxel

    reserve = peak_rss() if device == "cpu" else 0
    planned = planning_dtype(dtype, device)
    edge = largest_block(model, budget, planned, reserve_bytes=reserve,
                         extra_per_voxel=24 if device == "cpu" else cuda_extra_bytes_per_voxel(planned))
    if edge < 16:
        log.warning("the memory planner finds no block fitting in %.2f GiB; using 16^3 blocks", budget / 2**30)
    return max(edge, 16)


def cap_edge(edge: int | None, work: Path, device: str) -> int | None:
    """The planner's edge, capped by an out-of-memory record in the work dir and, on CUDA, by cuDNN's
    32-bit indexing (hpcfault.infer.oom)."""
    from hpcfault.infer.oom import CUDA_MAX_EDGE, read_limit

    caps = [c for c in (edge, read_limit(work), CUDA_MAX_EDGE if device.startswith("cuda") else None) if c]
    return min(caps) if caps else None


def memory_estimate(model: str, plan: Plan, dtype: str, merge_tile: int, outputs: int = 1) -> dict[str, int]:
    from hpcfault.models.memory import has_formula, peak_bytes

    vox = plan.input_shape[0] * plan.input_shape[1] * plan.input_shape[2]
    forward = int(peak_bytes(model, plan.input_shape, dtype)) if has_formula(model) else 0
    return {"runtime": peak_rss(), "model": forward, "buffers": (16 + 8 * outputs) * vox,
            "merge": (4 + 8 * outputs) * 8 * merge_tile ** 3}
