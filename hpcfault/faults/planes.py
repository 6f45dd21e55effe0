"""Joining fragments of one fault: objects that touch and lie on one plane. Pure.

Linking stops where the structure tensor is ambiguous (junction voxels, where faults meet) or where
neighbouring normals disagree, so one fault can come out as several fragments, e.g. the halves of a
fault that another one crosses. Two fragments are neighbours when they touch, or when both touch the
same connector (a junction object, or an object smaller than `min_voxels`, which has no reliable
plane). Neighbours join when

- both hold at least `min_voxels` voxels and are not junction objects,
- their mean normals agree within the linking angle,
- each lies on the other's plane: the root-mean-square distance of one fragment's voxels to the
  plane of the other (fitted to its voxels, or through its centroid with its mean normal when it is
  no plate) is at most `dist` voxels, both ways.

Joins happen in rounds: all qualifying pairs are scored by the larger of the two distances, the best
pairs that share no fragment join, the sums and neighbours are recomputed, and the next round
starts, until no pair qualifies. Everything works on the objects' sums (voxel count, sums of
positions and of their outer products, sum of normal outer products), so the result does not depend
on how the survey was cut into slabs.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np

from hpcfault.faults.link import by_first_member
from hpcfault.faults.orientation import COMPONENTS, normals_from_tensor

MAX_ROUNDS = 64
PLATE = 16.0          # variance ratio (4 x in standard deviation) that makes a fragment a plate


def _sym(six: np.ndarray) -> np.ndarray:
    m = np.empty(six.shape[:-1] + (3, 3))
    for c, (a, b) in enumerate(COMPONENTS):
        m[..., a, b] = six[..., c]
        m[..., b, a] = six[..., c]
    return m


def msd(normal: np.ndarray, centroid: np.ndarray, cov: np.ndarray, other_centroid: np.ndarray) -> np.ndarray:
    """Mean squared distance of point clouds (centroid, covariance) to planes (normal, other_centroid)."""
    d = centroid - other_centroid
    return np.einsum("...i,...ij,...j->...", normal, cov, normal) + np.einsum("...i,...i->...", normal, d) ** 2


def plane_normals(cov: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """The normal of each fragment's plane: of the plane fitted to its voxels where the fragment is a
    plate (its second-largest spread at least PLATE times its thickness and at least 2 voxels), else
    its mean normal (a strip or a blob has no fitted plane)."""
    w, v = np.linalg.eigh(cov)
    plate = (w[:, 1] >= PLATE * np.maximum(w[:, 0], 0.0)) & (w[:, 1] >= 4.0)
    return np.where(plate[:, None], v[:, :, 0], normal)


def neighbours(pairs: np.ndarray, connector: np.ndarray) -> np.ndarray:
    """(k, 2) sorted distinct pairs of non-connector objects that touch directly or through one
    connector object."""
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    both = np.concatenate([pairs, pairs[:, ::-1]])
    big_a, big_b = ~connector[both[:, 0]], ~connector[both[:, 1]]
    direct = both[big_a & big_b]
    via = both[connector[both[:, 0]] & big_b]
    out = [np.sort(direct, axis=1)]
    if len(via):
        via = np.unique(via, axis=0)
        starts = np.flatnonzero(np.r_[True, np.diff(via[:, 0]) != 0])
        for lo, hi in zip(starts, np.r_[starts[1:], len(via)]):
            if hi - lo > 1:
                out.append(np.array(list(combinations(via[lo:hi, 1], 2)), np.int64).reshape(-1, 2))
    cand = np.concatenate(out)
    cand = cand[cand[:, 0] != cand[:, 1]]
    return np.unique(np.sort(cand, axis=1), axis=0) if len(cand) else cand.reshape(0, 2)


def _scores(sums: dict, cand: np.ndarray, angle: float) -> np.ndarray:
    """Larger of the two RMS-squared plane distances of each candidate pair (inf when the mean normals
    disagree by more than the angle)."""
    n = sums["count"].astype(np.float64)
    c = sums["pos"] / n[:, None]
    cov = _sym(sums["pos2"]) / n[:, None, None] - np.einsum("ki,kj->kij", c, c)
    normal, _ = normals_from_tensor(sums["tensor"])
    plane = plane_normals(cov, normal)
    a, b = cand[:, 0], cand[:, 1]
    ab = msd(plane[a], c[b], cov[b], c[a])
    ba = msd(plane[b], c[a], cov[a], c[b])
    agree = np.abs(np.einsum("ij,ij->i", normal[a], normal[b])) >= np.cos(np.radians(angle))
    return np.where(agree, np.maximum(ab, ba), np.inf)


def coplanar_groups(sums: dict, touch: np.ndarray, angle: float, dist: float, min_voxels: int) -> np.ndarray:
    """Group of each object (the objects of one group are one fault), numbered by the group's
    smallest object index. `touch`: (k, 2) pairs of objects that touch."""
    from hpcfault.faults.merge import reduce_sums

    m = len(sums["count"])
    if m == 0:
        return np.zeros(0, np.int64)
    cur = sums
    pairs = np.unique(np.sort(np.asarray(touch, np.int64).reshape(-1, 2), axis=1), axis=0)
    members = np.arange(m)
    for _ in range(MAX_ROUNDS):
        connector = (cur["count"] < min_voxels) | (2 * cur["junction"] >= cur["count"])
        cand = neighbours(pairs, connector)
        if len(cand) == 0:
            break
        score = _scores(cur, cand, angle)
        ok = score <= dist * dist
        cand, score = cand[ok], score[ok]
        if len(cand) == 0:
            break
        order = np.lexsort((cur["key"][cand[:, 1]], cur["key"][cand[:, 0]], score))
        used = np.zeros(len(cur["count"]), bool)
        target = np.arange(len(cur["count"]))
        for k in order:
            ia, ib = cand[k]
            if not used[ia] and not used[ib]:
                used[ia] = used[ib] = True
                target[max(ia, ib)] = min(ia, ib)
        keep = np.flatnonzero(target == np.arange(len(target)))
        renum = np.full(len(target), -1)
        renum[keep] = np.arange(len(keep))
        new = renum[target]
        cur = reduce_sums(cur, new, len(keep))
        members = new[members]
        pairs = np.sort(new[pairs], axis=1)
        pairs = np.unique(pairs[pairs[:, 0] != pairs[:, 1]], axis=0)
    return by_first_member(members)
