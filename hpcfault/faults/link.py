"""Linking ridge voxels into fault objects: orientation-compatible neighbours, components, merges.

Two ridge voxels that touch (26-neighbourhood) join when their normals agree within an angle and the
step between them stays within both their planes (see `compatible`); so two faults that cross stay
two objects, and a fault's voxels stay one. Where faults meet, the structure tensor is not planar
(it holds both faults' gradients): such junction voxels join only each other. Touching voxels that
do not join still record that their objects touch (planes.py joins fragments that touch). Components are numbered in the order of their smallest voxel
key, so the numbering depends only on the voxel sets, never on how the survey was cut.
"""
from __future__ import annotations

import numpy as np

# the 13 "forward" neighbour steps (dt, di, dx) of the 26-neighbourhood: every touching pair once,
# and every step with di = +1 among them (those cross from one slab's last inline to the next slab)
FORWARD: tuple[tuple[int, int, int], ...] = tuple(
    (dt, di, dx) for di in (0, 1) for dx in (-1, 0, 1) for dt in (-1, 0, 1)
    if (di, dx, dt) > (0, 0, 0))


def compatible(na: np.ndarray, nb: np.ndarray, step: np.ndarray, cos_max: float) -> np.ndarray:
    """Pairs of unit normals (m, 3) that agree within the angle, with the step between them
    ((m, 3) voxels) leaving neither plane by more than that plane's digital thickness (max |n_k|,
    the thickness of a surface one voxel thick along its dominant axis): a step that crosses onto
    another surface (where two faults meet) is refused."""
    agree = np.abs(np.einsum("ij,ij->i", na, nb)) >= cos_max
    in_a = np.abs(np.einsum("ij,ij->i", na, step)) <= np.abs(na).max(axis=1) + 1e-6
    in_b = np.abs(np.einsum("ij,ij->i", nb, step)) <= np.abs(nb).max(axis=1) + 1e-6
    return agree & in_a & in_b


def neighbour_pairs(coords: np.ndarray, shape: tuple[int, int, int]) -> list[tuple[np.ndarray, np.ndarray, tuple]]:
    """For each forward step, (a, b, step): indices into `coords` ((n, 3) (t, i, x) inside `shape`)
    of touching voxel pairs b = a + step."""
    index = np.full(shape, -1, np.int32 if len(coords) < 2 ** 31 else np.int64)
    index[tuple(coords.T)] = np.arange(len(coords))
    out = []
    for step in FORWARD:
        nb = coords + np.asarray(step)
        ok = np.all((nb >= 0) & (nb < np.asarray(shape)), axis=1)
        a = np.flatnonzero(ok)
        b = index[tuple(nb[ok].T)].astype(np.int64)
        hit = b >= 0
        out.append((a[hit], b[hit], step))
    return out


def touching_pairs(coords: np.ndarray, normals: np.ndarray, planar: np.ndarray, shape: tuple[int, int, int],
                   angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, linked) for every touching pair of voxels: linked when both are planar and
    `compatible`, or when both are junction voxels (not planar: where faults meet), which link
    among themselves so that a junction is one object that the fragments around it touch."""
    cos_max = np.cos(np.radians(angle))
    src, dst, link = [], [], []
    for a, b, step in neighbour_pairs(coords, shape):
        if len(a) == 0:
            continue
        ok = compatible(normals[a], normals[b], np.broadcast_to(np.asarray(step, np.float64), (len(a), 3)), cos_max)
        pa, pb = planar[a], planar[b]
        src.append(a)
        dst.append(b)
        link.append((ok & pa & pb) | (~pa & ~pb))
    if not src:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool)
    return np.concatenate(src), np.concatenate(dst), np.concatenate(link)


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of n nodes joined by the pairs (a, b): labels 0.. numbered in the order
    of each component's smallest node index."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if n == 0:
        return np.zeros(0, np.int64)
    graph = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n))
    _, raw = connected_components(graph, directed=False)
    return by_first_member(raw)


def by_first_member(labels: np.ndarray) -> np.ndarray:
    """`labels` (0..L-1 over n members) renumbered 0.. in the order of each label's first member."""
    n = len(labels)
    first = np.full(labels.max() + 1, n, np.int64)
    np.minimum.at(first, labels, np.arange(n))
    order = np.argsort(first, kind="stable")
    relabel = np.empty_like(order)
    relabel[order] = np.arange(len(order))
    return relabel[labels]
