"""The write pass (rank 0): the slabs' ridge voxels with their global fault ids -> every output file.

Streams the slab shards in inline order, so memory stays at one slab (plus the sticks and, for
faults cut by crosslines, the voxels on every k-th crossline):

    fault-ids.h5          volume file, `data` int32: fault id of each ridge voxel (0 elsewhere)
    thinned.h5            volume file, `data` float32: probability on the ridge voxels of every object
                          kept by hysteresis (0 elsewhere); `dip`, `strike` float32 degrees there
    points/F0001.csv      one point set per fault (formats.POINT_COLUMNS)
    sticks/opendtect/F0001.txt, sticks/opendtect-all.txt, sticks/charisma.txt
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from hpcfault.faults.formats import Stick, write_charisma, write_opendtect, write_points
from hpcfault.faults.merge import Objects
from hpcfault.faults.orientation import axial_difference
from hpcfault.faults.plan import FaultParams, SlabPlan
from hpcfault.faults.slab import SlabResult, key_coords
from hpcfault.faults.sticks import INLINE, fault_sticks, section_kind
from hpcfault.faults.survey import SurveyAxes
from hpcfault.faults.table import fault_name, fault_orientation


@dataclass(frozen=True)
class WriteSummary:
    ridge_voxels: int
    thinned_voxels: int
    fault_voxels: int
    sticks: int
    dip_sq: np.ndarray
    strike_sq: np.ndarray
    stick_counts: np.ndarray
    kinds: list


def write_all(out: Path, shards: Sequence[Path], plan: SlabPlan, objects: Objects, params: FaultParams,
              geometry, axes: SurveyAxes, attrs: dict) -> WriteSummary:
    from hpcfault.io.volume import create_volume

    n = len(objects.faults["count"])
    _, mean_dip, mean_strike = fault_orientation(objects.faults)
    kinds = [section_kind(s) for s in mean_strike]
    names = [fault_name(k + 1, n) for k in range(n)]
    dip_sq, strike_sq = np.zeros(n), np.zeros(n)
    sticks: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(n)]
    xline_voxels: list[list[np.ndarray]] = [[] for _ in range(n)]
    (out / "points").mkdir()
    ridge = thinned = on_faults = 0
    shape = plan.shape
    with create_volume(out / "fault-ids.h5", shape, "int32", geometry=geometry, attrs=attrs) as fid_file, \
            create_volume(out / "thinned.h5", shape, "float32", geometry=geometry, attrs=attrs,
                          extra={"dip": "float32", "strike": "float32"}) as thin_file:
        fid_file.attrs["fault_count"] = n
        for k, (a, b) in enumerate(plan.ranges):
            with np.load(shards[k]) as z:
                res = SlabResult.from_arrays(z)
            fid = objects.luts[k][res.label] if len(res.label) else np.zeros(0, np.int64)
            coords = key_coords(res.keys, shape)
            ridge += len(fid)
            keep = fid >= 0
            thinned += int(keep.sum())
            _write_slab(fid_file, thin_file, a, b, shape, coords[keep], fid[keep], res, keep)
            on = fid > 0
            on_faults += int(on.sum())
            f, c = fid[on] - 1, coords[on]
            np.add.at(dip_sq, f, (res.dip[on] - mean_dip[f]) ** 2)
            np.add.at(strike_sq, f, axial_difference(res.strike[on], mean_strike[f]) ** 2)
            _append_points(out / "points", f, c, res, on, names, axes)
            for j in np.unique(f):
                vox = c[f == j]
                if kinds[j] == INLINE:
                    sticks[j].extend(fault_sticks(vox, INLINE, params.stick_every, params.stick_step))
                else:
                    xline_voxels[j].append(vox[vox[:, 2] % params.stick_every == 0])
    for j in range(n):
        if kinds[j] != INLINE and xline_voxels[j]:
            sticks[j] = fault_sticks(np.concatenate(xline_voxels[j]), kinds[j], params.stick_every, params.stick_step)
    counts = np.array([len(s) for s in sticks], np.int64)
    _write_sticks(out / "sticks", names, sticks, axes)
    return WriteSummary(ridge_voxels=ridge, thinned_voxels=thinned, fault_voxels=on_faults, sticks=int(counts.sum()),
                        dip_sq=dip_sq, strike_sq=strike_sq, stick_counts=counts, kinds=kinds)


def _write_slab(fid_file, thin_file, a: int, b: int, shape, coords, fid, res: SlabResult, keep) -> None:
    t, _, x = shape
    idx = (coords[:, 0], coords[:, 1] - a, coords[:, 2])
    ids = np.zeros((t, b - a, x), np.int32)
    ids[idx] = np.where(fid > 0, fid, 0)
    fid_file["data"][:, a:b, :] = ids
    del ids
    for name, values in (("data", res.prob), ("dip", res.dip), ("strike", res.strike)):
        arr = np.zeros((t, b - a, x), np.float32)
        arr[idx] = values[keep]
        thin_file[name][:, a:b, :] = arr


def _append_points(folder: Path, f: np.ndarray, c: np.ndarray, res: SlabResult, on: np.ndarray,
                   names: list, axes: SurveyAxes) -> None:
    if len(f) == 0:
        return
    x, y = axes.xy(c[:, 1], c[:, 2])
    strike = res.strike[on].astype(np.float64)
    rows = np.stack([axes.inline(c[:, 1]), axes.xline(c[:, 2]), axes.time(c[:, 0]), x, y,
                     res.dip[on].astype(np.float64), strike, axes.strike_north(strike),
                     res.prob[on].astype(np.float64)], axis=1)
    order = np.argsort(f, kind="stable")
    f, rows = f[order], rows[order]
    bounds = np.flatnonzero(np.diff(f)) + 1
    for part_f, part in zip(np.split(f, bounds), np.split(rows, bounds)):
        path = folder / f"{names[part_f[0]]}.csv"
        new = not path.exists()
        with open(path, "a", encoding="ascii") as fh:
            write_points(fh, part, header=new)


def _write_sticks(folder: Path, names: list, sticks: list, axes: SurveyAxes) -> None:
    (folder / "opendtect").mkdir(parents=True)
    xy = axes.has_xy
    all_sticks: list[Stick] = []
    for name, fs in zip(names, sticks):
        mine = []
        for number, (_, nodes) in enumerate(fs):
            x, y = axes.xy(nodes[:, 1], nodes[:, 2])
            table = np.stack([axes.inline(nodes[:, 1]), axes.xline(nodes[:, 2]), x, y, axes.time(nodes[:, 0])], axis=1)
            mine.append(Stick(name, number, table))
        with open(folder / "opendtect" / f"{name}.txt", "w", encoding="ascii") as fh:
            write_opendtect(fh, mine, bulk=False, xy=xy)
        all_sticks.extend(mine)
    with open(folder / "opendtect-all.txt", "w", encoding="ascii") as fh:
        write_opendtect(fh, all_sticks, bulk=True, xy=xy)
    with open(folder / "charisma.txt", "w", encoding="ascii") as fh:
        if xy:
            write_charisma(fh, all_sticks)
        else:
            write_charisma(fh, [Stick(s.name, s.number, np.nan_to_num(s.nodes)) for s in all_sticks])


def fsync_tree(folder: Path) -> None:
    """Flush every file of the output folder to disk before it is renamed into place."""
    for root, _, files in os.walk(folder):
        for name in files:
            with open(os.path.join(root, name), "rb") as fh:
                os.fsync(fh.fileno())
