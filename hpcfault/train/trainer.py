"""The training loop: one code path for 1 process, torchrun, srun/mpiexec and submitit.

Each step every rank draws its slice of the global batch (hpcfault/train/stream.py), runs forward
and backward (in micro-batches of `micro_batch` cubes, gradients accumulated without DDP sync until
the last), and Adam steps on the gradient averaged over ranks.

Why the result does not depend on the number of processes W:
- cubes: the stream draws the global batch of each step deterministically and rank r takes its
  share, so the union of the ranks' cubes is exactly the 1-process batch;
- loss: the loss of a step is the MEAN OVER CUBES of the per-cube loss (MD, BCE or Dice computed on
  each cube), so the gradient of a global batch is the same however it is split (a loss summed
  over a whole batch, like the Dice ratio, would not split);
- BatchNorm: its statistics depend on which cubes share a forward pass. On GPUs SyncBatchNorm
  (`sync_batchnorm: true`) computes them over the global batch; torch has no SyncBatchNorm on
  CPU, so on CPU use `micro_batch: 1` (the CPU configs do): every forward pass then sees one cube
  whatever W is. Running statistics (buffers, used only for eval) are averaged over the ranks
  before every validation and checkpoint (each rank's follow its own cubes in between).
Up to floating-point summation order, W processes therefore follow the 1-process trajectory
(tests/test_train_ddp.py checks parameters agree to 1e-5 after several steps).
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hpcfault.cluster.rankenv import RankEnv, read_rank_env
from hpcfault.config import to_mapping
from hpcfault.errors import HpcfaultError
from hpcfault.train import ddp, rundir
from hpcfault.train.checkpoint import load_state, plain, rng_state, save_state, set_rng_state
from hpcfault.train.config import TrainConfig, config_differences, loss_at, per_rank_batch, with_defaults
from hpcfault.train.metrics_log import MetricsLog
from hpcfault.train.objective import objective
from hpcfault.train.signals import StopFlag, after_checkpoint

log = logging.getLogger(__name__)


def amp_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    if cfg.amp == "tf32" and device.type != "cuda":
        raise HpcfaultError("amp=tf32 needs an NVIDIA GPU of the Ampere generation or newer (got device cpu); "
                            "use amp=off on CPUs")
    if cfg.amp in ("off", "tf32") or (cfg.amp == "auto" and device.type != "cuda"):
        return None
    if cfg.amp == "fp16":
        if device.type != "cuda":
            raise HpcfaultError("amp=fp16 needs a GPU (got device cpu); use amp=off or amp=bf16 on CPU")
        return torch.float16
    from hpcfault.models.precision import gpu_has_bf16

    if device.type == "cuda" and not gpu_has_bf16(torch.cuda.get_device_capability(device)):
        if cfg.amp == "bf16":
            raise HpcfaultError("this GPU has no bfloat16 (got amp=bf16); use amp=fp16")
        return torch.float16
    if device.type == "cpu":
        from hpcfault.models.cpu_features import bf16_support

        if not bf16_support().ok:
            raise HpcfaultError(f"amp=bf16 needs bfloat16 convolutions on the CPU (got: {bf16_support().reason}); "
                                "use amp=off on this machine")
    return torch.bfloat16


def build(cfg: TrainConfig, d: ddp.Dist) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(model as built, the module to call: DDP-wrapped when distributed). Same init on every rank."""
    from hpcfault.models import build_model

    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model.name, task=cfg.task, **cfg.model.options)
    if cfg.init:
        from hpcfault.models.init import load_init

        rep = load_init(model, cfg.init)
        if d.is_main:
            log.info("initial weights from %s: %d of %d tensors (%d of its tensors unused)", cfg.init, rep["loaded"],
                     rep["total"], len(rep["skipped"]))
    if cfg.train_only:
        from hpcfault.train.redundant import train_only

        frozen = train_only(model, list(cfg.train_only))
        if d.is_main:
            log.info("training %s only: %d parameter tensor(s) and the running statistics outside frozen",
                     ", ".join(cfg.train_only), len(frozen))
    if cfg.freeze_redundant:
        from hpcfault.train.redundant import freeze, zero_gradient_parameters

        trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        names = [n for n in zero_gradient_parameters(model) if n in trainable]
        freeze(model, names)
        if d.is_main and names:
            log.info("froze %d parameter(s) with an exactly zero gradient (biases feeding BatchNorm): %s",
                     len(names), ", ".join(names))
    if d.device.type == "cuda" and d.backend and cfg.sync_batchnorm:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(d.device).train()
    if not d.backend:
        return model, model
    from torch.nn.parallel import DistributedDataParallel

    ids = [d.device.index] if d.device.type == "cuda" else None
    return model, DistributedDataParallel(model, device_ids=ids)


def trainable_params(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


class Trainer:
    def __init__(self, cfg: TrainConfig, run_dir: Path, d: ddp.Dist) -> None:
        from hpcfault.tasks import task_spec
        from hpcfault.train.stream import build_stream, data_workers

        self.cfg, self.run_dir, self.d = cfg, run_dir, d
        self.local_batch = per_rank_batch(cfg, d.world)
        self.micro = cfg.micro_batch or self.local_batch
        self.amp = amp_dtype(cfg, d.device)
        from hpcfault.models.precision import set_tf32

        set_tf32(cfg.amp == "tf32")   # amp=off trains in float32, not TF32
        self.model, self.net = build(cfg, d)
        o = cfg.optim
        self.optimizer = torch.optim.Adam(trainable_params(self.model), lr=o.lr, betas=tuple(o.betas),
                                          weight_decay=o.weight_decay)
        self.scaler = torch.amp.GradScaler(d.device.type, enabled=self.amp == torch.float16)
        self.task = task_spec(cfg.task)
        from hpcfault.models.catalog import model_dims

        self.dims = model_dims(cfg.model.name)
        self._objectives: dict[int, list] = {}
        self.objective = self.objective_at(0)
        self.last_val: dict[str, Any] = {}
        seed_everything(cfg.seed * 7919 + d.rank)  # per-rank streams of anything random in the loop
        self.stream = build_stream(cfg, d.rank, d.world, self.local_batch, run_dir, data_workers(cfg, d.device.type))
        self.pin = d.device.type == "cuda"   # page-locked host copies: the copies to the GPU run asynchronously
        self.metrics = MetricsLog(run_dir, enabled=d.is_main)
        from hpcfault.train.schedule import Plateau

        self.plateau = Plateau()
        self.step = 0
        self.best = {"iou": -1.0, "step": -1}
        self._held: list | None = None
        self.info = log.info if d.is_main else log.debug  # one voice for the run: rank 0's

    # ---------------------------------------------------------------- state
    def restore(self, state: dict[str, Any]) -> None:
        if int(state["world_size"]) != self.d.world:
            raise HpcfaultError(
                f"the run was checkpointed with {state['world_size']} processes (got {self.d.world}); "
                f"resume it with {state['world_size']} processes (each holds its own cube stream)")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.best = dict(state["best"])
        self.plateau.load_state_dict(state.get("schedule", {}))
        set_rng_state(state["rng"][self.d.rank])
        self.stream.load_state_dict(state["data"][self.d.rank])

    def checkpoint(self) -> None:
        ddp.average_batchnorm_stats(self.d, self.model)
        mine = {"rng": rng_state(), "data": plain(self.stream.state_dict())}
        every = ddp.gather_to_main(self.d, mine)
        if self.d.is_main:
            state = {"step": self.step, "world_size": self.d.world, "config": to_mapping(self.cfg),
                     "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                     "scaler": self.scaler.state_dict(), "best": dict(self.best),
                     "schedule": self.plateau.state_dict(),
                     "rng": [e["rng"] for e in every], "data": [e["data"] for e in every]}
            save_state(rundir.last_state(self.run_dir), state)
            self._save_model(rundir.model_path(self.run_dir), {})
        ddp.barrier(self.d)

    def objective_at(self, step: int) -> list:
        """The objective of optimizer step `step`: the config's loss, or its phase's."""
        k, loss = loss_at(self.cfg, step)
        if k not in self._objectives:
            self._objectives[k] = objective(self.cfg, self.task, loss)
        return self._objectives[k]

    def _save_model(self, path: Path, extra: dict[str, Any]) -> None:
        from hpcfault.data.cube_sources import TRAIN_CLIP_PERCENTILE
        from hpcfault.models import save_checkpoint

        prov = {"trained_by": "hpcfault train", "run_dir": str(self.run_dir), "step": self.step,
                "input_clip_percentile": TRAIN_CLIP_PERCENTILE, "cube": self.cfg.data.cube,
                "loss": self.cfg.loss.name, **({"gamma": self.cfg.loss.gamma} if self.cfg.loss.name == "md" else {}),
                **extra}
        if self.cfg.phases:
            prov["loss"] = [f"{ph.loss.name} x {ph.steps}" for ph in self.cfg.phases]
        if self.cfg.init:
            prov["init"] = self.cfg.init
        if self.cfg.refine_from:
            prov["refine_from"] = self.cfg.refine_from
        if self.dims == 2:
            # what predict-tiles needs to feed tiles as in training, and the threshold validation chose
            val = extra.get("val") or self.last_val
            v = self.cfg.validation
            prov.update({"tile": list(self.cfg.data.tile), "fit": self.cfg.data.fit,
                         "threshold": float(val.get("best_threshold", v.threshold) if v.search_threshold else v.threshold)})
        model = self.model
        if isinstance(model, torch.nn.SyncBatchNorm) or any(isinstance(m, torch.nn.SyncBatchNorm)
                                                            for m in model.modules()):
            model = _unsync(model, self.dims)
        from hpcfault.models.registry import task_config

        save_checkpoint(path, model, self.cfg.model.name, task_config(self.cfg.model.name, self.cfg.task,
                                                                       self.cfg.model.options),
                        provenance=prov, task=self.cfg.task)

    # ---------------------------------------------------------------- validation
    def validate(self) -> None:
        if self.dims == 2:
            import functools

            from hpcfault.train.validate2d import load_held_sections, validate_sections as validate

            sections = functools.partial(load_held_sections, fit=(self.cfg.data.fit, self.cfg.data.tile))

            def load_held_out(v, rank, world, task):
                return sections(v, rank, world, task.labels)
        else:
            from hpcfault.tasks import cube_transform
            from hpcfault.train import validate as held

            def load_held_out(v, rank, world, task):   # with the upstream model's outputs as inputs, if any
                return held.load_held_out(v, rank, world, task, transform=cube_transform(task, self.cfg.refine_from))

            validate = held.validate

        v = self.cfg.validation
        ddp.average_batchnorm_stats(self.d, self.model)
        if self._held is None:
            self._held = load_held_out(v, self.d.rank, self.d.world, self.task)
        t0 = time.perf_counter()
        s = validate(self.model, self._held, v, self.d, self.amp, self.task)
        s = {k: (round(x, 6) if isinstance(x, float) else x) for k, x in s.items()}
        self.metrics.write(self.step, "val", **s, seconds=round(time.perf_counter() - t0, 2))
        self.last_val = s
        if self.dims == 2:
            self.info("step %d validation: IoU %.4f  Dice %.4f  precision %.4f  recall %.4f  TGS %.4f  (best threshold "
                      "%.2f: TGS %.4f, IoU %.4f)", self.step, s["iou"], s["dice"], s["precision"], s["recall"],
                      s["tgs"], s["best_threshold"], s["best_tgs"], s["best_iou"])
        else:
            self.info("step %d validation: IoU %.4f  precision %.4f  recall %.4f  Tol-IoU@%d %.4f", self.step,
                      s["iou"], s["precision"], s["recall"], v.radius, s["tol_iou"])
        if s["iou"] > self.best["iou"]:
            self.best = {"iou": s["iou"], "step": self.step}
            if self.d.is_main:
                self._save_model(rundir.best_path(self.run_dir), {"val": s})

    # ---------------------------------------------------------------- one step
    def learning_rate(self, step: int) -> float:
        """The learning rate of optimizer step `step` (0-based): warm-up, then constant, cosine or
        reduced on plateaus (train/schedule.py)."""
        o = self.cfg.optim
        if step < o.warmup:
            return o.lr * (0.1 + 0.9 * step / o.warmup)
        if o.schedule == "constant":
            return o.lr
        if o.schedule == "plateau":
            return max(o.lr * self.plateau.scale, o.lr_final)
        span = max(1, self.cfg.steps - o.warmup)
        frac = min(1.0, (step - o.warmup) / span)
        return o.lr_final + 0.5 * (o.lr - o.lr_final) * (1.0 + math.cos(math.pi * frac))

    def cube_loss(self, pred: torch.Tensor, arrays: dict[str, torch.Tensor]) -> torch.Tensor:
        """The loss of one cube: the task's targets, each on its channels, label and mask."""
        total = None
        for target, channels, fn in self.objective:
            mask = arrays["mask"] if target.mask is None else arrays["mask"] * (arrays[target.mask] > 0)
            term = fn(pred[:, channels], arrays[target.label], mask)
            term = term if target.weight == 1.0 else term * target.weight
            total = term if total is None else total + term
        return total

    def _to_device(self, a: np.ndarray, channel: bool = True) -> torch.Tensor:
        """A host array on the device: (n, ...) gains a channel axis unless it has one (`channel`)."""
        t = torch.from_numpy(a)[:, None] if channel else torch.from_numpy(a)
        return (t.pin_memory() if self.pin else t).to(self.d.device, non_blocking=True)

    def train_step(self) -> torch.Tensor:
        """One optimizer step; returns the step's loss as a 0-d tensor (read it when logging: reading
        it here would wait for the GPU every step)."""
        self.objective = self.objective_at(self.step)
        batch = self.stream.next_batch()
        dev = self.d.device
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate(self.step)
        self.optimizer.zero_grad(set_to_none=True)
        total = torch.zeros((), dtype=torch.float64, device=dev)
        chunks = range(0, self.local_batch, self.micro)
        for k, start in enumerate(chunks):
            sl = slice(start, start + self.micro)
            x = self._to_device(np.stack([batch[n][sl] for n in self.task.inputs], 1), channel=False)
            ys = {name: self._to_device(a[sl]) for name, a in batch.items() if name not in self.task.inputs}
            last = k == len(chunks) - 1
            sync = contextlib.nullcontext() if (last or not self.d.backend) else self.net.no_sync()
            with sync:
                with torch.autocast(dev.type, dtype=self.amp, enabled=self.amp is not None):
                    pred = self.net(x)
                pred = pred.float()
                loss = sum(self.cube_loss(pred[j:j + 1], {n: y[j:j + 1] for n, y in ys.items()})
                           for j in range(pred.shape[0]))
                loss = loss / self.local_batch
                self.scaler.scale(loss).backward()
            total += loss.detach()
        if self.cfg.optim.clip_grad_norm > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(trainable_params(self.model), self.cfg.optim.clip_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step += 1
        return total

    # ---------------------------------------------------------------- the loop
    def fit(self, flag: StopFlag) -> str:
        cfg, d = self.cfg, self.d
        val_on = cfg.validation.every > 0 and bool(cfg.validation.volumes or cfg.validation.synthetic_seeds
                                                   or cfg.validation.tgs)
        if val_on and self.step == 0:
            self.validate()  # the untrained network: the baseline of the curves
        window, t_window = torch.zeros((), dtype=torch.float64, device=d.device), time.perf_counter()
        n_window = 0
        last = cfg.stop_at or cfg.steps
        while self.step < last:
            loss = self.train_step()
            window += loss
            n_window += 1
            if cfg.optim.schedule == "plateau":
                o = cfg.optim
                mean = float(ddp.all_sum(d, loss.detach().reshape(1).double().cpu())[0]) / d.world
                if self.plateau.update(mean, o.plateau_window, o.plateau_patience, o.plateau_factor):
                    self.info("step %d: the mean loss has not fallen for %d windows of %d steps; lr -> %.3g",
                              self.step, o.plateau_patience + 1, o.plateau_window, self.learning_rate(self.step))
            stop = ddp.any_rank(d, flag.requested)
            if self.step % cfg.log_every == 0 or stop or self.step == last:
                mean = float(ddp.all_sum(d, (window / n_window).reshape(1).cpu())[0]) / d.world
                dt = time.perf_counter() - t_window
                phase = {"phase": loss_at(cfg, self.step - 1)[0]} if cfg.phases else {}
                self.metrics.write(self.step, "train", loss=mean, lr=self.optimizer.param_groups[0]["lr"],
                                   cubes_per_s=round(n_window * cfg.batch / dt, 4), **phase)
                self.info("step %d/%d  loss %.5f  %.2f %s/s", self.step, cfg.steps, mean, n_window * cfg.batch / dt,
                          "tiles" if self.dims == 2 else "cubes")
                window, n_window, t_window = window.zero_(), 0, time.perf_counter()
            if val_on and self.step % cfg.validation.every == 0:
                self.validate()
            if stop or self.step % cfg.checkpoint_every == 0 or self.step == last:
                self.checkpoint()
            if stop:
                return "stopped"
        return "done"


def _unsync(model: torch.nn.Module, dims: int = 3) -> torch.nn.Module:
    """A copy of `model` with SyncBatchNorm layers turned back into BatchNorm3d, or BatchNorm2d for
    a 2D model (for saving)."""
    import copy

    model = copy.deepcopy(model)
    norm = torch.nn.BatchNorm2d if dims == 2 else torch.nn.BatchNorm3d

    def swap(module: torch.nn.Module) -> torch.nn.Module:
        if isinstance(module, torch.nn.SyncBatchNorm):
            bn = norm(module.num_features, module.eps, module.momentum, module.affine,
                                      module.track_running_stats)
            bn.load_state_dict(module.state_dict())
            return bn
        for name, child in module.named_children():
            setattr(module, name, swap(child))
        return module

    return swap(model).cpu()


def _open_run(cfg: TrainConfig, path: Path, d: ddp.Dist) -> bool:
    """Rank 0 creates or checks the run directory and makes the synthetic surveys; every rank gets
    the outcome (True = an existing run) or the same error."""
    outcome = None
    if d.is_main:
        try:
            from hpcfault.train.stream import data_workers, prepare_surveys

            resuming = rundir.prepare(cfg, path)
            prepare_surveys(cfg, path, data_workers(cfg, d.device.type))
            outcome = ("ok", resuming)
        except HpcfaultError as exc:
            outcome = ("error", str(exc))
    kind, value = ddp.broadcast_object(d, outcome)
    if kind == "error":
        raise HpcfaultError(value)
    return bool(value)


def _resume(trainer: Trainer, resuming: bool) -> None:
    cfg, path, d = trainer.cfg, trainer.run_dir, trainer.d
    state_file = rundir.last_state(path)
    if resuming and state_file.is_file():
        state = load_state(state_file)
        diffs = config_differences(with_defaults(state["config"]), to_mapping(cfg), defaults=to_mapping(TrainConfig()))
        if diffs:
            raise HpcfaultError(f"{state_file} was written with another config (got {'; '.join(diffs[:6])}); "
                                "use a new run_dir")
        trainer.restore(state)
        if d.is_main:
            trainer.metrics.truncate_after(trainer.step)
        trainer.info("resumed %s at step %d", path, trainer.step)
    elif resuming and d.is_main:
        trainer.metrics.truncate_after(-1)  # stopped before its first checkpoint: start over


def train(cfg: TrainConfig, run_dir: str | None = None, env: RankEnv | None = None) -> int:
    """Train (or resume) the run in `run_dir` (default cfg.run_dir). Returns the exit code."""
    from hpcfault.requirements import check_torch

    check_torch()
    env = read_rank_env() if env is None else env
    path = rundir.resolve_run_dir(cfg, run_dir)
    cfg = dataclasses.replace(cfg, run_dir=str(path))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    per_rank_batch(cfg, env.world_size)  # before joining a process group that may never form
    d = ddp.setup(env, cfg.device)
    if cfg.deterministic:   # before the first cuBLAS call (training's first step)
        from hpcfault.train.determinism import make_deterministic

        make_deterministic(d.device.type)
    trainer = None
    try:
        resuming = _open_run(cfg, path, d)
        trainer = Trainer(cfg, path, d)
        _resume(trainer, resuming)
        if d.is_main:
            rundir.commit(cfg, path)   # every start-up check passed: the run directory is this run's now
        if trainer.step >= (cfg.stop_at or cfg.steps):
            if d.is_main:
                print(f"run {path} is complete at step {trainer.step} (steps={cfg.steps}"
                      + (f", stop_at={cfg.stop_at}" if cfg.stop_at else "") + "); pass steps=N (or stop_at=N) "
                      "with a larger N to train further")
            return 0
        flag = StopFlag()
        result = "failed"
        try:
            result = trainer.fit(flag)
        finally:
            if result != "stopped":
                flag.restore()
        if result == "stopped":
            ddp.barrier(d)
            what = after_checkpoint(flag, d.is_main)
            if d.is_main:
                print(f"stopped at step {trainer.step} on a signal; checkpoint {rundir.last_state(path)}; {what}")
            return 0
        if d.is_main:
            best = trainer.best
            print(f"trained {path} to step {trainer.step}; weights {rundir.model_path(path)}"
                  + (f", best validation IoU {best['iou']:.4f} at step {best['step']} in {rundir.best_path(path)}"
                     if best["step"] >= 0 else ""))
        return 0
    finally:
        if trainer is not None:
            trainer.stream.close()   # the cube workers, if any
        ddp.teardown(d)
