"""Validation on held-out volumes during training, reduced over ranks.

Held-out volumes are volume files with `data` and `labels` (and `mask` when the labels are sparse:
scores then count labelled voxels only), and/or synthetic surveys generated once from their seeds
(dense labels). Volume k is predicted by rank k % W, each rank sums the integer counts of
`hpcfault.metrics.score_counts` over its volumes, the counts are summed over ranks, and
`hpcfault.metrics.scores` turns the total into IoU@0.5, precision, recall and Tol-IoU@2, so the
result does not depend on the number of ranks.

Seismic is scaled to [0, 1] per volume exactly like the training cubes (min-max after clipping at
the 0.5 / 99.5 percentiles): the network's predictions at threshold 0.5 depend strongly on it. The
task's other labels get what training cubes get: those in the input's units scaled alike, and the
task's transform (e.g. RGT scaled to [0, 1], the refinement network's corrupted inputs; its random
draws seeded by the volume's place in the list, so every validation sees the same inputs).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hpcfault.errors import HpcfaultError
from hpcfault.train.config import ValidationConfig
from hpcfault.train.ddp import Dist, all_sum

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class HeldOut:
    name: str
    seismic: np.ndarray           # float32 in [0, 1], (T, I, X); or the model's input channels (C, T, I, X)
    labels: np.ndarray            # uint8 0/1 (the fault labels)
    mask: np.ndarray | None       # uint8 1 = labelled; None = all
    extra: dict | None = None     # the task's other label volumes by name (e.g. fault_strike)


VALIDATION_SEED = 7301            # seeds the task transform's draws on held-out volumes (with the index)


def held_out(name: str, seismic: np.ndarray, labels: dict[str, np.ndarray], mask: np.ndarray | None,
             task: Any = None, index: int = 0, transform: Any = None) -> HeldOut:
    """A held-out volume as validation sees it: raw `seismic` and the task's `labels` by name
    ("labels" first) -> scaled input (or the transform's input channels) and prepared labels.
    `transform` replaces the task's own (hpcfault.tasks.cube_transform, e.g. with an upstream model)."""
    from hpcfault.data.cube_sources import scale_like, training_normalizer
    from hpcfault.tasks import cube_transform, task_spec

    task = task_spec(None) if task is None else task
    norm = training_normalizer(seismic)
    arrays = {"seismic": norm.apply(seismic), **labels}
    for n in task.scaled_labels:
        arrays[n] = scale_like(arrays[n], norm)
    transform = transform or cube_transform(task)
    if transform is not None:
        arrays["mask"] = np.ones(seismic.shape, np.uint8) if mask is None else mask
        arrays = transform(arrays, np.random.default_rng([VALIDATION_SEED, index]))
    inputs = arrays["seismic"] if tuple(task.inputs) == ("seismic",) else np.stack([arrays[n] for n in task.inputs])
    fault = np.asarray(arrays[task.labels[0]])
    return HeldOut(name, inputs, (fault > 0).astype(np.uint8), mask, {k: arrays[k] for k in task.labels[1:]})


def scale01(x: np.ndarray) -> np.ndarray:
    """To [0, 1] exactly as the training cubes are (hpcfault.data.cube_sources: min-max after
    clipping at the 0.5 / 99.5 percentiles); plain min-max would feed the network another contrast."""
    from hpcfault.data.cube_sources import scale_training_input

    return scale_training_input(x)


def names(cfg: ValidationConfig) -> list[str]:
    return [f"file:{p}" for p in cfg.volumes] + [f"synthetic:{s}" for s in cfg.synthetic_seeds]


def load_held_out(cfg: ValidationConfig, rank: int, world: int, task: Any = None,
                  transform: Any = None) -> list[HeldOut]:
    """The held-out volumes this rank validates on (volume k goes to rank k % world), prepared for
    `task` (default: the fault task) by `held_out` (with `transform`, if given)."""
    from hpcfault.tasks import task_spec

    task = task_spec(None) if task is None else task
    out = []
    for k, name in enumerate(names(cfg)):
        if k % world != rank:
            continue
        kind, _, ref = name.partition(":")
        if kind == "file":
            seismic, labels, mask = _from_file(ref, task.labels)
        else:
            from hpcfault.data.synth import SynthModel
            from hpcfault.data.synth_config import synth_config

            v = SynthModel(tuple(cfg.synthetic_shape), int(ref), synth_config(cfg.synthetic_family)).render_volumes()
            seismic, labels, mask = v["seismic"], {n: v[n] for n in task.labels}, None
        out.append(held_out(name, seismic, labels, mask, task, k, transform))
    return out


def _from_file(path: str, labels: tuple[str, ...] = ("labels",)):
    from hpcfault.io.volume import open_volume

    with open_volume(path) as f:
        missing = [k for k in labels if k not in f]
        if missing:
            raise HpcfaultError(f"validation volume {path} has no {missing} dataset (got datasets "
                                f"{sorted(k for k in f.keys())}); make one with 'hpcfault synth' or add labels")
        mask = f["mask"][...].astype(np.uint8) if "mask" in f else None
        return f["data"][...], {k: f[k][...] for k in labels}, mask


def tiles(n: int, block: int, margin: int) -> list[tuple[int, int, int]]:
    """1-D tiling of [0, n): (read_start, write_lo, write_hi) with reads of `block` voxels."""
    if n <= block:
        return [(0, 0, n)]
    step = block - 2 * margin
    if step <= 0:
        raise HpcfaultError(f"validation.block is too small for its margin (got {block}, margin {margin}); "
                            "use validation.block >= 64")
    out, lo = [], 0
    while lo < n:
        hi = min(n, lo + step)
        start = min(max(lo - margin, 0), n - block)
        out.append((start, lo, hi))
        lo = hi
    return out


@torch.no_grad()
def predict(model: torch.nn.Module, seismic: np.ndarray, device: torch.device,
            amp_dtype: torch.dtype | None, block: int = 0, margin: int = 16, task: Any = None) -> np.ndarray:
    """The task's outputs (K, T, I, X) for a whole volume (the fault task: K = 1, probabilities),
    padded to multiples of 16, predicted in blocks (no blending: each block writes its middle).
    `seismic` is (T, I, X), or the model's input channels (C, T, I, X)."""
    from hpcfault.tasks import task_spec
    from hpcfault.tasks.decode import decode

    task = task_spec(None) if task is None else task
    x = seismic if seismic.ndim == 4 else seismic[None]
    shape = x.shape[1:]
    padded = [-(-n // 16) * 16 for n in shape]
    x = np.pad(x, [(0, 0)] + [(0, p - n) for p, n in zip(padded, shape)], mode="edge")
    blocks = [min(block, p) if block else p for p in padded]
    out = np.zeros((len(task.outputs), *padded), dtype=np.float32)
    for t0, tlo, thi in tiles(padded[0], blocks[0], margin):
        for i0, ilo, ihi in tiles(padded[1], blocks[1], margin):
            for x0, xlo, xhi in tiles(padded[2], blocks[2], margin):
                cube = x[:, t0:t0 + blocks[0], i0:i0 + blocks[1], x0:x0 + blocks[2]]
                inp = torch.from_numpy(np.ascontiguousarray(cube))[None].to(device)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    y = decode(task, model(inp).float()[0]).cpu().numpy()
                out[:, tlo:thi, ilo:ihi, xlo:xhi] = y[:, tlo - t0:thi - t0, ilo - i0:ihi - i0, xlo - x0:xhi - x0]
    return out[:, :shape[0], :shape[1], :shape[2]]


def validate(model: torch.nn.Module, held: list[HeldOut], cfg: ValidationConfig, d: Dist,
             amp_dtype: torch.dtype | None, task: Any = None) -> dict[str, Any]:
    """Scores over all ranks' held-out volumes (every rank gets the same dict): the fault scores of
    the task's first output against the fault labels, and for each further target the mean
    absolute error (angles: modulo their period) on its masked voxels, as `<output>_mae`."""
    from hpcfault.metrics import COUNT_KEYS, angle_error, score_counts, scores
    from hpcfault.tasks import task_spec

    task = task_spec(None) if task is None else task
    others = [t for t in task.targets[1:]]
    was_training = model.training
    model.eval()
    total = torch.zeros(len(COUNT_KEYS) + 2 * len(others), dtype=torch.float64)
    try:
        for h in held:
            outs = predict(model, h.seismic, d.device, amp_dtype, cfg.block, task=task)
            c = score_counts(outs[0], h.labels, h.mask, threshold=cfg.threshold, radius=cfg.radius)
            part = [float(c[k]) for k in COUNT_KEYS]
            for t in others:
                out = task.output(t.output)
                pred, truth = outs[task.output_names.index(t.output)], np.asarray(h.extra[t.label], np.float64)
                m = np.ones(truth.shape, bool) if t.mask is None else h.labels > 0
                if h.mask is not None:
                    m &= h.mask > 0
                err = angle_error(pred[m], truth[m], out.period) if out.kind == "angle" else np.abs(pred[m] - truth[m])
                part += [float(err.sum()), float(m.sum())]
            total += torch.tensor(part, dtype=torch.float64)
    finally:
        model.train(was_training)
    total = all_sum(d, total).tolist()
    counts = {k: int(v) for k, v in zip(COUNT_KEYS, total)}
    out = {**scores(counts), "voxels": counts["tp"] + counts["fp"] + counts["fn"] + counts["tn"]}
    for n, t in enumerate(others):
        err, cnt = total[len(COUNT_KEYS) + 2 * n: len(COUNT_KEYS) + 2 * n + 2]
        out[f"{t.output}_mae"] = err / cnt if cnt else float("nan")
    return out
