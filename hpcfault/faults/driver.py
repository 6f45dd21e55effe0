"""`hpcfault faults` on a whole survey: inline slabs over MPI ranks, global ids, one output folder.

1. Rank 0 checks the input and the output folder and plans the slabs (from the survey's shape and
   the memory budget only); every rank gets the plan.
2. The slabs go round robin to the ranks. Each rank reads its slab with the halo, computes the ridge
   voxels and their local components (slab.py) and saves them as a shard in the output's work folder.
   No messages pass while slabs are computed; a failure on any rank is gathered and raised on all.
3. Rank 0 joins the components across slab borders (merge.py, union-find), numbers the faults and
   streams the shards in inline order into the outputs (write.py, table.py).
Outputs are built in `.NAME.tmp-PID` beside the output folder and renamed into place when complete;
a previous output folder of `hpcfault faults` at that name is replaced, anything else is refused.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpcfault.errors import HpcfaultError
from hpcfault.faults.merge import SlabLinks, merge_slabs
from hpcfault.faults.plan import FaultParams, SlabPlan, plan_slabs
from hpcfault.faults.slab import SlabResult, process_slab
from hpcfault.faults.source import FaultInput, read_slab, resolve_input
from hpcfault.io.slabs import DEFAULT_BUDGET, rank_share

log = logging.getLogger(__name__)

FORMAT = "hpcfault-faults/1"
CONVENTIONS = {
    "dip": "degrees 0-90 from a time slice, in the voxel grid (one sample = one trace)",
    "strike": "degrees 0-360 in the (inline, crossline) index plane from the direction of increasing inline number "
              "towards increasing crossline number; the fault dips towards strike + 90 (right-hand rule)",
    "strike_north": "degrees 0-360 clockwise from grid north (CDP Y axis); the fault dips towards strike_north + 90",
    "area": "voxel units: sum over ridge voxels of 1 / max |normal component|",
    "time": "the survey's sample unit",
    "x_y": "CDP X/Y as scaled in the SEG-Y",
}


@dataclass(frozen=True)
class FaultsReport:
    out: str
    faults: int
    objects: int
    thinned_objects: int
    ridge_voxels: int
    fault_voxels: int
    sticks: int
    slabs: int
    slab_inlines: int
    halo: int
    ranks: int
    seconds: float
    orientation: str


def _check_output(out: Path, inputs: list[Path]) -> None:
    for p in inputs:
        if out.resolve() == p.resolve():
            raise HpcfaultError(f"the output folder would replace an input (got -o {str(out)!r}); choose another name")
    if out.exists() or out.is_symlink():
        manifest = out / "faults.json"
        ours = False
        if out.is_dir() and not out.is_symlink() and manifest.is_file():
            try:
                ours = json.loads(manifest.read_text()).get("format") == FORMAT
            except (OSError, ValueError):
                ours = False
        if not ours:
            raise HpcfaultError(f"output exists and is not an 'hpcfault faults' output folder (got {str(out)!r}); "
                                "choose a new folder name or remove it")
    parent = out.resolve().parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise HpcfaultError(f"cannot write the output folder's parent (got {str(parent)!r}); choose a writable place")


def _prepare(volume: str, out: Path, params: FaultParams, dataset: str | None, memory: int,
             max_core: int | None) -> tuple[FaultInput, SlabPlan, Path]:
    inp = resolve_input(volume, dataset, params.orientation)
    _check_output(out, [Path(volume)])
    plan = plan_slabs(inp.shape, params.halo, memory, with_model=inp.model is not None, max_core=max_core)
    tmp = out.resolve().parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "work").mkdir(parents=True)
    return inp, plan, tmp


def _compute(inp: FaultInput, plan: SlabPlan, params: FaultParams, work: Path, rank: int, size: int) -> None:
    for k, (a, b) in rank_share(list(plan.ranges), rank, size):
        lo, hi = plan.read_range(k)
        prob, model = read_slab(inp, lo, hi)
        res = process_slab(prob, lo, (a, b), inp.shape, params, model, where=f"{inp.path}:{inp.dataset}")
        del prob, model
        tmp = work / f".slab-{k:05d}.npz"
        with open(tmp, "wb") as fh:
            np.savez(fh, **res.arrays())
        os.replace(tmp, work / f"slab-{k:05d}.npz")
        log.debug("rank %d: slab %d (inlines %d-%d): %d ridge voxels", rank, k, a, b - 1, len(res.keys))


def _links(path: Path, plan: SlabPlan, k: int) -> SlabLinks:
    with np.load(path) as z:
        res = SlabResult.from_arrays(z)
    a = plan.ranges[k][0]
    nt, _, nx = plan.shape
    first = res.keys < (a + 1) * nx * nt
    return SlabLinks(comp=res.comp, border_label=res.border_label, border_key=res.border_key,
                     border_linked=res.border_linked, touch=res.touch,
                     first_keys=res.keys[first], first_labels=res.label[first])


def _finish(inp: FaultInput, plan: SlabPlan, params: FaultParams, tmp: Path, out: Path, ranks: int,
            t0: float) -> FaultsReport:
    from hpcfault.faults.survey import SurveyAxes
    from hpcfault.faults.table import fault_rows, table_csv, table_json
    from hpcfault.faults.write import fsync_tree, write_all

    shards = [tmp / "work" / f"slab-{k:05d}.npz" for k in range(len(plan.ranges))]
    objects = merge_slabs([_links(p, plan, k) for k, p in enumerate(shards)], params.high, params.min_area,
                          params.join)
    axes = SurveyAxes.from_geometry(inp.geometry)
    attrs = {"source": inp.path, "source_dataset": inp.dataset, "producer": FORMAT,
             "fault_params": asdict(params)}
    summary = write_all(tmp, shards, plan, objects, params, inp.geometry, axes, attrs)
    rows = fault_rows(objects.faults, summary.dip_sq, summary.strike_sq, axes, summary.stick_counts, summary.kinds)
    meta = {"format": FORMAT, "source": inp.path, "dataset": inp.dataset, "orientation": inp.orientation_source,
            "params": asdict(params), "conventions": CONVENTIONS, "shape": list(plan.shape),
            "sample_unit": axes.sample_unit,
            "inline_azimuth": None if axes.frame is None else round(axes.frame.inline_azimuth, 3),
            "crossline_azimuth": None if axes.frame is None else round(axes.frame.xline_azimuth, 3),
            "counts": {"ridge_voxels": summary.ridge_voxels, "objects": objects.all_objects,
                       "thinned_objects": objects.thin_objects, "faults": len(rows),
                       "fault_voxels": summary.fault_voxels, "sticks": summary.sticks},
            "slabs": {"count": len(plan.ranges), "core_inlines": plan.core, "halo": plan.halo}}
    (tmp / "faults.csv").write_text(table_csv(rows), encoding="ascii")
    (tmp / "faults.json").write_text(table_json(rows, meta), encoding="ascii")
    shutil.rmtree(tmp / "work")
    fsync_tree(tmp)
    old = None
    if out.exists():
        old = out.resolve().parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return FaultsReport(out=str(out), faults=len(rows), objects=objects.all_objects,
                        thinned_objects=objects.thin_objects, ridge_voxels=summary.ridge_voxels,
                        fault_voxels=summary.fault_voxels, sticks=summary.sticks, slabs=len(plan.ranges),
                        slab_inlines=plan.core, halo=plan.halo, ranks=ranks, seconds=time.perf_counter() - t0,
                        orientation=inp.orientation_source)


def extract_faults(volume: str | os.PathLike, out: str | os.PathLike, params: FaultParams = FaultParams(), *,
                   dataset: str | None = None, memory: int = DEFAULT_BUDGET, comm: Any = None,
                   max_core: int | None = None) -> FaultsReport | None:
    """Fault objects of a probability volume into the folder `out`; the report on rank 0, None elsewhere."""
    from hpcfault.cluster.mpi import get_comm, rank0_first

    comm = comm or get_comm()
    t0 = time.perf_counter()
    out = Path(out)
    inp, plan, tmp = rank0_first(comm, lambda: _prepare(str(volume), out, params, dataset, memory, max_core))
    error = None
    try:
        _compute(inp, plan, params, tmp / "work", comm.rank, comm.size)
    except Exception as exc:  # noqa: BLE001 - gathered below and raised on every rank
        error = exc if isinstance(exc, HpcfaultError) else HpcfaultError(f"rank {comm.rank}: {type(exc).__name__}: {exc}")
    errors = [e for e in comm.allgather(error)] if comm.size > 1 else [error]
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        if comm.rank == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        raise first
    result: tuple = (None, None)
    if comm.rank == 0:
        try:
            result = (_finish(inp, plan, params, tmp, out, comm.size, t0), None)
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if comm.size > 1:   # the other ranks wait for the outcome: tell them, then raise here
                comm.bcast((None, str(exc) or type(exc).__name__), root=0)
            raise
    if comm.size > 1:
        result = comm.bcast(result, root=0)
    report, message = result
    if message is not None:
        raise HpcfaultError(message)
    return report if comm.rank == 0 else None
