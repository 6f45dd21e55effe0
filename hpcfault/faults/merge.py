"""Global fault objects from the slabs' local components: union-find over border pairs. Pure.

Every slab numbers its components 0..m-1; component c of slab k is node offset[k] + c. A linked
border pair (component of slab k, key of a voxel on slab k+1's first inline) joins that component
with the component of slab k+1 holding the voxel; the joined sets are the objects. Pairs that only
touch (inside slabs and across borders) tell planes.py which objects touch, and it joins touching
fragments of one plane. Their sums add up
(in slab order, so the same for any number of ranks); an object is kept (hysteresis) when its
largest probability reaches the high threshold, and gets a fault id when its area also reaches the
minimum. Ids run 1..N by decreasing voxel count, ties by the first voxel's key, so they depend only
on the voxel sets.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from hpcfault.errors import HpcfaultError
from hpcfault.faults.link import components
from hpcfault.faults.planes import coplanar_groups

SUMS = ("count", "area", "psum", "tensor", "pos", "pos2", "junction")      # added
MINS = ("key", "lo")                                  # minimum
MAXS = ("pmax", "hi")                                 # maximum
DROPPED, THIN_ONLY = -1, 0                            # lut values besides fault ids 1..N


@dataclass(frozen=True, eq=False)
class SlabLinks:
    """What the merge needs of one slab: its component sums, border pairs and first-inline voxels."""

    comp: dict                   # as SlabResult.comp
    border_label: np.ndarray
    border_key: np.ndarray
    border_linked: np.ndarray
    touch: np.ndarray
    first_keys: np.ndarray       # sorted keys of the ridge voxels on the slab's first inline
    first_labels: np.ndarray     # their local components


@dataclass(frozen=True, eq=False)
class Objects:
    """The merge's result: per slab a lookup local component -> fault id (> 0), THIN_ONLY or
    DROPPED; and the sums of each fault (index id - 1)."""

    luts: tuple[np.ndarray, ...]
    faults: dict                 # sums per fault, arrays of length N (as SlabResult.comp)
    thin_objects: int            # objects kept by hysteresis (faults + those below the minimum area)
    all_objects: int


def reduce_sums(sums: dict, groups: np.ndarray, n: int) -> dict:
    """The sums of objects joined into `n` groups (`groups`: group of each object)."""
    out = {}
    for name, v in sums.items():
        v = np.asarray(v)
        shape = (n,) + v.shape[1:]
        integer = v.dtype.kind in "iu"
        if name in SUMS:
            acc = np.zeros(shape, v.dtype)
            np.add.at(acc, groups, v)
        elif name in MINS:
            acc = np.full(shape, np.iinfo(np.int64).max if integer else np.inf, v.dtype)
            np.minimum.at(acc, groups, v)
        else:
            acc = np.full(shape, -1 if integer else -np.inf, v.dtype)
            np.maximum.at(acc, groups, v)
        out[name] = acc
    return out


def merge_slabs(slabs: Sequence[SlabLinks], high: float, min_area: float,
                plane: tuple[float, float, int] | None = None) -> Objects:
    """Join the slabs' components into objects, join coplanar fragments that touch (`plane` =
    angle, distance, minimum voxels of planes.coplanar_groups), apply hysteresis and the minimum
    area, number the faults. Objects made mostly of junction voxels are never faults."""
    sizes = [len(s.comp["count"]) for s in slabs]
    offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    n = int(offsets[-1])
    if n == 0:
        empty = {k: np.zeros((0,) + np.shape(slabs[0].comp[k])[1:] if slabs else (0,)) for k in SUMS + MINS + MAXS}
        return Objects(luts=tuple(np.zeros(0, np.int64) for _ in slabs), faults=empty, thin_objects=0, all_objects=0)
    src, dst, linked = [], [], []
    touch = [offsets[k] + s.touch for k, s in enumerate(slabs) if len(s.touch)]
    for k, s in enumerate(slabs[:-1]):
        if len(s.border_key) == 0:
            continue
        nxt = slabs[k + 1]
        pos = np.searchsorted(nxt.first_keys, s.border_key)
        ok = pos < len(nxt.first_keys)
        ok[ok] = nxt.first_keys[pos[ok]] == s.border_key[ok]
        if not ok.all():
            raise HpcfaultError(f"slab {k}: {int((~ok).sum())} border voxels are not ridge voxels of slab {k + 1}; "
                                "the slab halo is too small (an internal error: please report it)")
        src.append(offsets[k] + s.border_label)
        dst.append(offsets[k + 1] + nxt.first_labels[pos])
        linked.append(np.asarray(s.border_linked, bool))
    a = np.concatenate(src) if src else np.zeros(0, np.int64)
    b = np.concatenate(dst) if dst else np.zeros(0, np.int64)
    link = np.concatenate(linked) if linked else np.zeros(0, bool)
    # nodes are numbered in slab order and, within a slab, by first key: the object numbering of
    # `components` (smallest node first) is therefore the order of the objects' first voxels
    obj = components(n, a[link], b[link])
    m = int(obj.max()) + 1
    merged = reduce_sums({name: np.concatenate([s.comp[name] for s in slabs]) for name in SUMS + MINS + MAXS}, obj, m)
    if plane is not None:   # fragments of one fault (e.g. the halves of a crossed fault) join
        pairs = np.concatenate(touch + [np.stack([a[~link], b[~link]], axis=1)]) if touch or len(a) else \
            np.zeros((0, 2), np.int64)
        groups = coplanar_groups(merged, obj[pairs.reshape(-1, 2)], *plane)
        obj = groups[obj]
        m = int(groups.max()) + 1
        merged = reduce_sums(merged, groups, m)
    kept = merged["pmax"] >= high
    fault = kept & (merged["area"] >= min_area) & (2 * merged["junction"] < merged["count"])
    chosen = np.flatnonzero(fault)
    order = chosen[np.lexsort((merged["key"][chosen], -merged["count"][chosen]))]
    obj_id = np.where(kept, THIN_ONLY, DROPPED).astype(np.int64)
    obj_id[order] = np.arange(1, len(order) + 1)
    luts = tuple(obj_id[obj[offsets[k]:offsets[k + 1]]] for k in range(len(slabs)))
    faults = {name: v[order] for name, v in merged.items()}
    return Objects(luts=luts, faults=faults, thin_objects=int(kept.sum()), all_objects=m)
