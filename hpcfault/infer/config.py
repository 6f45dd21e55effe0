"""Configuration of `hpcfault predict` (YAML `kind: predict`, see configs/predict.yaml)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hpcfault.errors import HpcfaultError
from hpcfault.infer.plan import block_edges, block_text

# The embedded default models (one per task that has one, Task.default_model); `-m` overrides them.
ASSETS = Path(__file__).resolve().parents[1] / "assets"
DEFAULT_MODEL = str(ASSETS / "faultnet-default.pt")

DEFAULT_BLOCK = 528          # paper anchor: 528^3 fp32 fits in 16 GB with Fault-Net (the largest candidate)
SECTION_BLOCK = 256          # 2D section models without --block: 256 sections x 256^2 pixel windows
OVERLAP_DIVISOR = 8          # default overlap = block edge / 8 (see tools/bench_seams.py and the README)
SIZE_MULTIPLE = 16           # Fault-Net downsamples 16x: block edges and the tiling grid use it


@dataclass(frozen=True)
class PredictConfig:
    """Every knob of the predict stages. CLI options override the file's values."""

    model: str | None = None                 # checkpoint path; None = the task's embedded default model
    task: str | None = None                  # with no model: whose default model (None = fault); with one: a check
    block: int | tuple[int, int, int] | None = None   # block edge (multiple of 16), or (time, inline, xline)
                                             # edges; None = the fastest measured candidate that fits in memory,
                                             # cubes and columns of whole traces (hpcfault/infer/autoblock.py)
    overlap: int | None = None               # voxels shared by neighbours (>=, stride on the 16-grid); None = edge/8
    dtype: Literal["fp32", "tf32", "fp16", "bf16"] = "fp32"   # tf32: float32 with TF32 tensor cores (GPU)
    out_dtype: Literal["float16", "float32"] = "float32"
    threads: int = 0                         # CPU threads per rank; 0 = cores / ranks on the node
    memory: str | None = None                # memory per rank for the planner, e.g. "16GiB"; None = detect
    clip_percentile: float | None = None     # robust min-max: clip to [p, 100-p] percentiles; None = min-max
    merge_tile: int = 128                    # edge of the output tiles the merge blends at once
    deterministic: bool = True               # torch.use_deterministic_algorithms for rank-independent blocks
    progress: bool = True
    sections: tuple[str, ...] | None = None  # 2D section models: inline and/or xline (averaged); None = the task's
    section_batch: int = 0                   # sections per forward of a 2D model; 0 = 1 on CPU, 8 on a GPU
    refine: tuple[str, ...] = ()             # refinement checkpoints applied to the model's channels, in order
    refine_iterations: int = 1               # how often each refinement model is applied


def check_config(cfg: PredictConfig) -> PredictConfig:
    """Raise a one-line error for values no plan can use."""
    edges = None if cfg.block is None else block_edges(cfg.block)
    if edges is not None and any(e < SIZE_MULTIPLE or e % SIZE_MULTIPLE for e in edges):
        raise HpcfaultError(f"block edge must be a positive multiple of {SIZE_MULTIPLE} (got {block_text(edges)}); "
                            f"e.g. --block 256 or --block 256,128,128 (time, inline, xline)")
    if cfg.overlap is not None and edges is not None and (cfg.overlap < 0 or 2 * cfg.overlap >= min(edges)):
        raise HpcfaultError(f"overlap must be >= 0 and less than half the smallest block edge (got overlap "
                            f"{cfg.overlap} with block {block_text(edges)}); e.g. --overlap {min(edges) // 4}")
    if cfg.overlap is not None and cfg.overlap < 0:
        raise HpcfaultError(f"overlap must be >= 0 (got {cfg.overlap}); leave it out for the model's own")
    if cfg.threads < 0:
        raise HpcfaultError(f"threads must be >= 0 (got {cfg.threads}); 0 picks cores / ranks on the node")
    if cfg.merge_tile < 16:
        raise HpcfaultError(f"merge_tile must be >= 16 (got {cfg.merge_tile})")
    if cfg.sections is not None and (not cfg.sections or any(s not in ("inline", "xline") for s in cfg.sections)
                                     or len(set(cfg.sections)) != len(cfg.sections)):
        raise HpcfaultError(f"--axes-2d takes inline and/or xline, each once (got {','.join(cfg.sections)}); "
                            "e.g. --axes-2d inline,xline")
    if cfg.task is not None:
        from hpcfault.tasks import task_spec

        task_spec(cfg.task)
    if cfg.section_batch < 0 or cfg.refine_iterations < 1:
        raise HpcfaultError(f"section_batch must be >= 0 and --refine-iterations >= 1 (got {cfg.section_batch}, "
                            f"{cfg.refine_iterations}); e.g. --refine-iterations 3")
    for r in cfg.refine:
        if not Path(r).is_file():
            raise HpcfaultError(f"refinement checkpoint not found (got {r!r}); check the --refine path")
    if cfg.clip_percentile is not None and not 0 <= cfg.clip_percentile < 50:
        raise HpcfaultError(f"clip_percentile must be in [0, 50) (got {cfg.clip_percentile}); e.g. 0.5")
    return cfg


def default_model(task: str | None = None) -> Path:
    """The embedded default checkpoint of `task` (None: the fault task's)."""
    from hpcfault.tasks import TASKS, task_spec

    spec = task_spec(task)
    if not spec.default_model:
        with_default = [t.name for t in TASKS.values() if t.default_model]
        raise HpcfaultError(f"task {spec.name!r} has no embedded default model (got --task {spec.name} without -m); "
                            f"pass -m CHECKPOINT (tasks with one: {', '.join(with_default)})")
    return ASSETS / spec.default_model


def resolve_model(path: str | None, task: str | None = None) -> Path:
    """The checkpoint to use: `path`, or the task's embedded default, with a clear error when missing."""
    if path is None:
        p = default_model(task)
        if not p.is_file():
            raise HpcfaultError(
                f"no model given and the embedded default model is missing (got {str(p)!r}); pass -m "
                "CHECKPOINT, e.g. from 'hpcfault import-weights FaultNet_Gamma0.7.pt -o faultnet-g07.pt'")
        return p
    p = Path(path)
    if not p.is_file():
        raise HpcfaultError(f"model checkpoint not found (got {str(p)!r}); check the -m path")
    return p
