"""Validation on held-out volumes during training, reduced over ranks.

Held-out volumes are volume files with `data` and `labels` (and `mask` when the labels are sparse:
scores then count labelled voxels only), and/or synthetic surveys generated once from their seeds
(dense labels). Volume k is predicted by rank k % W, each rank sums the integer counts of
`hpcfault.metrics.score_counts` over its volumes, the counts are summed over ranks, and
`hpcfault.metrics.scores` turns the total into IoU@0.5, precision, recall and Tol-IoU@2, so the
result does not depend on the number of ranks.

Seismic is scaled to [0, 1] per volume exactly like the training cubes (min-max after clipping at
the 0.5 / 99.5 percentiles): the network's predictions at threshold 0.5 depend strongly on it.
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
    seismic: np.ndarray           # float32 in [0, 1], (T, I, X)
    labels: np.ndarray            # uint8 0/1
    mask: np.ndarray | None       # uint8 1 = labelled; None = all


def scale01(x: np.ndarray) -> np.ndarray:
    """To [0, 1] exactly as the training cubes are (hpcfault.data.cube_sources: min-max after
    clipping at the 0.5 / 99.5 percentiles); plain min-max would feed the network another contrast."""
    from hpcfault.data.cube_sources import scale_training_input

    return scale_training_input(x)


def names(cfg: ValidationConfig) -> list[str]:
    return [f"file:{p}" for p in cfg.volumes] + [f"synthetic:{s}" for s in cfg.synthetic_seeds]


def load_held_out(cfg: ValidationConfig, rank: int, world: int) -> list[HeldOut]:
    """The held-out volumes this rank validates on (volume k goes to rank k % world)."""
    out = []
    for k, name in enumerate(names(cfg)):
        if k % world != rank:
            continue
        kind, _, ref = name.partition(":")
        if kind == "file":
            out.append(_from_file(ref))
        else:
            from hpcfault.data.synth import synthesize
            from hpcfault.data.synth_config import synth_config

            seismic, labels, _ids, _faults = synthesize(tuple(cfg.synthetic_shape), int(ref),
                                                        synth_config(cfg.synthetic_family))
            out.append(HeldOut(name, scale01(seismic), (labels > 0).astype(np.uint8), None))
    return out


def _from_file(path: str) -> HeldOut:
    from hpcfault.io.volume import open_volume

    with open_volume(path) as f:
        if "labels" not in f:
            raise HpcfaultError(f"validation volume {path} has no 'labels' dataset (got datasets "
                                f"{sorted(k for k in f.keys())}); make one with 'hpcfault synth' or add labels")
        data, labels = f["data"][...], f["labels"][...]
        mask = f["mask"][...].astype(np.uint8) if "mask" in f else None
    return HeldOut(f"file:{path}", scale01(data), (labels > 0).astype(np.uint8), mask)


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
            amp_dtype: torch.dtype | None, block: int = 0, margin: int = 16) -> np.ndarray:
    """Fault probabilities for a whole volume: padded to multiples of 16, predicted in blocks."""
    shape = seismic.shape
    padded = [-(-n // 16) * 16 for n in shape]
    x = np.pad(seismic, [(0, p - n) for p, n in zip(padded, shape)], mode="edge")
    blocks = [min(block, p) if block else p for p in padded]
    out = np.zeros(padded, dtype=np.float32)
    for t0, tlo, thi in tiles(padded[0], blocks[0], margin):
        for i0, ilo, ihi in tiles(padded[1], blocks[1], margin):
            for x0, xlo, xhi in tiles(padded[2], blocks[2], margin):
                cube = x[t0:t0 + blocks[0], i0:i0 + blocks[1], x0:x0 + blocks[2]]
                inp = torch.from_numpy(np.ascontiguousarray(cube))[None, None].to(device)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    prob = model(inp).float()[0, 0].cpu().numpy()
                out[tlo:thi, ilo:ihi, xlo:xhi] = prob[tlo - t0:thi - t0, ilo - i0:ihi - i0, xlo - x0:xhi - x0]
    return out[:shape[0], :shape[1], :shape[2]]


def validate(model: torch.nn.Module, held: list[HeldOut], cfg: ValidationConfig, d: Dist,
             amp_dtype: torch.dtype | None) -> dict[str, Any]:
    """Scores over all ranks' held-out volumes (every rank gets the same dict)."""
    from hpcfault.metrics import COUNT_KEYS, score_counts, scores

    was_training = model.training
    model.eval()
    total = torch.zeros(len(COUNT_KEYS), dtype=torch.int64)
    try:
        for h in held:
            prob = predict(model, h.seismic, d.device, amp_dtype, cfg.block)
            c = score_counts(prob, h.labels, h.mask, threshold=cfg.threshold, radius=cfg.radius)
            total += torch.tensor([int(c[k]) for k in COUNT_KEYS], dtype=torch.int64)
    finally:
        model.train(was_training)
    total = all_sum(d, total)
    counts = {k: int(v) for k, v in zip(COUNT_KEYS, total.tolist())}
    return {**scores(counts), "voxels": counts["tp"] + counts["fp"] + counts["fn"] + counts["tn"]}
