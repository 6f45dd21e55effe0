"""The per-fault table: one row per fault object, as CSV and JSON.

Columns (survey units: line numbers, the sample unit of the survey, CDP X/Y as in the SEG-Y):
id, name, voxels (ridge voxels), area (voxel units: sum over voxels of 1 / max|n_k|), dip and its
spread, strike (grid convention) and its spread (on the strike line, mod 180), strike_north (where
the geometry holds CDP X/Y), inline/crossline/time extent, centroid (inline, crossline, time, X,
Y), mean and largest probability, the number of sticks and the sections that cut them. Dip and
strike of a fault are those of its mean normal (the dominant eigenvector of the sum of its voxels'
normal outer products); the spreads are root-mean-square differences of its voxels from them.
"""
from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np

from hpcfault.faults.orientation import dip_strike, mean_normal
from hpcfault.faults.survey import SurveyAxes

COLUMNS = ("id", "name", "voxels", "area", "dip", "dip_std", "strike", "strike_std", "strike_north",
           "inline_min", "inline_max", "crossline_min", "crossline_max", "time_min", "time_max",
           "centroid_inline", "centroid_crossline", "centroid_time", "centroid_x", "centroid_y",
           "prob_mean", "prob_max", "sticks", "stick_sections")


def fault_name(fid: int, total: int) -> str:
    return f"F{fid:0{max(4, len(str(total)))}d}"


def fault_orientation(faults: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean normals (N, 3), dip (N,), grid strike (N,)) of the faults' sums."""
    normals = np.array([mean_normal(t) for t in faults["tensor"]]).reshape(-1, 3)
    dip, strike = dip_strike(normals) if len(normals) else (np.zeros(0), np.zeros(0))
    return normals, dip, strike


def fault_rows(faults: dict, dip_sq: np.ndarray, strike_sq: np.ndarray, axes: SurveyAxes,
               sticks: np.ndarray, kinds: list[str]) -> list[dict[str, Any]]:
    """Table rows of the merged fault sums (see merge.Objects.faults) and the spreads' sums."""
    _, dip, strike = fault_orientation(faults)
    count = faults["count"].astype(np.float64)
    n = len(count)
    centroid = faults["pos"] / np.maximum(count, 1)[:, None] if n else np.zeros((0, 3))
    cx, cy = axes.xy(centroid[:, 1], centroid[:, 2]) if n else (np.zeros(0), np.zeros(0))
    north = axes.strike_north(strike)
    r = (lambda v, d=2: None if not np.isfinite(v) else round(float(v), d))  # noqa: E731
    rows = []
    for k in range(n):
        lo, hi = faults["lo"][k], faults["hi"][k]
        rows.append({
            "id": k + 1, "name": fault_name(k + 1, n), "voxels": int(count[k]), "area": r(faults["area"][k], 1),
            "dip": r(dip[k]), "dip_std": r(np.sqrt(dip_sq[k] / count[k])),
            "strike": r(strike[k]), "strike_std": r(np.sqrt(strike_sq[k] / count[k])), "strike_north": r(north[k]),
            "inline_min": _num(axes.inline(lo[1])), "inline_max": _num(axes.inline(hi[1])),
            "crossline_min": _num(axes.xline(lo[2])), "crossline_max": _num(axes.xline(hi[2])),
            "time_min": r(axes.time(lo[0]), 3), "time_max": r(axes.time(hi[0]), 3),
            "centroid_inline": r(axes.inline(centroid[k, 1])), "centroid_crossline": r(axes.xline(centroid[k, 2])),
            "centroid_time": r(axes.time(centroid[k, 0]), 3), "centroid_x": r(cx[k]), "centroid_y": r(cy[k]),
            "prob_mean": r(faults["psum"][k] / count[k], 4), "prob_max": r(faults["pmax"][k], 4),
            "sticks": int(sticks[k]), "stick_sections": kinds[k],
        })
    return rows


def _num(v: Any) -> int | float:
    f = float(v)
    return int(f) if f.is_integer() else round(f, 3)


def table_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: "" if row[k] is None else row[k] for k in COLUMNS})
    return buf.getvalue()


def table_json(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    return json.dumps({**meta, "faults": rows}, indent=1) + "\n"


def read_table_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))
