"""Joining fragments of one fault: objects that lie on one plane and nearly touch. Pure.

Linking stops where the structure tensor is ambiguous (two faults meeting: low planarity) or where
neighbouring normals disagree, so one fault can come out as several fragments, e.g. the two halves
of a fault that another one crosses. Two fragments join when

- their mean normals agree within the linking angle,
- each lies on the other's plane: the root-mean-square distance of one fragment's voxels to the
  plane of the other (fitted to its voxels, or through its centroid with its mean normal when it is
  no plate) is at most `dist` voxels, both ways,
- their bounding boxes come within `gap` voxels of each other,
- both hold at least `min_voxels` voxels (smaller ones have no reliable plane).

Joins happen in rounds: all qualifying pairs are scored by the larger of the two distances, the best
pairs that share no fragment join, the sums are recomputed, and the next round starts, until no pair
qualifies. Everything works on the objects' sums (voxel count, sum of positions and of their outer
products, sum of normal outer products, bounding box), so it is exact whatever the slab plan.
"""
from __future__ import annotations

import numpy as np

from hpcfault.faults.orientation import COMPONENTS, normals_from_tensor

MAX_ROUNDS = 64
PLATE = 16.0          # variance ratio (4 x in standard deviation) that makes a fragment a plate


def _sym(six: np.ndarray) -> np.ndarray:
    m = np.empty(six.shape[:-1] + (3, 3))
    for c, (a, b) in enumerate(COMPONENTS):
        m[..., a, b] = six[..., c]
        m[..., b, a] = six[..., c]
    return m


def _msd(normal: np.ndarray, centroid: np.ndarray, cov: np.ndarray, other_centroid: np.ndarray) -> np.ndarray:
    """Mean squared distance of a point cloud (centroid, covariance) to planes (normal, other_centroid)."""
    d = centroid - other_centroid
    return np.einsum("...i,...ij,...j->...", normal, cov, normal) + np.einsum("...i,...i->...", normal, d) ** 2


def plane_normals(cov: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """The normal of each fragment's plane: of the plane fitted to its voxels where the fragment is a
    plate (its second-largest spread at least PLATE times its thickness and at least 2 voxels), else
    its mean normal (a strip or a blob has no fitted plane)."""
    w, v = np.linalg.eigh(cov)
    plate = (w[:, 1] >= PLATE * np.maximum(w[:, 0], 0.0)) & (w[:, 1] >= 4.0)
    return np.where(plate[:, None], v[:, :, 0], normal)


def _pairs(sums: dict, idx: np.ndarray, angle: float, gap: float, dist: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = sums["count"][idx].astype(np.float64)
    c = sums["pos"][idx] / n[:, None]
    cov = _sym(sums["pos2"][idx]) / n[:, None, None] - np.einsum("ki,kj->kij", c, c)
    normal, _ = normals_from_tensor(sums["tensor"][idx])
    plane = plane_normals(cov, normal)
    lo, hi = sums["lo"][idx].astype(np.float64), sums["hi"][idx].astype(np.float64)
    out_a, out_b, score = [], [], []
    cos_max = np.cos(np.radians(angle))
    for k in range(len(idx) - 1):
        j = np.arange(k + 1, len(idx))
        near = np.all((lo[j] <= hi[k] + gap) & (lo[k] <= hi[j] + gap), axis=1)
        near &= np.abs(normal[j] @ normal[k]) >= cos_max
        j = j[near]
        if len(j) == 0:
            continue
        ab = _msd(plane[k], c[j], cov[j], c[k])             # j's voxels to k's plane
        ba = _msd(plane[j], c[k], cov[k], c[j])             # k's voxels to j's planes
        worst = np.maximum(ab, ba)
        ok = worst <= dist * dist
        out_a.append(np.full(int(ok.sum()), k))
        out_b.append(j[ok])
        score.append(worst[ok])
    if not out_a:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(out_a), np.concatenate(out_b), np.concatenate(score)


def coplanar_groups(sums: dict, angle: float, gap: float, dist: float, min_voxels: int) -> np.ndarray:
    """Group number of each object (objects of one group are one fault), numbered by the group's
    smallest object index."""
    from hpcfault.faults.merge import reduce_sums

    m = len(sums["count"])
    group = np.arange(m)
    cur = {k: np.array(v, copy=True) for k, v in sums.items()}
    members = np.arange(m)                       # current object -> representative object index
    for _ in range(MAX_ROUNDS):
        big = np.flatnonzero(cur["count"] >= min_voxels)
        a, b, score = _pairs(cur, big, angle, gap, dist)
        if len(a) == 0:
            break
        order = np.lexsort((cur["key"][big[b]], cur["key"][big[a]], score))
        used = np.zeros(len(cur["count"]), bool)
        joins = []
        for k in order:
            ia, ib = big[a[k]], big[b[k]]
            if not used[ia] and not used[ib]:
                used[ia] = used[ib] = True
                joins.append((ia, ib))
        target = np.arange(len(cur["count"]))
        for ia, ib in joins:
            target[ib] = ia
        keep = np.flatnonzero(target == np.arange(len(target)))
        renum = np.full(len(target), -1)
        renum[keep] = np.arange(len(keep))
        new = renum[target]
        nxt = reduce_sums(cur, new, len(keep))
        cur = nxt
        members = new[members]
    group = members
    first = np.full(group.max() + 1 if m else 0, m, np.int64)
    np.minimum.at(first, group, np.arange(m))
    order = np.argsort(first, kind="stable")
    relabel = np.empty_like(order)
    relabel[order] = np.arange(len(order))
    return relabel[group] if m else group
