"""Fault objects against a synthetic survey's known faults (for tests, tools and docs; whole volumes
in memory, so for small surveys).

The truth is the synthetic's `fault_ids` volume and its `faults` attribute (each fault's centre,
dip, strike, style). The generator applies faults in the order of their ids, so a fault is cut and
offset by every later fault that crosses it; an interpreter (and any fault-object method) sees the
parts on either side of such a cut as separate fault segments. So the comparison is per piece: the
26-connected parts of one fault's labels once its voxels within `cut` voxels of a later fault's
labels are set aside. A piece's true orientation is its fault's nominal plane (planar faults), and
also the plane fitted to the piece's voxels (a piece moved by a later fault's tapering slip is
slightly rotated). Matching uses a tolerance of `tol` voxels ("near"), accuracy is measured on its own. A
piece of at least `min_area` is recovered as one object when, of its voxels near some fault object,
at least `share` are near one object (the fault is not split); of that object's voxels near any
labelled fault, at least `purity` are near this piece (it is not merged with another fault); no other
piece claims the object; and at least half the piece is near a fault object (FOUND). Reported with
it: `found` (share of the piece near any fault object), `coverage` (near the matched object),
`beyond` (share of the object's voxels near no labelled fault: it runs on where the fault's slip fell
below the labels' one sample, or is spurious), and the ridge accuracy `ridge_within_1`: of the
object's voxels near the piece, the share within one voxel (Euclidean) of the fault's labels.

Per fault (`by_fault`): a fault cut into offset pieces may come out as one object per piece or as
one object for all of them (an interpreter may want either). A fault is recovered when each of its
scored pieces is found, not split (`share`), and lies in an object of which at least `purity` of
the voxels near labelled faults are near this fault (`fault_purity`: no other fault merged in), and
no other fault's piece lies in that object.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpcfault.faults.orientation import axial_difference, canonical, dip_strike, normals_from_dip_strike
from hpcfault.faults.thin import voxel_area

CUBE = np.ones((3, 3, 3), bool)
FOUND = 0.5            # a recovered piece has at least half its voxels near a fault object
TOL = 3                # voxels: "near" for matching objects with pieces (accuracy is measured separately)


@dataclass(frozen=True)
class PieceMatch:
    fault: int              # synthetic fault id
    piece: int              # 1.. within the fault, largest first
    voxels: int
    area: float
    dip: float              # nominal
    strike: float
    fit_dip: float          # plane fitted to the piece's voxels
    fit_strike: float
    object: int             # best matching fault id (0: none)
    found: float
    share: float
    coverage: float
    purity: float
    fault_purity: float     # of the object's voxels near labelled faults, the share near this fault (any piece)
    beyond: float           # share of the object's voxels farther than `tol` from every labelled fault
    one_to_one: bool
    obj_dip: float
    obj_strike: float
    ridge_within_1: float   # of the object's voxels near the piece, the share within 1 voxel of the fault's labels
    ridge_on: float         # share exactly on a labelled voxel
    meets: tuple = ()       # other faults whose labels come within cut + 2 voxels of this piece

    @property
    def recovered(self) -> bool:
        return self.object > 0 and self.one_to_one and self.found >= FOUND

    def errors(self, fitted: bool = False) -> tuple[float, float]:
        """(|dip error|, |strike error| on the strike line, mod 180) in degrees."""
        d, s = (self.fit_dip, self.fit_strike) if fitted else (self.dip, self.strike)
        return abs(self.obj_dip - d), abs(float(axial_difference(self.obj_strike, s)))


def fitted_plane(coords: np.ndarray) -> tuple[float, float]:
    """(dip, strike) of the least-squares plane through voxel coordinates (n, 3)."""
    c = coords - coords.mean(axis=0)
    w, v = np.linalg.eigh(c.T @ c)
    d, s = dip_strike(canonical(v[:, 0])[None])
    return float(d[0]), float(s[0])


def compare(synth: str | Path, faults_dir: str | Path, min_area: float = 100.0, share: float = 0.9,
            purity: float = 0.9, cut: int = 2, tol: int = TOL) -> list[PieceMatch]:
    """Match every labelled piece of at least `min_area` with the fault objects of `faults_dir`."""
    import h5py
    from scipy.ndimage import binary_dilation, distance_transform_edt, label

    with h5py.File(synth, "r") as f:
        ids = f["fault_ids"][...]
        truth = {int(d["id"]): d for d in json.loads(f.attrs["faults"])}
    with h5py.File(Path(faults_dir) / "fault-ids.h5", "r") as f:
        obj = f["data"][...]
    table = json.loads((Path(faults_dir) / "faults.json").read_text())["faults"]
    obj_angles = {row["id"]: (row["dip"], row["strike"]) for row in table}
    pieces = []
    later = np.zeros(ids.shape, bool)
    for fid, d in sorted(truth.items(), reverse=True):
        mine = ids == fid
        lab, n = label(mine & ~later, structure=CUBE)
        if cut and mine.any():
            later |= binary_dilation(mine, CUBE, iterations=cut)
        normal = normals_from_dip_strike(np.array([d["dip"]]), np.array([d["strike"]]))
        area_per = float(voxel_area(normal)[0])
        sizes = np.bincount(lab.ravel(), minlength=n + 1)[1:]
        for rank, p in enumerate(np.argsort(-sizes, kind="stable"), 1):
            if sizes[p] * area_per >= min_area:
                pieces.append((fid, rank, lab == p + 1, float(sizes[p] * area_per)))
    pieces.sort(key=lambda q: (q[0], q[1]))
    grow = (lambda m: binary_dilation(m, CUBE, iterations=tol))  # noqa: E731
    near_any_object = grow(obj > 0)
    near_any_fault = grow(ids > 0)
    dist_to = {fid: distance_transform_edt(ids != fid) for fid in truth}
    near_fault = {fid: grow(ids == fid) for fid in truth}     # "near" as for pieces and objects
    claims: dict[int, list[int]] = {}
    rows = []
    for k, (fid, rank, mask, area) in enumerate(pieces):
        near = grow(mask)
        counts = np.bincount(obj[near].ravel(), minlength=1)
        counts[0] = 0
        best = int(np.argmax(counts)) if counts.sum() else 0
        cov = pur = fpur = within = on = part = beyond = 0.0
        found = float((near_any_object & mask).sum() / mask.sum())
        if best:
            mine = obj == best
            cov = float((grow(mine) & mask).sum() / mask.sum())
            part = cov / found
            on_faults = mine & near_any_fault
            pur = float((on_faults & near).sum() / max(on_faults.sum(), 1))
            fpur = float((on_faults & near_fault[fid]).sum() / max(on_faults.sum(), 1))
            beyond = float(1.0 - on_faults.sum() / mine.sum())
            dist = dist_to[fid][mine & near]
            within, on = float((dist <= 1.0).mean()), float((dist == 0).mean())
            if part >= share and pur >= purity:
                claims.setdefault(best, []).append(k)
        d = truth[fid]
        reach = binary_dilation(mask, CUBE, iterations=cut + 2)
        meets = tuple(int(v) for v in np.unique(ids[reach]) if v and v != fid)
        fd, fs = fitted_plane(np.argwhere(mask).astype(np.float64))
        od, os_ = obj_angles.get(best, (np.nan, np.nan))
        rows.append(dict(fault=fid, piece=rank, voxels=int(mask.sum()), area=area, dip=float(d["dip"]),
                         strike=float(d["strike"]), fit_dip=fd, fit_strike=fs, object=best, found=found, share=part,
                         coverage=cov, purity=pur, fault_purity=fpur, beyond=beyond, obj_dip=float(od), obj_strike=float(os_),
                         ridge_within_1=within, ridge_on=on, meets=meets))
    out = []
    for k, r in enumerate(rows):
        ok = r["object"] > 0 and claims.get(r["object"]) == [k]
        out.append(PieceMatch(one_to_one=ok, **r))
    return out


def by_fault(matches: list[PieceMatch], share: float = 0.9, purity: float = 0.9) -> dict[int, str]:
    """Each fault with scored pieces (of one survey's matches): "one object" (all its pieces in one
    object), "one per piece" (each piece its own object), "mixed", or "missed" (a piece not found,
    split, or in an object that holds another fault)."""
    faults: dict[int, list[PieceMatch]] = {}
    for m in matches:
        faults.setdefault(m.fault, []).append(m)
    owner: dict[int, set[int]] = {}
    for m in matches:
        if m.object:
            owner.setdefault(m.object, set()).add(m.fault)
    out = {}
    for fid, pieces in sorted(faults.items()):
        ok = all(m.object > 0 and m.found >= FOUND and m.share >= share and m.fault_purity >= purity
                 and owner[m.object] == {fid} for m in pieces)
        objects = {m.object for m in pieces}
        out[fid] = ("missed" if not ok else "one object" if len(objects) == 1
                    else "one per piece" if len(objects) == len(pieces) else "mixed")
    return out


def summary(matches: list[PieceMatch], objects: int) -> dict:
    """Counts, and the median and worst errors and ridge shares of the recovered pieces."""
    rec = [m for m in matches if m.recovered]
    err = np.array([m.errors() for m in rec]).reshape(-1, 2)
    fit = np.array([m.errors(fitted=True) for m in rec]).reshape(-1, 2)
    ridge = np.array([m.ridge_within_1 for m in rec])
    stat = (lambda a, f: float(f(a)) if len(a) else None)  # noqa: E731
    return {"pieces": len(matches), "recovered": len(rec), "objects": objects,
            "median_dip_error": stat(err[:, 0], np.median), "max_dip_error": stat(err[:, 0], np.max),
            "median_strike_error": stat(err[:, 1], np.median), "max_strike_error": stat(err[:, 1], np.max),
            "max_dip_error_fitted": stat(fit[:, 0], np.max), "max_strike_error_fitted": stat(fit[:, 1], np.max),
            "median_ridge_within_1": stat(ridge, np.median), "min_ridge_within_1": stat(ridge, np.min),
            "min_coverage": min((m.coverage for m in rec), default=None),
            "min_share": min((m.share for m in rec), default=None)}
