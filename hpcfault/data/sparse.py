"""Sparse slice labels: keep every k-th slice along an axis as labelled, and inject false negatives.

The paper trains from 3.3 % of the inlines labelled (every 30th). A training volume carries
`labels` (0/1 faults, zero off the kept slices) and `mask` (1 on the kept slices): the loss only
sees masked voxels. `drop_faults` removes a fraction of the faults from the labelled slices while
the mask stays 1 there, which makes false-negative labels (the paper's FNL experiments).

Pure numpy functions; the CLI (`hpcfault labels sparsify`) streams them slab by slab.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from hpcfault.errors import HpcfaultError
from hpcfault.geometry import AXES, AXIS_ALIASES, check_shape3


def axis_index(axis: str | int) -> int:
    """0, 1, 2 for time, inline, xline (also accepts the aliases of geometry.parse_axes)."""
    if isinstance(axis, (int, np.integer)) and 0 <= int(axis) < 3:
        return int(axis)
    name = AXIS_ALIASES.get(str(axis).lower())
    if name is None:
        raise HpcfaultError(f"unknown axis (got {axis!r}); use one of {', '.join(AXES)}")
    return AXES.index(name)


def kept_slices(n: int, every: int, offset: int = 0) -> np.ndarray:
    """Indices offset, offset + every, ... below n: the labelled slices of an axis of length n."""
    if every < 1:
        raise HpcfaultError(f"--every must be >= 1 (got {every}); 30 keeps every 30th slice")
    if every > n:
        raise HpcfaultError(f"--every {every} is larger than the axis ({n} slices); "
                            f"use --every <= {n} so at least one slice is labelled")
    if not 0 <= offset < min(every, n):
        raise HpcfaultError(f"--offset must be in [0, {min(every, n) - 1}] (got {offset}); "
                            "it is the first labelled slice")
    return np.arange(offset, n, every)


def slice_mask(shape: Sequence[int], every: int, axis: str | int = "inline", offset: int = 0) -> np.ndarray:
    """uint8 mask of `shape` (T, I, X): 1 on every `every`-th slice along `axis` from `offset`."""
    shape = check_shape3(shape, "mask")
    ax = axis_index(axis)
    keep = kept_slices(shape[ax], every, offset)
    mask = np.zeros(shape, np.uint8)
    index: list = [slice(None)] * 3
    index[ax] = keep
    mask[tuple(index)] = 1
    return mask


def check_binary(labels: np.ndarray, what: str = "labels") -> None:
    """Raise unless every value is 0 or 1."""
    bad = (labels != 0) & (labels != 1)
    if bad.any():
        values = np.unique(labels[bad])[:5]
        raise HpcfaultError(f"{what} must hold only 0 and 1 (got values {values.tolist()}); "
                            "threshold or binarise the labels first")


def n_to_drop(count: int, fraction: float) -> int:
    if not 0.0 <= fraction <= 1.0:
        raise HpcfaultError(f"--drop-faults must be a fraction in [0, 1] (got {fraction})")
    return int(np.floor(fraction * count + 0.5))


def choose_dropped(ids: Iterable[int], fraction: float, seed: int) -> list[int]:
    """The fault ids to drop: round(fraction * len(ids)) of them, chosen by `seed`."""
    ids = sorted({int(i) for i in ids if int(i) > 0})
    k = n_to_drop(len(ids), fraction)
    rng = np.random.default_rng([int(seed), 0x5EED])
    return sorted(int(i) for i in rng.choice(ids, size=k, replace=False)) if k else []


def drop_components(labels2d: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Zero a fraction of the 8-connected fault traces of one labelled slice; returns (slice, dropped)."""
    from scipy.ndimage import label

    comp, n = label(labels2d > 0, structure=np.ones((3, 3), bool))
    k = n_to_drop(n, fraction)
    if not k:
        return labels2d, 0
    chosen = rng.choice(np.arange(1, n + 1), size=k, replace=False)
    out = labels2d.copy()
    out[np.isin(comp, chosen)] = 0
    return out, k


def slice_rng(seed: int, index: int) -> np.random.Generator:
    """The generator for the labelled slice `index`: the same whatever else is processed."""
    return np.random.default_rng([int(seed), int(index)])


def labelled_axis(mask: np.ndarray) -> int:
    """The axis whose slices are each either fully labelled or not at all (inline preferred)."""
    m = mask > 0
    for ax in (1, 2, 0):
        others = tuple(a for a in range(3) if a != ax)
        if np.array_equal(m.any(axis=others), m.all(axis=others)):
            return ax
    raise HpcfaultError("the mask is not made of whole slices along one axis; pass axis= to drop_faults")


def drop_faults(labels: np.ndarray, mask: np.ndarray, fault_ids: np.ndarray | None, fraction: float,
                seed: int, *, axis: str | int | None = None) -> np.ndarray:
    """Labels with a fraction of the faults removed from the labelled (mask = 1) slices.

    With `fault_ids`, round(fraction * n) of the n faults present on the labelled slices are
    removed everywhere (exact: the generator's fault numbers). Without, each labelled slice loses
    that fraction of its connected fault traces (8-connected), chosen per slice by (seed, index).
    The mask is unchanged, so the removed faults become false-negative labels.
    """
    labels = np.asarray(labels)
    check_binary(labels)
    if labels.shape != np.shape(mask) or (fault_ids is not None and labels.shape != np.shape(fault_ids)):
        raise HpcfaultError(f"labels {labels.shape}, mask {np.shape(mask)} and fault_ids "
                            f"{None if fault_ids is None else np.shape(fault_ids)} must have the same shape")
    n_to_drop(1, fraction)
    out = labels.astype(np.uint8, copy=True)
    on = np.asarray(mask) > 0
    if fraction == 0 or not on.any():
        return out
    if fault_ids is not None:
        present = np.unique(fault_ids[on & (out > 0)])
        dropped = choose_dropped(present, fraction, seed)
        out[on & np.isin(fault_ids, dropped)] = 0
        return out
    ax = labelled_axis(mask) if axis is None else axis_index(axis)
    others = tuple(a for a in range(3) if a != ax)
    for k in np.flatnonzero(on.any(axis=others)):
        index: list = [slice(None)] * 3
        index[ax] = int(k)
        out[tuple(index)], _ = drop_components(out[tuple(index)], fraction, slice_rng(seed, int(k)))
    return out
