"""Training labels from a labelled volume file.

  hpcfault labels sparsify IN.h5 OUT.h5 --every 30 --axis inline [--offset K]
                                        [--drop-faults F --seed S]

OUT gets `data` (copied), `labels` (IN's labels on every k-th slice along the axis, 0 elsewhere)
and `mask` (1 on those slices). `--every 1` keeps every slice (dense labels with a mask of ones).
`--drop-faults F` removes a fraction F of the faults from the kept slices while their mask stays 1:
false-negative labels as in the paper's FNL experiments. Faults are told apart by IN's `fault_ids`
(written by `hpcfault synth`) when present, else as connected traces on each kept slice.
The work is streamed in slabs along the axis; OUT appears only when complete.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

HELP = "training labels: keep sparse slices, inject false negatives"
SLAB = 64


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    s = sub.add_parser("sparsify", help="keep every k-th slice as labelled (+ mask); optionally drop faults",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("input", help="volume file with datasets data and labels (e.g. from 'hpcfault synth')")
    s.add_argument("output", help="output volume file with data, labels, mask")
    s.add_argument("--every", type=int, default=30, help="keep every k-th slice (default 30: 3.3 %%)")
    s.add_argument("--axis", default="inline", help="time, inline or xline (default inline)")
    s.add_argument("--offset", type=int, default=0, help="index of the first kept slice (default 0)")
    s.add_argument("--drop-faults", type=float, default=0.0, metavar="F",
                   help="fraction of the faults to remove from the kept slices (default 0)")
    s.add_argument("--seed", type=int, default=0, help="seed choosing the dropped faults (default 0)")


def paths(args: argparse.Namespace) -> tuple[list, list]:
    from hpcfault.io.paths import arg

    return [arg("IN", args.input)], [arg("OUT", args.output)]


def _index(ax: int, sel) -> tuple:
    index: list = [slice(None)] * 3
    index[ax] = sel
    return tuple(index)


def sparsify(src: str, dst: str, every: int, axis: str, offset: int = 0, drop: float = 0.0, seed: int = 0) -> dict:
    """Write the sparse-label volume `dst` from `src`; returns a summary (also stored as attribute)."""
    from hpcfault.data.sparse import (axis_index, check_binary, choose_dropped, drop_components, kept_slices,
                                      n_to_drop, slice_rng)
    from hpcfault.errors import HpcfaultError
    from hpcfault.io.volume import create_volume, open_volume, read_geometry

    ax = axis_index(axis)
    n_to_drop(0, drop)
    with open_volume(src) as f:
        shape = f["data"].shape
        if "labels" not in f:
            raise HpcfaultError(f"{src}: no 'labels' dataset (got {sorted(f.keys())}); "
                                "make a labelled volume with 'hpcfault synth' or add labels first")
        for name in ("labels", "fault_ids"):
            if name in f and f[name].shape != shape:
                raise HpcfaultError(f"{src}: '{name}' has shape {f[name].shape} but 'data' has {shape}; "
                                    "they must match voxel for voxel")
        keep = kept_slices(shape[ax], every, offset)
        ids_ds = f["fault_ids"] if "fault_ids" in f else None
        dropped: list[int] = []
        if drop > 0 and ids_ds is not None:
            present: set[int] = set()
            for k in keep:
                lab = f["labels"][_index(ax, int(k))]
                present.update(np.unique(ids_ds[_index(ax, int(k))][lab > 0]).tolist())
            dropped = choose_dropped(present, drop, seed)
        attrs = {k: f.attrs[k] for k in ("faults", "seed", "synth") if k in f.attrs}
        summary = {"source": str(src), "every": every, "axis": ["time", "inline", "xline"][ax], "offset": offset,
                   "kept_slices": int(len(keep)), "labelled_fraction": round(len(keep) / shape[ax], 6),
                   "drop_faults": drop, "seed": seed, "method": "fault_ids" if ids_ds is not None else "components",
                   "dropped_fault_ids": dropped, "dropped_traces": 0, "fault_voxels": 0}
        keep_set = set(int(k) for k in keep)
        with create_volume(dst, shape, f["data"].dtype, geometry=read_geometry(f),
                           extra={"labels": "uint8", "mask": "uint8"}, attrs=attrs) as out:
            for s0 in range(0, shape[ax], SLAB):
                s1 = min(s0 + SLAB, shape[ax])
                out["data"][_index(ax, slice(s0, s1))] = f["data"][_index(ax, slice(s0, s1))]
                rows = [k for k in range(s0, s1) if k in keep_set]
                if not rows:
                    continue
                slab_shape = list(shape)
                slab_shape[ax] = s1 - s0
                labels = np.zeros(slab_shape, np.uint8)
                mask = np.zeros(slab_shape, np.uint8)
                for k in rows:
                    lab = np.asarray(f["labels"][_index(ax, k)])
                    check_binary(lab, f"{src}: labels on {summary['axis']} slice {k}")
                    lab = lab.astype(np.uint8)
                    if drop > 0 and ids_ds is not None:
                        lab[np.isin(ids_ds[_index(ax, k)], dropped)] = 0
                    elif drop > 0:
                        lab, n = drop_components(lab, drop, slice_rng(seed, k))
                        summary["dropped_traces"] += n
                    labels[_index(ax, k - s0)] = lab
                    mask[_index(ax, k - s0)] = 1
                    summary["fault_voxels"] += int(lab.sum())
                out["labels"][_index(ax, slice(s0, s1))] = labels
                out["mask"][_index(ax, slice(s0, s1))] = mask
            out.attrs["sparsify"] = json.dumps(summary)
    return summary


def run(args: argparse.Namespace) -> int:
    s = sparsify(args.input, args.output, args.every, args.axis, args.offset, args.drop_faults, args.seed)
    print(f"wrote {args.output}: {s['kept_slices']} labelled {s['axis']} slices (every {s['every']} from "
          f"{s['offset']}, {100 * s['labelled_fraction']:.1f} %), {s['fault_voxels']} fault voxels labelled")
    if s["drop_faults"]:
        what = (f"faults {s['dropped_fault_ids']}" if s["method"] == "fault_ids"
                else f"{s['dropped_traces']} fault traces")
        print(f"  dropped {what} from the labelled slices (false negatives, mask kept)")
    return 0
