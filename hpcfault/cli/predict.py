"""Fault probabilities for a whole survey, block by block, on any number of MPI ranks.

    mpiexec -n 4 hpcfault predict survey.sgy -m faultnet-g07.pt -o faults.h5
    srun hpcfault predict survey.h5 -m model.pt -o faults.h5 --block 256 --dtype bf16
    hpcfault predict survey.h5 -o faults.h5 --dry-run          (print the plan only)

Stages: statistics (global min-max, reduced over ranks) -> plan (blocks with overlap) -> predict
(dynamic load balancing, per-rank HDF5 shards, a ledger) -> merge (taper-weighted blend) ->
OUT.h5 (+ --segy-out, --png, OUT.summary.json). Rerunning the same command after a crash or a
timeout recomputes only the blocks missing from the ledger in the work dir (OUT.h5.work). Once the
output is complete and reads back as merged, the work dir is removed (--keep-workdir keeps it).
Settings come from defaults < --config FILE < key=value overrides < the options below.
With --submit slurm|local the same command is submitted through submitit (one task per rank, MPI);
a requeued or resubmitted job resumes from the ledger.
"""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "fault probabilities for a whole survey (MPI blocks, resumable)"

# option dest -> PredictConfig field
CFG_OPTIONS = {"model": "model", "block": "block", "overlap": "overlap", "dtype": "dtype",
               "out_dtype": "out_dtype", "threads": "threads", "memory": "memory",
               "clip_percentile": "clip_percentile", "sections": "sections",
               "refine_iterations": "refine_iterations", "task": "task"}


def block_arg(text: str) -> int | tuple[int, int, int]:
    """--block 128 (a cube) or --block 256,128,128 (time, inline, xline)."""
    parts = [t for t in text.replace("x", ",").split(",") if t.strip()]
    try:
        edges = [int(t) for t in parts]
    except ValueError:
        edges = []
    if len(edges) not in (1, 3):
        raise argparse.ArgumentTypeError(f"a block is one edge or three (time,inline,xline) (got {text!r}); "
                                         "e.g. --block 128 or --block 256,128,128")
    return edges[0] if len(edges) == 1 else tuple(edges)  # type: ignore[return-value]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("survey", help="SEG-Y (.sgy/.segy) or volume file (.h5) or .npy, axes (time, inline, xline)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. merge_tile=64")
    p.add_argument("-o", "--output", required=True,
                   help="output volume file (.h5): one dataset per output of the model's task (the fault task: "
                        "'data' = probabilities)")
    p.add_argument("-m", "--model", help="project checkpoint; its task decides the outputs (default: the "
                                         "embedded Fault-Net model)")
    p.add_argument("--task", help="without -m: use this task's embedded default model (default: fault); the "
                                  "checkpoint names its task, so with -m it is only a check")
    p.add_argument("--axes-2d", dest="sections", type=lambda t: tuple(x for x in t.split(",") if x),
                   metavar="inline,xline", help="2D section models: apply along inlines and/or crosslines, "
                                                "averaged (default: the task's, e.g. both)")
    p.add_argument("--refine", action="append", metavar="CKPT", help="refinement model applied to the model's "
                   "outputs before they are written (repeatable, in order; e.g. a multitask-refine checkpoint)")
    p.add_argument("--refine-iterations", dest="refine_iterations", type=int,
                   help="how often each --refine model is applied (default 1)")
    p.add_argument("--config", help="YAML config of kind 'predict' (see configs/predict.yaml)")
    p.add_argument("--block", type=block_arg, metavar="EDGE|T,I,X",
                   help="block edge in voxels, multiple of 16, or time,inline,xline edges (e.g. 256,128,128: "
                        "columns of whole traces) (default: the fastest cube or column that fits, each candidate "
                        "timed once and cached; --dry-run lists them)")
    p.add_argument("--overlap", type=int, help="voxels shared by neighbouring blocks (default: the model's own, "
                                               "at most edge / 4; edge / 8 for models without one)")
    p.add_argument("--workdir", help="shards and ledger (default OUT.h5.work next to the output)")
    p.add_argument("--dtype", choices=("fp32", "tf32", "fp16", "bf16"),
                   help="compute precision (default fp32: float32 kernels, no TF32; tf32: TF32 tensor cores on "
                        "Ampere+ GPUs)")
    p.add_argument("--out-dtype", dest="out_dtype", choices=("float32", "float16"),
                   help="output sample type (default float32)")
    p.add_argument("--threads", type=int, help="CPU threads per rank (default cores / ranks on the node)")
    p.add_argument("--memory", help="memory per rank for the block planner, e.g. 16GiB (default: detected)")
    p.add_argument("--clip-percentile", dest="clip_percentile", type=float,
                   help="robust scaling: clip to [p, 100-p] percentiles; 0 = plain min-max (default: the "
                        "scaling recorded in the checkpoint, else plain min-max)")
    p.add_argument("--dry-run", action="store_true", help="print the plan (blocks, ranks, memory, time) and stop")
    p.add_argument("--restart", action="store_true", help="discard the work dir's ledger and start over")
    p.add_argument("--keep-workdir", action="store_true",
                   help="keep the work dir after success (default: removed once the output is complete and "
                        "verified; kept, a rerun only re-merges)")
    p.add_argument("--segy-out", help="also write the probabilities as SEG-Y (headers of the input SEG-Y)")
    p.add_argument("--png", metavar="DIR", help="also write three-view.png and the central inline, crossline and "
                                                "time slices with the overlay, named by their survey numbers "
                                                "(inline-1250.png, time-1200ms.png)")
    p.add_argument("--max-blocks", type=int, help="stop after N blocks per rank without merging "
                                                  "(time-sliced jobs; rerun to continue)")
    p.add_argument("--wait", action="store_true", help="if another run uses the work dir, wait for it to end "
                                                       "(default: refuse at once, naming it)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is none anyway when stderr is not a terminal)")
    from hpcfault.cli._sources import add_source_arguments

    add_source_arguments(p, dtype_alias=False)   # --dtype is the compute precision here
    from hpcfault.cluster.submit import add_submit_arguments

    add_submit_arguments(p)  # --submit slurm|local, --nodes, --tasks-per-node, ... (resubmits this command)
    # key=value overrides may come before or after the options
    p.parse_args = p.parse_intermixed_args  # type: ignore[method-assign]


def build_config(args: argparse.Namespace):
    from dataclasses import replace

    from hpcfault.config import apply_overrides, from_mapping, load_config
    from hpcfault.infer.config import PredictConfig

    if args.config:
        cfg = load_config(args.config, args.overrides, cls=None)
        if not isinstance(cfg, PredictConfig):
            from hpcfault.errors import HpcfaultError

            raise HpcfaultError(f"{args.config}: not a predict config (got {type(cfg).__name__}); "
                                "use a file with 'kind: predict'")
    else:
        cfg = from_mapping(PredictConfig, apply_overrides({}, args.overrides), "command line")
    explicit = {field: getattr(args, dest) for dest, field in CFG_OPTIONS.items() if getattr(args, dest) is not None}
    if args.no_progress:
        explicit["progress"] = False
    if args.refine:
        explicit["refine"] = tuple(args.refine)
    return replace(cfg, **explicit)


def build_job(args: argparse.Namespace):
    from hpcfault.cli._sources import source_options
    from hpcfault.infer.runner import PredictJob

    opts = source_options(args)
    iline, xline = opts.pop("iline"), opts.pop("xline")
    return PredictJob(survey=args.survey, out=args.output, cfg=build_config(args), workdir=args.workdir,
                      dry_run=args.dry_run, restart=args.restart, segy_out=args.segy_out, png=args.png,
                      max_blocks=args.max_blocks, iline=iline, xline=xline, source_opts=opts, wait=args.wait,
                      keep_workdir=args.keep_workdir)


def paths(args: argparse.Namespace) -> tuple[list, list]:
    from hpcfault.infer.runner import job_paths

    return job_paths(build_job(args))   # a bad config fails here, before anything is submitted


def run(args: argparse.Namespace) -> int:
    from hpcfault.infer.runner import run_predict

    job = build_job(args)
    if getattr(args, "submit", None):
        from hpcfault.cluster.submit import submit_from_args

        return submit_from_args(None, args, command="predict", mpi=True)
    summary = run_predict(job)
    if summary and not job.dry_run:
        if summary.get("partial"):
            print(f"{summary['done']} of {summary['blocks']} blocks done; rerun the same command to continue")
            return 3
        print(report_text(summary))
    return 0


def report_text(summary: dict) -> str:
    """What a finished run prints: the output, where the time went (and what each rate covers),
    every other file written, and what became of the work dir."""
    from hpcfault.fmt import duration, mvox, plural
    from hpcfault.infer.report import summary_path

    t = summary["times_s"]
    shape = " x ".join(map(str, summary["plan"]["shape"]))
    stages = t["statistics_s"] + t["predict_s"] + t["merge_s"] + t["outputs_s"]
    names = summary.get("outputs_written", ["data"])
    what = "fault probability" if names == ["data"] else f"{summary.get('task')} ({', '.join(names)})"
    plan = summary["plan"]
    views = [v["sections"] for v in plan.get("views", [plan]) if "sections" in v]
    if views:
        what += f" from {' and '.join(views)} sections" + (", averaged" if len(views) > 1 else "")
    lines = [
        f"wrote {summary['output']}: {what}, {shape} ({mvox(summary['voxels'])}), "
        f"{plural(summary['blocks'], 'block')} ({summary['blocks_computed']} computed, {summary['blocks_reused']} "
        f"from the ledger) on {plural(summary['ranks'], 'rank')}",
        f"  time {duration(t['total_s'])}: start-up {duration(t['total_s'] - stages)}, statistics "
        f"{duration(t['statistics_s'])}, blocks {duration(t['predict_s'])}, merge {duration(t['merge_s'])}, "
        f"other outputs {duration(t['outputs_s'])}",
        f"  rates: {summary['throughput_mvox_s']:.2f} Mvox/s of survey end to end; the blocks alone "
        f"{summary['predict_mvox_s']:.2f} Mvox/s of model input ({mvox(summary['model_input_voxels'])} "
        "with overlaps)" if summary["blocks_computed"] else
        f"  rate: {summary['throughput_mvox_s']:.2f} Mvox/s of survey (every block came from the ledger)",
        "  also wrote " + ", ".join([str(summary_path(Path(summary["output"])))] + summary["outputs"]),
    ]
    if summary["workdir_left"]:
        lines.append(f"  work dir {summary['workdir']}: predict's files removed, "
                     f"{plural(len(summary['workdir_left']), 'other file')} left in place")
    elif not summary["workdir_kept"]:
        lines.append(f"  work dir {summary['workdir']} removed: the output is complete and verified "
                     "(--keep-workdir keeps it)")
    else:
        lines.append(f"  work dir {summary['workdir']} kept: ledger and shards of every block (delete it when "
                     "done; a rerun of this command then recomputes every block)")
    return "\n".join(lines)
