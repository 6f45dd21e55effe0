"""Fault sticks: a fault object cut by every k-th inline (or crossline), as polylines along time. Pure.

A fault whose strike runs closer to the axis of increasing inline number crosses inline sections
at a steep angle and is cut by every k-th inline; a fault striking closer to the crossline axis is
cut by every k-th crossline instead (an inline section would run along it). On one section the
fault's voxels are (time, position along the section); a stick is the mean position at each time,
ordered by time, with a node every `step` samples (and at its ends). A gap of more than `step`
samples along time starts a new stick. Sections are those whose index (from the survey's first
line, 0-based) is a multiple of k.
"""
from __future__ import annotations

import numpy as np

INLINE, XLINE = "inline", "xline"


def section_kind(strike_grid: float) -> str:
    """Cut by inlines when the strike runs within 45 degrees of the axis of increasing inline number."""
    ph = np.radians(strike_grid)
    return INLINE if abs(np.cos(ph)) >= abs(np.sin(ph)) else XLINE


def section_sticks(t: np.ndarray, along: np.ndarray, step: int) -> list[np.ndarray]:
    """Sticks on one section from its voxels (time index t, position along the section): a list of
    (m, 2) float arrays (time index, position), ordered by time, m >= 2."""
    if len(t) == 0:
        return []
    t = np.asarray(t, np.int64)
    times, inv = np.unique(t, return_inverse=True)
    mean_along = np.bincount(inv, weights=np.asarray(along, np.float64)) / np.bincount(inv)
    breaks = np.flatnonzero(np.diff(times) > step) + 1
    sticks = []
    for part_t, part_a in zip(np.split(times, breaks), np.split(mean_along, breaks)):
        if len(part_t) < 2:
            continue
        rel = part_t - part_t[0]
        pick = np.flatnonzero(rel % step == 0)
        if pick[-1] != len(part_t) - 1:
            pick = np.append(pick, len(part_t) - 1)
        sticks.append(np.stack([part_t[pick].astype(np.float64), part_a[pick]], axis=1))
    return sticks


def fault_sticks(coords: np.ndarray, kind: str, every: int, step: int) -> list[tuple[int, np.ndarray]]:
    """Sticks of one fault from its voxels `coords` ((n, 3) (t, i, x) survey indices): a list of
    (section index, (m, 3) (t, i, x) float nodes), by section, then time."""
    coords = np.asarray(coords, np.int64)
    sec_axis, along_axis = (1, 2) if kind == INLINE else (2, 1)
    on = coords[coords[:, sec_axis] % every == 0]
    out = []
    for sec in np.unique(on[:, sec_axis]):
        pts = on[on[:, sec_axis] == sec]
        for stick in section_sticks(pts[:, 0], pts[:, along_axis], step):
            nodes = np.empty((len(stick), 3))
            nodes[:, 0] = stick[:, 0]
            nodes[:, sec_axis] = sec
            nodes[:, along_axis] = stick[:, 1]
            out.append((int(sec), nodes))
    return out
