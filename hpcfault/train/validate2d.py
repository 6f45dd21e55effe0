"""Validation of 2D section models during training, reduced over ranks.

Held-out data: synthetic surveys generated once from their seeds and volume files with the task's
first label (scaled to [0, 1] over the whole volume, as predict scales a survey), cut into every
`section_every`-th section along the task's directions (inline and/or crossline), and the `val`
split of a TGS-layout folder (PNG values / 255, resized as in training with `data.fit: resize`). Whole sections are predicted (the model pads them
to its size multiple), TGS tiles one by one. Scores (hpcfault/tasks/salt/metrics.py) come from
counts summed over images and ranks at every threshold of 0.05 ... 0.95: pixel IoU, Dice,
precision and recall, and the TGS metric with sections cut into `tile`-pixel tiles; the best
threshold (by the TGS metric) is searched on these totals. Item k (a volume, or the TGS folder)
is validated by rank k % W, so the result does not depend on the number of ranks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hpcfault.metrics import DEFAULT_THRESHOLDS
from hpcfault.train.config import ValidationConfig
from hpcfault.train.ddp import Dist, all_sum

AXES = {"inline": 1, "xline": 2}


@dataclass(frozen=True, eq=False)
class HeldSections:
    name: str
    seismic: np.ndarray | None = None     # a volume (T, I, X) in [0, 1] ...
    truth: np.ndarray | None = None       # ... and its first label 0/1
    tiles: Any = None                     # or a TgsSet (images uint8, masks 0/1)...
    fit: tuple = ("pad", None)            # ... fed as training fed them: (data.fit, data.tile)


def item_names(cfg: ValidationConfig) -> list[str]:
    return ([f"file:{p}" for p in cfg.volumes] + [f"synthetic:{s}" for s in cfg.synthetic_seeds]
            + ([f"tgs:{cfg.tgs}"] if cfg.tgs else []))


def load_held_sections(cfg: ValidationConfig, rank: int, world: int, labels: tuple[str, ...],
                       fit: tuple = ("pad", None)) -> list[HeldSections]:
    """This rank's held-out items; `fit` = (data.fit, data.tile): how TGS tiles were fed in training."""
    from hpcfault.errors import HpcfaultError
    from hpcfault.train.validate import scale01

    out = []
    for k, name in enumerate(item_names(cfg)):
        if k % world != rank:
            continue
        kind, _, ref = name.partition(":")
        if kind == "tgs":
            from hpcfault.io.tgs import read_tgs, split_ids

            s = read_tgs(ref)
            if s.masks is None:
                raise HpcfaultError(f"validation.tgs {ref} holds no masks (got none); validate on a labelled folder")
            out.append(HeldSections(name, tiles=s.subset(split_ids(s.ids, "val")), fit=tuple(fit)))
        elif kind == "file":
            from hpcfault.io.volume import open_volume

            with open_volume(ref) as f:
                if labels[0] not in f:
                    raise HpcfaultError(f"validation volume {ref} has no {labels[0]!r} dataset (got {sorted(f.keys())}); "
                                        "validate on a volume with the task's labels")
                out.append(HeldSections(name, scale01(f["data"][...]), (f[labels[0]][...] > 0).astype(np.uint8)))
        else:
            from hpcfault.data.synth import SynthModel
            from hpcfault.data.synth_config import synth_config

            v = SynthModel(tuple(cfg.synthetic_shape), int(ref), synth_config(cfg.synthetic_family)).render_volumes()
            out.append(HeldSections(name, scale01(v["seismic"]), (v[labels[0]] > 0).astype(np.uint8)))
    return out


@torch.no_grad()
def predict_images(model: torch.nn.Module, images: np.ndarray, device: torch.device,
                   amp_dtype: torch.dtype | None, batch: int = 8) -> np.ndarray:
    """Probabilities (N, H, W) of the first output channel for images (N, H, W) in [0, 1]."""
    out = np.zeros(images.shape, np.float32)
    for a in range(0, len(images), batch):
        x = torch.from_numpy(np.ascontiguousarray(images[a:a + batch], np.float32))[:, None].to(device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            y = model(x)
        out[a:a + batch] = y[:, 0].float().cpu().numpy()
    return out


def item_counts(model: torch.nn.Module, h: HeldSections, cfg: ValidationConfig, sections: tuple[str, ...],
                device: torch.device, amp_dtype: torch.dtype | None) -> dict:
    from hpcfault.tasks.salt import metrics as sm
    from hpcfault.tasks.salt.scoring import section_counts

    total = sm.empty_counts()
    if h.tiles is not None:
        if h.fit[0] == "resize":
            from hpcfault.tasks.salt.predict_tiles import tile_probabilities

            prob = tile_probabilities(model, h.tiles.images, fit="resize", tile=h.fit[1])
        else:
            prob = predict_images(model, h.tiles.images.astype(np.float32) / np.float32(255.0), device, amp_dtype)
        return sm.tile_counts(prob, h.tiles.masks)
    for direction in sections:
        axis = AXES[direction]
        index = list(range(0, h.seismic.shape[axis], cfg.section_every))
        images = np.stack([np.take(h.seismic, k, axis=axis) for k in index])
        truth = np.stack([np.take(h.truth, k, axis=axis) for k in index])
        prob = predict_images(model, images, device, amp_dtype)
        for p, t in zip(prob, truth):
            total = sm.add(total, section_counts(p, t, None, cfg.tile))
    return total


def validate_sections(model: torch.nn.Module, held: list[HeldSections], cfg: ValidationConfig, d: Dist,
                      amp_dtype: torch.dtype | None, task: Any) -> dict[str, Any]:
    """Scores over all ranks' held-out items (every rank gets the same dict): iou, dice, precision,
    recall, tgs at cfg.threshold, and best_threshold with its tgs and iou."""
    from hpcfault.tasks.salt import metrics as sm

    was_training = model.training
    model.eval()
    total = sm.empty_counts()
    try:
        for h in held:
            total = sm.add(total, item_counts(model, h, cfg, task.sections, d.device, amp_dtype))
    finally:
        model.train(was_training)
    vec = all_sum(d, torch.from_numpy(sm.as_vector(total))).numpy()
    total = sm.from_vector(vec, len(DEFAULT_THRESHOLDS))
    j = sm.nearest_index(DEFAULT_THRESHOLDS, cfg.threshold)
    b = sm.best_index(total, DEFAULT_THRESHOLDS)
    best = sm.scores_at(total, b)
    return {**sm.scores_at(total, j), "best_threshold": float(DEFAULT_THRESHOLDS[b]), "best_tgs": best["tgs"],
            "best_iou": best["iou"], "images": int(total["images"]),
            "pixels": int(total["tp"][j] + total["fp"][j] + total["fn"][j])}
