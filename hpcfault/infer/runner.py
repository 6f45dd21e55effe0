"""The predict stages for one rank: statistics -> plan -> predict (dynamic) -> merge -> outputs.

Every rank runs `run_predict`; collective steps are marked. Rank 0 decides what must be shared
(plan, attempt, the blocks still to do) and broadcasts it, so all ranks act on the same values.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpcfault.errors import HpcfaultError
from hpcfault.infer import ledger as ledg
from hpcfault.infer.blocks import abort_on_error, predict_blocks
from hpcfault.infer.config import SECTION_BLOCK, PredictConfig, check_config, resolve_model
from hpcfault.infer.outputs import segy_paths, write_extras
from hpcfault.infer.plan import Tiling, block_edges, block_text, make_tiling, merge_tiles, share
from hpcfault.infer.report import peak_rss, plan_text, write_summary
from hpcfault.infer.sizing import (auto_block, cap_edge, check_task, largest_edge, memory_budget, memory_estimate,
                                   model_facts, refine_models, trained_clip)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictJob:
    survey: str
    out: str
    cfg: PredictConfig = field(default_factory=PredictConfig)
    workdir: str | None = None
    dry_run: bool = False
    restart: bool = False
    segy_out: str | None = None
    png: str | None = None
    max_blocks: int | None = None          # per rank and run; stop early without merging (resume later)
    iline: int = 189
    xline: int = 193
    keep_workdir: bool = False             # else the work dir goes once the output is complete and verified
    source_opts: dict = field(default_factory=dict)   # endian, axes, shape, dtype, dataset, min_live (open_source)
    wait: bool = False                     # wait for another run holding the work dir instead of refusing

    @property
    def work(self) -> Path:
        return Path(self.workdir) if self.workdir else Path(str(self.out) + ".work")


def check_job(job: PredictJob) -> None:
    if job.max_blocks is not None and job.max_blocks < 1:
        raise HpcfaultError(f"--max-blocks must be at least 1 (got {job.max_blocks}); leave it out to compute "
                            "every block")


def job_paths(job: PredictJob) -> tuple[list, list]:
    """The files and folders a predict run reads and writes, for hpcfault.io.paths.check_paths."""
    from hpcfault.infer.config import default_model
    from hpcfault.infer.report import summary_path
    from hpcfault.io.paths import arg

    cfg = job.cfg
    model = Path(cfg.model) if cfg.model else default_model(cfg.task)
    inputs = [arg("SURVEY", job.survey), arg("-m" if cfg.model else "the default model", model),
              *(arg("--refine", r) for r in refine_models(cfg))]
    segy = []
    if job.segy_out:
        names = model_facts(model)["task"].output_names if model.is_file() else ("data",)
        segy = [arg("--segy-out", p) for p in segy_paths(job.segy_out, names)]
    outputs = [arg("-o", job.out), arg("the summary file", summary_path(Path(job.out))), *segy,
               arg("--png", job.png, folder=True),
               arg("--workdir" if job.workdir else "the work dir", job.work, folder=True)]
    return inputs, outputs


def _fingerprint(job: PredictJob, checkpoint: Path, plan: Tiling, cfg: PredictConfig, task: Any) -> dict:
    from hpcfault.infer.shards import SHARD_FORMAT

    params = {**plan.params(), "task": task.name, "outputs": list(task.output_names), "shards": SHARD_FORMAT}
    if cfg.refine:
        params["refine"] = [ledg.sha256_file(r) for r in cfg.refine]
        params["refine_iterations"] = cfg.refine_iterations
    return ledg.fingerprint(checkpoint, job.survey, params, cfg.dtype,
                            {"clip_percentile": cfg.clip_percentile, "method": "survey min-max"},
                            source={"iline": job.iline, "xline": job.xline, **job.source_opts})


def _input_identity(fp: dict) -> dict:
    """What the statistics depend on: the input file and how it is read."""
    return {k: fp[k] for k in ("input", "input_size", "input_mtime_ns", "source")}


def work_lock(job: PredictJob) -> Any:
    from hpcfault.io.lock import DirLock

    return DirLock(job.work / "lock", "hpcfault predict",
                   "wait for it to end or pass --wait to wait for it, or give this run another --workdir")


def run_predict(job: PredictJob, comm: Any = None) -> dict | None:
    """Run every stage on this rank (collective). Returns the summary on rank 0, None elsewhere."""
    from hpcfault.cluster.mpi import get_comm, rank0_first
    from hpcfault.cluster.rankenv import read_rank_env
    from hpcfault.infer.forward import check_dtype, pick_device
    from hpcfault.io.paths import check_paths
    from hpcfault.io.sources import open_source

    from hpcfault.requirements import check_torch

    check_torch()
    t_start = time.perf_counter()
    env = read_rank_env()
    cfg = check_config(job.cfg)
    check_job(job)
    # the GPU first, then MPI: a CUDA-aware MPI (UCX) binds to the device current at MPI_Init
    device, threads = pick_device(env, cfg.threads)
    if device.startswith("cuda"):
        import torch

        torch.cuda.set_device(device)
    comm = get_comm() if comm is None else comm
    rank0_first(comm, lambda: check_paths(*job_paths(job)))
    checkpoint = resolve_model(cfg.model, cfg.task)
    check_task(checkpoint, cfg.task)
    from dataclasses import replace

    cfg = replace(cfg, refine=refine_models(cfg))   # a task's default refinement comes with its default model
    if cfg.clip_percentile is None:  # no explicit scaling: the one the model was trained with, if recorded
        from dataclasses import replace

        cfg = check_config(replace(cfg, clip_percentile=trained_clip(checkpoint)))
    check_dtype(device, cfg.dtype)
    if device == "cpu" and cfg.dtype == "fp16" and comm.rank == 0:
        log.warning("--dtype fp16 on a CPU runs float16 convolutions without hardware support (measured "
                    "about 100x slower than fp32 here); use --dtype fp32 on CPUs, fp16/bf16 on GPUs")
    gpus = None
    if device.startswith("cuda") and not cfg.memory:   # every rank's GPU: the budget is planned per GPU
        from hpcfault.infer.oom import gpu_record

        gpus = comm.allgather(gpu_record(device))
    with open_source(job.survey, iline=job.iline, xline=job.xline, **job.source_opts) as source:
        def plan_on_rank0() -> tuple[Tiling, dict]:
            facts = model_facts(checkpoint)
            edge = largest_edge(facts["name"], memory_budget(cfg, device, env.local_world_size, gpus), cfg.dtype, device)
            edge = cap_edge(edge, job.work, device)
            sections = (cfg.sections or facts["task"].sections) if facts["dims"] == 2 else ()
            align = facts["size_multiple"]
            cap = None       # outputs defined per training cube (Task.cube_blocks): blocks no larger than it
            if facts["task"].cube_blocks and facts["cube"]:
                cap = max(align, int(facts["cube"]) // align * align)
            if cfg.block is not None:
                block = tuple(max(align, min(e, cap or e) // align * align) for e in block_edges(cfg.block))
            elif facts["dims"] == 2:
                block = SECTION_BLOCK
            else:   # the fastest block that fits, measured (autoblock.py)
                facts["autoblock"] = auto_block(job, cfg, checkpoint, facts, source.shape, edge, device, threads, cap)
                block = facts["autoblock"]["edge"]
            return make_tiling(source.shape, block, cfg.overlap, max_edge=edge, align=align, sections=sections,
                               default_overlap=facts["overlap"]), facts
        plan, facts = rank0_first(comm, plan_on_rank0)
        if cfg.section_batch == 0:
            from dataclasses import replace

            cfg = replace(cfg, section_batch=8 if device.startswith("cuda") else 1)
        if job.dry_run:
            return _dry_run(job, cfg, plan, facts, checkpoint, device, threads, comm)
        lock = work_lock(job)
        rank0_first(comm, lambda: lock.acquire(wait=job.wait) and None)   # one run per work dir at a time
        try:
            while True:
                summary = _stages(job, cfg, plan, facts, checkpoint, source, device, threads, comm, t_start)
                if not (summary and "retry_edge" in summary):
                    break
                plan, facts = rank0_first(comm, plan_on_rank0)   # now capped by the recorded edge
        finally:
            lock.release()
    if summary is None or summary.get("partial"):
        return summary
    left = None if job.keep_workdir else ledg.remove(job.work)   # after the lock: nothing of ours is left
    summary.update(workdir_left=left or [])
    if left:
        log.warning("work dir %s still holds files predict did not write (%s ...); left in place", job.work, left[0])
    write_summary(Path(job.out), summary)
    return summary


def _stages(job: PredictJob, cfg: PredictConfig, plan: Tiling, facts: dict, checkpoint: Path, source: Any,
            device: str, threads: int, comm: Any, t_start: float) -> dict | None:
    """Statistics, predict, merge and outputs, with the work dir locked (collective); `t_start` is
    when the run began (the summary's end-to-end time)."""
    from hpcfault.cluster.mpi import rank0_first
    from hpcfault.infer.forward import BlockModel
    from hpcfault.infer.resume import blocks_after, reusable_blocks
    from hpcfault.infer.stats import load_or_compute

    times: dict[str, float] = {}
    task, model_name = facts["task"], facts["name"]
    Path(job.out).parent.mkdir(parents=True, exist_ok=True)

    def prepare() -> dict:
        if job.restart:
            ledg.clear(job.work)
        if facts.get("autoblock", {}).get("chosen") is not None:
            from hpcfault.infer.autoblock import record

            record(job.work, facts["autoblock"]["chosen"], facts["autoblock"]["key"])
        fp = _fingerprint(job, checkpoint, plan, cfg, task)
        ledg.check_fingerprint(job.work, fp, job.restart)
        return fp
    fp = rank0_first(comm, prepare)

    t = time.perf_counter()
    stats, normalizer = load_or_compute(job.work, source, comm, cfg.clip_percentile, _input_identity(fp))
    times["statistics_s"] = time.perf_counter() - t

    t = time.perf_counter()
    key = ledg.run_key(fp, normalizer.to_dict())
    with abort_on_error(comm):
        reused, todo = reusable_blocks(job.work, plan, key, comm)
    attempt = rank0_first(comm, lambda: ledg.next_attempt(job.work))
    model = BlockModel(str(checkpoint), device, cfg.dtype, threads, cfg.deterministic, cfg.refine,
                       cfg.refine_iterations, cfg.section_batch) if todo else None
    header = {"run": fp, "normalizer": normalizer.to_dict()}
    mine = predict_blocks(job, plan, todo, source, normalizer, model, attempt, comm, key, header) if todo else \
        {"blocks": 0, "busy_s": 0.0}
    times["predict_s"] = time.perf_counter() - t
    if mine.get("oom"):   # every rank: plan again with smaller blocks (recorded in the work dir)
        from hpcfault.infer.oom import record_smaller

        del model
        _empty_cuda_cache(device)
        edge = max(plan.views[0].input_shape)
        return {"retry_edge": rank0_first(comm, lambda: record_smaller(job.work, edge, facts["size_multiple"]))}

    done, missing = rank0_first(comm, lambda: blocks_after(job.work, plan, key, attempt, reused))
    if missing:
        if job.max_blocks is not None:
            if comm.rank == 0:
                log.info("%d of %d blocks done; rerun the same command to continue", len(done), len(plan))
            return {"partial": True, "done": len(done), "blocks": len(plan)} if comm.rank == 0 else None
        raise HpcfaultError(f"{len(missing)} blocks are missing after the predict stage (got e.g. block "
                            f"{plan.block_id(missing[0])}); rerun the same command to compute them")

    t = time.perf_counter()
    from hpcfault.infer.merge import assemble, merge_share

    tiles = merge_tiles(plan.shape, cfg.merge_tile)
    live = source.geometry.live
    with abort_on_error(comm):
        affine = align_outputs(plan, task, done, job.work, live, comm)
        merge_share(plan, tiles, share(len(tiles), comm.size, comm.rank), done, job.work, live, task, affine)
    per_rank = comm.gather({"rank": comm.rank, "device": device, "threads": threads, **mine,
                            "peak_rss_bytes": peak_rss()}, root=0)
    attrs = {"producer": "hpcfault predict", "model": str(checkpoint), "model_name": model_name,
             "stats": stats, "normalizer": normalizer.to_dict(), "plan": plan.params(),
             "dtype": cfg.dtype, "content": "; ".join(o.description for o in task.outputs)}
    if cfg.refine:
        attrs["refine"] = {"models": list(cfg.refine), "iterations": cfg.refine_iterations}
    if comm.rank == 0:
        with abort_on_error(comm):
            crcs = assemble(Path(job.out), plan.shape, tiles, job.work, source.geometry, cfg.out_dtype, attrs, task)
            _verify(Path(job.out), tiles, crcs, task.output_names)   # read back: exactly what was merged
    times["merge_s"] = time.perf_counter() - t
    t = time.perf_counter()
    written: list[str] = []
    if comm.rank == 0:
        with abort_on_error(comm):
            written = write_extras(job.out, job.survey, source, task, segy_out=job.segy_out, png=job.png,
                                   iline=job.iline, xline=job.xline)
    times["outputs_s"] = time.perf_counter() - t
    comm.barrier()   # every rank is done with the work dir
    if comm.rank != 0:
        return None
    total = time.perf_counter() - t_start
    per_rank[0]["peak_rss_bytes"] = peak_rss()   # rank 0 also assembled the output
    vox = plan.shape[0] * plan.shape[1] * plan.shape[2]
    summary = {
        "survey": str(job.survey), "output": str(job.out), "workdir": str(job.work),
        "workdir_kept": job.keep_workdir, "workdir_left": [], "outputs": written, "attempt": attempt,
        "ranks": comm.size, "blocks": len(plan), "blocks_computed": len(todo),
        "blocks_reused": len(reused), "plan": plan.params(), "dtype": cfg.dtype,
        "times_s": {k: round(v, 3) for k, v in times.items()} | {"total_s": round(total, 3)},
        "task": task.name, "outputs_written": list(task.output_names),
        "voxels": vox, "model_input_voxels": plan.input_voxels(todo),
        "throughput_mvox_s": round(vox / total / 1e6, 4),   # survey voxels over every stage
        "predict_mvox_s": round(plan.input_voxels(todo) / max(times["predict_s"], 1e-9) / 1e6, 4),
        "per_rank": per_rank, "config": asdict(cfg),
    }
    return summary


def _empty_cuda_cache(device: str) -> None:
    if device.startswith("cuda"):
        import gc

        import torch

        gc.collect()
        torch.cuda.empty_cache()


def _verify(out: Path, tiles: list, crcs: list[int], names: tuple[str, ...]) -> None:
    """The output must read back as merged; if not, it is removed (never passes as complete)."""
    from hpcfault.infer.merge import verify_output

    try:
        verify_output(out, tiles, crcs, names)
    except BaseException:
        out.unlink(missing_ok=True)
        raise


def align_outputs(plan: Tiling, task: Any, done: dict, work: Path, live: Any, comm: Any) -> dict | None:
    """Collective: per-block (scales, offsets) of every output merged with the affine rule, fitted
    so that overlapping blocks agree (align.py); the ranks share the overlap statistics, rank 0
    solves, every rank gets the result. None when no output needs it."""
    from hpcfault.infer.align import block_statistics, overlapping_pairs, solve
    from hpcfault.infer.shards import ShardReader

    names = [o.name for o in task.outputs if o.merge == "affine"]
    if not names:
        return None
    pairs = overlapping_pairs(plan)
    mine_pairs = [pairs[i] for i in share(len(pairs), comm.size, comm.rank)]
    mine_blocks = list(share(len(plan), comm.size, comm.rank))
    result = {}
    with ShardReader(work / "shards") as reader:
        for name in names:
            n = task.output_names.index(name)

            def read(k: int, roi: Any) -> np.ndarray:
                rel = roi.relative_to(plan.block(k).read).slices
                return reader.read(done[k].shard, plan.block_id(k), rel)[n]

            stats, ranges = block_statistics(plan, mine_pairs, mine_blocks, read, live)
            all_stats = comm.gather(stats, root=0)
            all_ranges = comm.gather(ranges, root=0)
            solved = None
            if comm.rank == 0:
                flat = [st for part in all_stats for st in part]
                rng = [r for part in all_ranges for r in part]
                solved = solve(len(plan), [(a, b, st) for (a, b), st in zip(pairs, flat)], rng)
            result[name] = comm.bcast(solved, root=0)
    return result


def _dry_run(job: PredictJob, cfg: PredictConfig, plan: Tiling, facts: dict, checkpoint: Path, device: str,
             threads: int, comm: Any) -> dict | None:
    if comm.rank != 0:
        return None
    todo = len(plan)
    if job.work.is_dir() and not job.restart:   # what a run would reuse (before the CRC checks it makes)
        from hpcfault.infer.resume import candidates
        from hpcfault.infer.stats import read_cached

        fp = _fingerprint(job, checkpoint, plan, cfg, facts["task"])
        cached = read_cached(job.work / "stats.json", _input_identity(fp), cfg.clip_percentile)
        if cached is not None:
            todo -= len(candidates(job.work, plan, ledg.run_key(fp, cached["normalizer"])))
    from hpcfault.infer.forward import BlockModel

    model = BlockModel(str(checkpoint), device, cfg.dtype, threads, cfg.deterministic, cfg.refine,
                       cfg.refine_iterations, cfg.section_batch)
    view = plan.views[0]
    task = facts["task"]
    mem = memory_estimate(facts["name"], view, cfg.dtype, cfg.merge_tile, len(task.outputs))   # runtime = RSS now
    # time estimate: a timed forward on a small box of the same kind, scaled by voxels (conservative)
    box = tuple(min(64, s) for s in view.input_shape)
    if view.section_axis:
        box = tuple(min(4, s) if a == view.section_axis else s for a, s in enumerate(box))
    x = np.random.default_rng(0).random(box, dtype=np.float32)
    model(x, None, view.section_axis)
    t = time.perf_counter()
    model(x, None, view.section_axis)
    seconds = (time.perf_counter() - t) * np.prod(view.input_shape) / np.prod(box)
    print(plan_text(view, comm.size, todo, mem, seconds, device, threads))
    auto = facts.get("autoblock")
    if auto:
        from hpcfault.infer.autoblock import cache_path, describe

        vox = plan.shape[0] * plan.shape[1] * plan.shape[2]
        if auto["candidates"]:
            print(f"block choice the fastest for this survey, timed with {threads} thread(s) on {device} "
                  f"(cached in {cache_path()}):")
            for c in auto["candidates"]:
                print("  " + describe(c, vox, c == auto["chosen"]))
            if auto.get("cube"):
                print(f"  (edges up to {auto['cube']}, the model's training cube: its task's outputs are defined per cube)")
        elif auto.get("cube"):
            print(f"block choice {auto['edge']}, the model's training cube (its task's outputs are defined per cube)")
        else:
            print(f"block choice {block_text(block_edges(auto['edge']))}, as this work dir's earlier run chose it")
    views = [{1: "inline", 2: "xline"}.get(v.section_axis, "3D") for v in plan.views]
    print(f"task         {task.name}: outputs {', '.join(task.output_names)}; model {facts['name']}"
          + (f", 2D sections along {' and '.join(views)} ({len(plan)} blocks in all, averaged)"
             if view.section_axis else ""))
    return {"dry_run": True, "blocks": len(plan), "todo": todo}
