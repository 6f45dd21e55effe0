"""The training recipe as a frozen dataclass (`kind: train` in a YAML file).

Every knob of `hpcfault train` lives here; `configs/train-*.yaml` are examples. Defaults follow the
paper (Dou et al. 2021): Fault-Net, MD loss with gamma 0.7, Adam with lr 1e-3, a global batch of 8
cubes of 128^3.

`batch` is the GLOBAL batch: each of the W processes draws batch / W cubes per step (an error when
it does not divide), so a run gives the same result whatever the number of processes (see
hpcfault/train/trainer.py for how cubes and BatchNorm statistics are arranged for that).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hpcfault.data.augment2d import Augment2DConfig
from hpcfault.errors import HpcfaultError


@dataclass(frozen=True)
class ModelConfig:
    name: str = "faultnet"                      # faultnet | faultnet-nomcf | unet3d
    options: dict[str, Any] = field(default_factory=dict)   # passed to build_model(name, **options)


@dataclass(frozen=True)
class LossConfig:
    name: Literal["md", "bce", "dice", "lovasz"] = "md"
    gamma: float = 0.7                          # md only
    balanced: bool = True                       # bce only (lambda-BCE)
    # md and dice: + bce_weight x plain (unbalanced) masked BCE. A Dice-type loss is constant on a
    # cube without labelled faults, so fault-free cubes teach "no fault" only through this term.
    bce_weight: float = 0.0
    pos_weight: float = 1.0                     # that BCE's weight of fault voxels (background: 1)

    def options(self) -> dict[str, Any]:
        extra = {"bce_weight": self.bce_weight, "pos_weight": self.pos_weight} if self.bce_weight else {}
        return {"md": {"gamma": self.gamma, **extra}, "bce": {"balanced": self.balanced}, "dice": extra,
                "lovasz": {}}[self.name]


@dataclass(frozen=True)
class PhaseConfig:
    """One phase of a loss schedule: `steps` optimizer steps with `loss` (the last phase goes on to
    the end of the run), e.g. the seed's BCE for 20 epochs, then Dice for 20."""

    steps: int = 1
    loss: LossConfig = field(default_factory=LossConfig)


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 1e-3                            # Adam
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    clip_grad_norm: float = 1.0                 # max global L2 norm of the gradient; 0 = no clipping
    schedule: Literal["constant", "cosine", "plateau"] = "constant"   # cosine: lr falls to lr_final at `steps`
    lr_final: float = 0.0                       # plateau: the rate never falls below this
    warmup: int = 0                             # steps of linear warm-up from lr / 10
    plateau_window: int = 100                   # plateau: steps whose mean training loss is compared
    plateau_patience: int = 3                   # plateau: windows without improvement before the rate falls
    plateau_factor: float = 0.5                 # plateau: the rate is multiplied by this (train/schedule.py)


@dataclass(frozen=True)
class SourceConfig:
    """One source of training cubes (see hpcfault/train/stream.py):

    synthetic         a fresh synthetic survey per cube (seeded, unlimited), dense labels;
    synthetic-survey  `count` synthetic surveys of `shape` (seeds seed, seed+1, ...) made once in
                      RUN_DIR/data/, labelled on every `label_every`-th `label_axis` slice only,
                      with a fraction `drop_faults` of the faults removed there (false negatives);
    volume            a volume file `path` with datasets data, labels and mask (2D models: data and
                      the task's labels, mask optional);
    tgs               (2D models) the tiles of a TGS-layout folder `path`, its `split`.
    """

    kind: Literal["synthetic", "synthetic-survey", "volume", "tgs"] = "synthetic"
    weight: float = 1.0                         # relative share of the cubes (paper Table II)
    path: str = ""                              # volume: the file; tgs: the folder
    family: str = "train"                       # synthetic*: generator family (hpcfault.data.synth_config.FAMILIES)
    synth: dict[str, Any] = field(default_factory=dict)   # synthetic*: generator ranges over the family's, e.g. {faults: {count: [0, 4]}}
    shape: tuple[int, int, int] | None = None   # synthetic: survey size (None = the cube); synthetic-survey: required
    seed: int = 0                               # synthetic*: first seed
    count: int = 1                              # synthetic-survey: how many surveys
    label_every: int = 30                       # synthetic-survey: keep labels on every k-th slice (1 = all)
    label_axis: Literal["time", "inline", "xline"] = "inline"
    drop_faults: float = 0.0                    # synthetic-survey: fraction of faults dropped from the labels
    split: Literal["train", "val", "test", "all"] = "train"   # tgs: which part (the seed's 3420/380/200 split)


@dataclass(frozen=True)
class DataConfig:
    sources: tuple[SourceConfig, ...] = field(default_factory=lambda: (SourceConfig(),))
    cube: int | tuple[int, int, int] = 128      # cube edge, or (time, inline, xline) sizes; multiples of 16
    min_fault_voxels: int = 128                 # labelled fault voxels a cube must hold (paper: 128)
    augment: bool = True
    # 2D section models: tiles (time, lateral) cut from sections, TGS tiles fitted to them
    tile: tuple[int, int] = (128, 128)
    fit: Literal["pad", "resize"] = "pad"       # TGS tiles of another size: reflect-pad (loss on the tile) or resize
    augment2d: Augment2DConfig = field(default_factory=Augment2DConfig)
    mirror_prob: float = 0.0                    # share of cubes cut smaller and reflect-padded back (small surveys)
    gain_prob: float = 0.0                      # share of cubes given a survey's amplitude decay: weak/strong, ramped in time
    workers: int = -1                           # processes drawing cubes ahead; -1 = auto (GPU: cores - 1, CPU: 0)

    @property
    def cube_shape(self) -> tuple[int, int, int]:
        return (self.cube,) * 3 if isinstance(self.cube, int) else tuple(self.cube)   # type: ignore[return-value]


@dataclass(frozen=True)
class ValidationConfig:
    every: int = 500                            # steps between validations; 0 = never
    volumes: tuple[str, ...] = ()               # held-out volume files with data and labels (mask optional)
    synthetic_seeds: tuple[int, ...] = ()       # held-out synthetic surveys, generated once
    synthetic_shape: tuple[int, int, int] = (128, 128, 128)
    synthetic_family: str = "train"             # generator family of the synthetic held-out surveys
    threshold: float = 0.5
    search_threshold: bool = True               # 2D models: record the best threshold on validation (else `threshold`)
    radius: int = 2                             # Tol-IoU matching radius in voxels
    block: int = 0                              # prediction block edge; 0 = the whole volume
    # 2D section models: every k-th section of each held-out volume along the task's directions,
    # scored as pixels and, for the TGS metric, as `tile`-pixel tiles; `tgs`: a folder's val split
    section_every: int = 4
    tile: int = 101
    tgs: str = ""


@dataclass(frozen=True)
class TrainConfig:
    run_dir: str = ""                           # where checkpoints and metrics go (or --run-dir)
    task: str = "fault"                         # hpcfault/tasks: outputs, labels, per-output losses
    seed: int = 0
    steps: int = 10000                          # optimizer steps in total (may grow on resume)
    stop_at: int = 0                            # > 0: stop at this step (the schedule still spans `steps`)
    batch: int = 8                              # GLOBAL batch, split evenly over processes
    micro_batch: int = 0                        # cubes per forward pass; 0 = the per-process batch
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)   # the loss of the task's first target
    phases: tuple[PhaseConfig, ...] = ()        # a loss schedule instead of `loss` (e.g. BCE, then Dice)
    target_weights: dict[str, float] = field(default_factory=dict)   # by output name, replacing the task's (e.g. {fault: 10})
    target_losses: dict[str, str] = field(default_factory=dict)      # by output name, replacing the task's (not the first)
    init: str = ""                              # initial weights: any state dict that fits by name (--init)
    refine_from: str = ""                       # refinement tasks: the upstream checkpoint whose outputs are the inputs
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # auto: bf16 on a GPU that has it, else off. YAML reads a bare `off` as false: accepted as "off".
    amp: Literal["auto", "bf16", "fp16", "tf32", "off"] | bool = "auto"   # tf32: float32 on TF32 tensor cores
    sync_batchnorm: bool = True                 # on GPU: BatchNorm statistics over the global batch
    freeze_redundant: bool = True               # freeze parameters whose exact gradient is 0 (see redundant.py)
    train_only: list[str] = field(default_factory=list)   # train these modules only (e.g. [rgt]); [] = all
    threads: int = 0                            # torch CPU threads per process; 0 = leave as is
    log_every: int = 10
    checkpoint_every: int = 200                 # steps between checkpoints (and on stop signals)
    deterministic: bool = False                 # torch.use_deterministic_algorithms (GPU: slower)

    def __post_init__(self) -> None:
        if isinstance(self.amp, bool):
            object.__setattr__(self, "amp", "auto" if self.amp else "off")
        check(self)


# Keys that may change when a run is resumed: they do not alter the trajectory already recorded.
RESUMABLE_KEYS = ("run_dir", "steps", "stop_at", "log_every", "checkpoint_every", "threads",
                  "validation.every", "validation.block", "data.workers")


def check(cfg: TrainConfig) -> None:
    def need(ok: bool, what: str, got: Any, fix: str) -> None:
        if not ok:
            raise HpcfaultError(f"train config: {what} (got {got!r}); {fix}")

    from hpcfault.models.catalog import model_dims
    from hpcfault.tasks import task_spec

    task = task_spec(cfg.task)
    dims = model_dims(cfg.model.name)
    targets = [t.output for t in task.targets]
    for name, w in cfg.target_weights.items():
        need(name in targets, f"target_weights names an output task {cfg.task!r} does not train", name,
             f"use one of {targets}")
        need(w >= 0, f"target_weights.{name} must be >= 0", w, "e.g. 10.0 (0 drops that target's loss)")
    from hpcfault.tasks.spec import VALUE_LOSSES

    for name, loss_name in cfg.target_losses.items():
        need(name in targets[1:], f"target_losses names an output task {cfg.task!r} does not train with its own loss",
             name, f"use one of {targets[1:]} (the first target's loss is the config's loss)")
        need(loss_name in VALUE_LOSSES, f"target_losses.{name} must be a value loss", loss_name,
             f"use one of {', '.join(VALUE_LOSSES)}")

    if cfg.refine_from:
        need(bool(task.model_transform), f"refine_from is for tasks that refine another model's outputs, not task "
             f"{cfg.task!r}", cfg.refine_from, "remove refine_from, or use task: multitask-refine")
        need(Path(cfg.refine_from).is_file(), "refine_from must be a checkpoint file", cfg.refine_from,
             "give the upstream model's .pt, e.g. hpcfault/assets/multitask-default.pt")

    need(all(isinstance(n, str) and n.strip() for n in cfg.train_only), "train_only lists module names",
         cfg.train_only, "e.g. train_only: [rgt] (the multitask RGT decoder); leave it out to train everything")
    need(cfg.steps >= 1, "steps must be at least 1", cfg.steps, "e.g. steps=1000")
    need(0 <= cfg.stop_at <= cfg.steps, "stop_at must lie in [0, steps]", cfg.stop_at, "0 = run all the steps")
    need(cfg.batch >= 1, "batch must be at least 1", cfg.batch, "the paper uses batch=8")
    need(cfg.micro_batch >= 0, "micro_batch must be 0 (whole batch) or more", cfg.micro_batch, "e.g. micro_batch=1")
    need(all(c >= 16 and c % 16 == 0 for c in cfg.data.cube_shape), "data.cube must be a positive multiple of 16 "
         "(or three)", cfg.data.cube, "e.g. data.cube=128 or data.cube=[352,128,128]")
    need(cfg.data.workers >= -1, "data.workers must be -1 (auto), 0 (none) or more", cfg.data.workers,
         "e.g. data.workers=4")
    need(0.0 <= cfg.data.mirror_prob <= 1.0, "data.mirror_prob must lie in [0, 1]", cfg.data.mirror_prob,
         "e.g. 0.15")
    need(0.0 <= cfg.data.gain_prob <= 1.0, "data.gain_prob must lie in [0, 1]", cfg.data.gain_prob,
         "e.g. 0.3")
    need(cfg.data.min_fault_voxels >= 0, "data.min_fault_voxels must be >= 0", cfg.data.min_fault_voxels,
         "the paper uses 128")
    need(len(cfg.data.sources) > 0, "data.sources is empty", cfg.data.sources, "list at least one source")
    for k, s in enumerate(cfg.data.sources):
        need(s.weight > 0, f"data.sources[{k}].weight must be > 0", s.weight, "e.g. weight: 1.0")
        need(s.kind != "volume" or bool(s.path), f"data.sources[{k}] of kind volume needs a path", s.path,
             "set path: to a volume file with data, labels and mask")
        need(s.label_every >= 1, f"data.sources[{k}].label_every must be >= 1", s.label_every, "e.g. 30; 1 = all")
        need(0.0 <= s.drop_faults < 1.0, f"data.sources[{k}].drop_faults must be in [0, 1)", s.drop_faults,
             "e.g. 0.3 drops 30 % of the faults from the labelled slices")
        if s.kind == "synthetic-survey":
            need(s.shape is not None and s.count >= 1, f"data.sources[{k}] of kind synthetic-survey needs a "
                 "shape and count >= 1", (s.shape, s.count), "e.g. shape: [128, 128, 128], count: 4")
        if s.kind in ("synthetic", "synthetic-survey"):
            from hpcfault.data.synth_config import synth_config

            synth_config(s.family, mapping=s.synth, source=f"train config data.sources[{k}]")
        if s.kind in ("synthetic", "synthetic-survey") and s.shape is not None and dims == 3:
            need(all(a >= c for a, c in zip(s.shape, cfg.data.cube_shape)), f"data.sources[{k}].shape is smaller than the cube "
                 f"({cfg.data.cube})", s.shape, "use a larger shape or a smaller data.cube")
    for k, s in enumerate(cfg.data.sources):
        need(s.kind != "tgs" or bool(s.path), f"data.sources[{k}] of kind tgs needs a path", s.path,
             "set path: to a TGS-layout folder (train/images, train/masks or train.csv)")
        need(dims == 2 or s.kind != "tgs", f"data.sources[{k}]: TGS tiles train 2D section models only", cfg.model.name,
             "use model unet-resnet18, unet-resnet34 or unet2d")
        need(dims == 3 or s.kind != "synthetic-survey" or (s.label_every == 1 and s.drop_faults == 0),
             f"data.sources[{k}]: a 2D model's synthetic surveys are labelled densely",
             (s.label_every, s.drop_faults), "set label_every: 1 and drop_faults: 0 on that source")
    need(len(cfg.data.tile) == 2 and min(cfg.data.tile) >= 1, "data.tile must be two positive sizes", cfg.data.tile,
         "e.g. data.tile=[128, 128]")
    if cfg.model.name.startswith("unet-resnet") and min(cfg.micro_batch or cfg.batch, cfg.batch) == 1:
        cells = -(-cfg.data.tile[0] // 32) * -(-cfg.data.tile[1] // 32)
        need(cells >= 2, "tiles this small leave one value per channel at the ResNet's 1/32 resolution, which "
             "BatchNorm cannot train on one tile at a time", cfg.data.tile, "use data.tile of at least [64, 32]")
    need(dims == 2 or not cfg.validation.tgs, "validation.tgs validates 2D section models only", cfg.model.name,
         "leave validation.tgs empty")
    need(cfg.validation.section_every >= 1 and cfg.validation.tile >= 1, "validation.section_every and "
         "validation.tile must be >= 1", (cfg.validation.section_every, cfg.validation.tile), "e.g. 4 and 101")
    for k, ph in enumerate(cfg.phases):
        need(ph.steps >= 1, f"phases[{k}].steps must be >= 1", ph.steps, "e.g. steps: 2140 (20 epochs of 3420 tiles)")
        need(ph.loss.bce_weight >= 0 and (ph.loss.bce_weight == 0 or ph.loss.name in ("md", "dice")),
             f"phases[{k}].loss.bce_weight must be >= 0 and is for md or dice", (ph.loss.name, ph.loss.bce_weight),
             "e.g. loss: {name: dice, bce_weight: 1.0}")
    need(cfg.optim.lr > 0, "optim.lr must be > 0", cfg.optim.lr, "the paper uses 1e-3")
    need(0 <= cfg.optim.lr_final <= cfg.optim.lr and cfg.optim.warmup >= 0, "optim.lr_final must lie in [0, lr] "
         "and optim.warmup be >= 0", (cfg.optim.lr_final, cfg.optim.warmup), "e.g. lr_final: 1.0e-5, warmup: 50")
    need(cfg.loss.bce_weight >= 0 and (cfg.loss.bce_weight == 0 or cfg.loss.name != "bce"),
         "loss.bce_weight must be >= 0 and is for md or dice", (cfg.loss.name, cfg.loss.bce_weight),
         "e.g. loss: {name: md, gamma: 0.7, bce_weight: 1.0}")
    need(cfg.optim.clip_grad_norm >= 0, "optim.clip_grad_norm must be >= 0", cfg.optim.clip_grad_norm,
         "0 turns clipping off")
    o = cfg.optim
    need(o.plateau_window >= 1 and o.plateau_patience >= 0 and 0 < o.plateau_factor < 1,
         "optim.plateau_window must be >= 1, plateau_patience >= 0 and plateau_factor in (0, 1)",
         (o.plateau_window, o.plateau_patience, o.plateau_factor), "e.g. plateau_window: 100, plateau_factor: 0.5")
    need(cfg.validation.every >= 0, "validation.every must be >= 0", cfg.validation.every, "0 = never")
    need(cfg.validation.block == 0 or cfg.validation.block % 16 == 0, "validation.block must be 0 or a "
         "multiple of 16", cfg.validation.block, "e.g. validation.block=128")
    need(cfg.threads >= 0, "threads must be >= 0", cfg.threads, "0 leaves torch's default, e.g. threads=2")
    need(cfg.log_every >= 1 and cfg.checkpoint_every >= 1, "log_every and checkpoint_every must be >= 1",
         (cfg.log_every, cfg.checkpoint_every), "e.g. log_every=10 checkpoint_every=200")


def per_rank_batch(cfg: TrainConfig, world_size: int) -> int:
    """Cubes each process draws per step; the global batch must split evenly."""
    if cfg.batch % world_size:
        raise HpcfaultError(
            f"the global batch must be divisible by the number of processes (got batch={cfg.batch} "
            f"for {world_size} processes); set batch to a multiple of {world_size}")
    local = cfg.batch // world_size
    micro = cfg.micro_batch or local
    if local % micro:
        raise HpcfaultError(
            f"micro_batch must divide the per-process batch (got micro_batch={cfg.micro_batch}, "
            f"per-process batch {local}); use a divisor of {local} or 0")
    return local


def with_defaults(stored: dict) -> dict:
    """A stored config mapping with the keys added since it was written filled with their
    defaults (so a run started before them resumes); the mapping as is if it no longer loads."""
    from hpcfault.config import from_mapping, to_mapping

    try:
        return to_mapping(from_mapping(TrainConfig, stored, "stored config"))
    except HpcfaultError:
        return stored


def loss_at(cfg: TrainConfig, step: int) -> tuple[int, LossConfig]:
    """(phase index, loss) of optimizer step `step` (0-based); without phases (-1, cfg.loss)."""
    if not cfg.phases:
        return -1, cfg.loss
    end = 0
    for k, ph in enumerate(cfg.phases):
        end += ph.steps
        if step < end:
            return k, ph.loss
    return len(cfg.phases) - 1, cfg.phases[-1].loss


def config_differences(old: dict, new: dict, prefix: str = "", defaults: dict | None = None) -> list[str]:
    """Dotted keys whose values differ between two config mappings (RESUMABLE_KEYS excluded). With
    `defaults` (the mapping of TrainConfig()), a key that `old` lacks and `new` holds at its default
    is no difference: a run stored before that option existed resumes."""
    diffs = []
    for key in sorted(set(old) | set(new)):
        dotted = prefix + key
        a, b = old.get(key), new.get(key)
        if defaults is not None and key not in old and key in defaults and b == defaults[key]:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            sub = defaults.get(key) if isinstance(defaults, dict) and isinstance(defaults.get(key), dict) else None
            diffs += config_differences(a, b, dotted + ".", sub)
        elif a != b and dotted not in RESUMABLE_KEYS:
            diffs.append(f"{dotted}: {a!r} -> {b!r}")
    return diffs
