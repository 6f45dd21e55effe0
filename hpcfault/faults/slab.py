"""One inline slab: fault probability -> ridge voxels, their local components and border pairs. Pure.

Input: the probability of inlines [lo, hi) of the survey (the slab's core [a, b) plus its halo), and
optionally a model's dip and strike for the same inlines. Output (`SlabResult`): the ridge voxels of
the core, sorted by their voxel key (inline, crossline, time order), each with its probability,
normal, dip and strike and its local component; per component the mergeable sums the fault table
needs (and how many of its voxels are junction voxels, see link.py); the pairs of components that
touch without linking; and the pairs from the core's last inline into inline b (the next slab's
first), as (local component, voxel key, linked) that the merge resolves with the next slab's voxels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpcfault.errors import HpcfaultError
from hpcfault.faults.link import components, touching_pairs
from hpcfault.faults.orientation import (angle_difference, check_angles, dip_strike, normals_from_dip_strike,
                                         normals_from_tensor, outer6, radius, structure_tensor_at)
from hpcfault.faults.plan import FaultParams
from hpcfault.faults.thin import ridge_mask, smooth, voxel_area

PROB_TOLERANCE = 1e-3


def voxel_key(t: np.ndarray, i: np.ndarray, x: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """One int64 per voxel, ordered by inline, then crossline, then time."""
    nt, _, nx = shape
    return (np.asarray(i, np.int64) * nx + np.asarray(x, np.int64)) * nt + np.asarray(t, np.int64)


def key_coords(key: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """(n, 3) (t, i, x) of voxel keys."""
    nt, _, nx = shape
    key = np.asarray(key, np.int64)
    return np.stack([key % nt, key // (nt * nx), (key // nt) % nx], axis=1)


@dataclass(frozen=True, eq=False)
class SlabResult:
    keys: np.ndarray          # (n,) int64, sorted
    prob: np.ndarray          # (n,) float32
    normal: np.ndarray        # (n, 3) float32, canonical
    dip: np.ndarray           # (n,) float32 degrees
    strike: np.ndarray        # (n,) float32 degrees, grid strike
    label: np.ndarray         # (n,) int64 local component
    comp: dict                # per component: key, count, area, pmax, psum, tensor (m, 6), pos (m, 3), lo, hi
    border_label: np.ndarray  # (k,) local component of a core voxel on inline b - 1 ...
    border_key: np.ndarray    # (k,) ... touching this voxel on inline b ...
    border_linked: np.ndarray  # (k,) ... and linked to it (else they only touch)
    touch: np.ndarray         # (p, 2) pairs of local components that touch without linking

    def arrays(self) -> dict:
        out = {"keys": self.keys, "prob": self.prob, "normal": self.normal, "dip": self.dip,
               "strike": self.strike, "label": self.label, "border_label": self.border_label,
               "border_key": self.border_key, "border_linked": self.border_linked, "touch": self.touch}
        out.update({f"comp_{k}": v for k, v in self.comp.items()})
        return out

    @classmethod
    def from_arrays(cls, d) -> "SlabResult":
        comp = {k[5:]: np.asarray(d[k]) for k in d.keys() if k.startswith("comp_")}
        return cls(keys=d["keys"], prob=d["prob"], normal=d["normal"], dip=d["dip"], strike=d["strike"],
                   label=d["label"], comp=comp, border_label=d["border_label"], border_key=d["border_key"],
                   border_linked=d["border_linked"], touch=d["touch"])


def model_normals(tensor_normals: np.ndarray, model: tuple, flat: np.ndarray, where: str) -> np.ndarray:
    """Normals from a model's dip and/or strike (arrays or None) at `flat`; what the model lacks comes
    from the structure tensor's normals, and so does the side the fault dips to (strike or strike +
    180), so a strike given modulo 180 works."""
    t_dip, t_strike = dip_strike(tensor_normals)
    mdip, mstrike = (None if m is None else np.asarray(m, np.float64).ravel()[flat] for m in model)
    check_angles(t_dip if mdip is None else mdip, t_strike if mstrike is None else mstrike, where)
    dip = t_dip if mdip is None else mdip
    strike = t_strike if mstrike is None else mstrike
    if mstrike is not None:
        strike = np.where(np.abs(angle_difference(strike, t_strike)) > 90.0, strike + 180.0, strike) % 360.0
    return normals_from_dip_strike(dip, strike)


def _check_prob(prob: np.ndarray, where: str) -> np.ndarray:
    p = np.asarray(prob, np.float32)
    if p.size:
        lo, hi = float(np.min(p)), float(np.max(p))
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < -PROB_TOLERANCE or hi > 1 + PROB_TOLERANCE:
            raise HpcfaultError(f"{where}: fault probabilities must be finite values in [0, 1] (got {lo:g}..{hi:g}); "
                                "pass a fault probability volume ('hpcfault predict' output) or choose it with --dataset")
    return p


def process_slab(prob: np.ndarray, lo: int, core: tuple[int, int], shape: tuple[int, int, int],
                 params: FaultParams, model: tuple | None = None,
                 where: str = "slab") -> SlabResult:
    """Ridge voxels and components of the core inlines `core` = (a, b) of a survey of `shape`, from
    `prob` holding inlines [lo, lo + prob.shape[1]). `model` = (dip, strike): arrays like `prob` or None."""
    a, b = core
    ni = shape[1]
    p = _check_prob(prob, f"{where} (inlines {a}..{b - 1})")
    s = smooth(p, params.smooth)
    r0, r1 = a - lo, min(b + 1, ni) - lo                       # the core plus the next slab's first inline
    region = p[:, r0:r1, :]
    t, i, x = np.nonzero(region >= params.low)
    i = i + r0
    flat = np.ravel_multi_index((t, i, x), p.shape)
    pv = p.ravel()[flat]
    # the tensor is needed on the region only: smooth its products over the region plus their reach
    m = radius(params.tensor) + 1
    c0, c1 = max(0, r0 - m), min(p.shape[1], r1 + m)
    sub = np.ascontiguousarray(s[:, c0:c1, :])
    tensor = structure_tensor_at(sub, params.tensor, np.ravel_multi_index((t, i - c0, x), sub.shape))
    del sub
    normals, planar = normals_from_tensor(tensor)
    if model is not None:
        normals = model_normals(normals, model, flat, where)
    keep = ridge_mask(s, np.stack([t, i, x], axis=1), normals)
    del s
    t, i, x, pv, normals, planar = t[keep], i[keep], x[keep], pv[keep], normals[keep], planar[keep]
    gi = i + lo                                                  # survey inline index
    keys = voxel_key(t, gi, x, shape)
    order = np.argsort(keys, kind="stable")
    t, gi, x, pv, normals, keys, planar = (t[order], gi[order], x[order], pv[order], normals[order], keys[order],
                                           planar[order])
    coords = np.stack([t, gi - a, x], axis=1)                    # relative to the region's first inline
    planar_ok = planar >= params.planarity
    src, dst, linked = touching_pairs(coords, normals, planar_ok, (shape[0], r1 - r0, shape[2]), params.angle)
    in_core = gi < b
    n_core = int(in_core.sum())                                 # core voxels come first (sorted by inline)
    inside = in_core[src] & in_core[dst]
    label = components(n_core, src[inside & linked], dst[inside & linked])
    cross = in_core[src] & ~in_core[dst]
    touch = inside & ~linked
    touch_pairs = _unique_pairs(label[src[touch]], label[dst[touch]])
    dip, strike = dip_strike(normals[:n_core])
    comp = component_sums(label, keys[:n_core], np.stack([t, gi, x], axis=1)[:n_core], pv[:n_core],
                          normals[:n_core])
    comp["junction"] = np.bincount(label, weights=(~planar_ok[:n_core]).astype(np.float64),
                                   minlength=len(comp["count"])).astype(np.int64)
    return SlabResult(keys=keys[:n_core], prob=pv[:n_core].astype(np.float32),
                      normal=normals[:n_core].astype(np.float32), dip=dip.astype(np.float32),
                      strike=strike.astype(np.float32), label=label, comp=comp,
                      border_label=label[src[cross]], border_key=keys[dst[cross]],
                      border_linked=linked[cross], touch=touch_pairs)


def _unique_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(k, 2) distinct unordered pairs (smaller first) of different labels, sorted."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keep = lo != hi
    pairs = np.stack([lo[keep], hi[keep]], axis=1).astype(np.int64)
    return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)

def component_sums(label: np.ndarray, keys: np.ndarray, coords: np.ndarray, prob: np.ndarray,
                   normals: np.ndarray) -> dict:
    """Mergeable per-component sums: key (smallest voxel key is the first voxel), voxel count, area,
    max and sum of the probability, sum of normal outer products, sums of (t, i, x) and of its outer
    products, min and max of (t, i, x)."""
    m = int(label.max()) + 1 if len(label) else 0
    count = np.bincount(label, minlength=m).astype(np.int64)
    first = np.full(m, len(label), np.int64)
    np.minimum.at(first, label, np.arange(len(label)))
    pmax = np.zeros(m, np.float64)
    np.maximum.at(pmax, label, prob.astype(np.float64))
    tensor = np.stack([np.bincount(label, weights=w, minlength=m) for w in outer6(normals).T], axis=1) \
        if m else np.zeros((0, 6))
    c = coords.astype(np.float64)
    pos = np.stack([np.bincount(label, weights=v, minlength=m) for v in c.T], axis=1) if m else np.zeros((0, 3))
    pos2 = np.stack([np.bincount(label, weights=v, minlength=m) for v in outer6(c).T], axis=1) \
        if m else np.zeros((0, 6))
    lo = np.full((m, 3), np.iinfo(np.int64).max, np.int64)
    hi = np.full((m, 3), -1, np.int64)
    for k in range(3):
        np.minimum.at(lo[:, k], label, coords[:, k])
        np.maximum.at(hi[:, k], label, coords[:, k])
    return {"key": keys[first] if m else np.zeros(0, np.int64), "count": count, "area": np.bincount(label, weights=voxel_area(normals), minlength=m),
            "pmax": pmax, "psum": np.bincount(label, weights=prob.astype(np.float64), minlength=m),
            "tensor": tensor.reshape(m, 6), "pos": pos.reshape(m, 3), "pos2": pos2.reshape(m, 6), "lo": lo, "hi": hi}
