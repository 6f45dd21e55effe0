"""`hpcfault evaluate` for the salt task: a prediction volume against a labelled survey, or tile
predictions against a TGS-layout folder.

Volumes: PRED.h5 holds `salt` probabilities (or `data`), LABELS.h5 a `salt` dataset (0/1; `mask`
with use_mask). Both are read in slabs of inlines (MPI ranks share the slabs, counts are summed).
Pixel scores count every voxel once; the TGS metric treats each `tile`-pixel tile of every inline
section (a grid, the last tile shifted back to the section's end) as one image, like the
competition's 101-pixel tiles.

Tiles: PRED is a submission CSV (id,rle_mask) or a folder of mask PNGs (predict-tiles --png-dir);
LABELS a TGS-layout folder; the tiles PRED names are scored (each must have a label).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hpcfault.errors import HpcfaultError
from hpcfault.metrics import DEFAULT_THRESHOLDS, scored_datasets
from hpcfault.tasks.salt import metrics as sm

TILE = 101


def _rows(rep: dict, what: str, masks: bool = False) -> list[list[str]]:
    """The terminal table; `masks`: the prediction is already thresholded (no threshold search)."""
    s, b = rep["scores"], rep["best_threshold"]
    rows = [["prediction", rep["prediction"]], ["labels", rep["labels"]], ["scored", what],
            ["IoU" if masks else f"IoU@{rep['threshold']:g}", f"{s['iou']:.4f}"], ["Dice", f"{s['dice']:.4f}"],
            ["precision", f"{s['precision']:.4f}"], ["recall", f"{s['recall']:.4f}"],
            ["TGS metric", f"{s['tgs']:.4f} over {rep['images']} tiles of {rep['tile']}x{rep['tile']}"]]
    if not masks:
        rows.append(["best threshold", f"{b['threshold']:g} (TGS {b['tgs']:.4f}, IoU {b['iou']:.4f})"])
    return rows


def evaluate(pred_path: str, labels_path: str, *, use_mask: bool = False, threshold: float = 0.5,
             radius: float = 2, slab: int | None = None, comm: Any = None, tile: int = TILE) -> dict:
    """Scores as a JSON-able report with "rows" for the terminal (see the module doc). `radius`
    is unused (no tolerance matching for salt bodies)."""
    p = Path(pred_path)
    if p.is_dir() or p.suffix.lower() == ".csv":
        return evaluate_tiles(pred_path, labels_path, threshold=threshold)
    return evaluate_volume(pred_path, labels_path, use_mask=use_mask, threshold=threshold, slab=slab,
                           comm=comm, tile=tile)


def section_counts(prob: np.ndarray, truth: np.ndarray, mask: np.ndarray | None, tile: int) -> dict:
    """Counts of one (H, W) section: pixels once, the TGS metric over its grid of tiles."""
    from hpcfault.io.tgs import tile_starts

    pix = sm.tile_counts(prob, truth, mask)
    boxes = [(slice(a, a + tile), slice(b, b + tile)) for a in tile_starts(prob.shape[0], tile)
             for b in tile_starts(prob.shape[1], tile)]
    tiles = sm.tile_counts(np.stack([prob[bx] for bx in boxes]), np.stack([truth[bx] for bx in boxes]),
                           None if mask is None else np.stack([mask[bx] for bx in boxes]))
    return {**pix, "tgs": tiles["tgs"], "images": tiles["images"]}


def evaluate_volume(pred_path: str, labels_path: str, *, use_mask: bool = False, threshold: float = 0.5,
                    slab: int | None = None, comm: Any = None, tile: int = TILE) -> dict:
    import contextlib

    from hpcfault.cluster.mpi import allreduce, get_comm
    from hpcfault.io.volume import open_volume

    comm = get_comm() if comm is None else comm
    sm.nearest_index(DEFAULT_THRESHOLDS, threshold)
    with contextlib.ExitStack() as stack:
        pf = stack.enter_context(open_volume(pred_path))
        lf = stack.enter_context(open_volume(labels_path))
        pname = "salt" if "salt" in pf else "data"
        if "salt" not in lf:
            raise HpcfaultError(f"{labels_path} has no 'salt' dataset (got {sorted(lf.keys())}); score against a "
                                "survey with salt labels, e.g. from 'hpcfault synth --family salt'")
        pds, lds, mds = scored_datasets(pf, lf, pred_path, labels_path, pname, "salt", use_mask)
        t, n_il, x = pds.shape
        slab = int(slab or max(1, min(n_il, (64 << 20) // max(1, t * x * 16))))
        total = sm.empty_counts()
        for start in list(range(0, n_il, slab))[comm.rank::comm.size]:
            sl = (slice(None), slice(start, min(n_il, start + slab)), slice(None))
            prob, truth = np.asarray(pds[sl], np.float32), np.asarray(lds[sl])
            mask = None if mds is None else np.asarray(mds[sl])
            for k in range(prob.shape[1]):
                total = sm.add(total, section_counts(prob[:, k], truth[:, k], None if mask is None else mask[:, k],
                                                     tile))
    vec = np.asarray(allreduce(comm, sm.as_vector(total), "sum"))
    total = sm.from_vector(vec, len(DEFAULT_THRESHOLDS))
    rep = {"prediction": f"{pred_path}:{pname}", "labels": f"{labels_path}:salt", "mask": bool(use_mask),
           "shape": list(pds.shape), "tile": int(tile), **sm.report(total, threshold)}
    rep["rows"] = _rows(rep, f"{t * n_il * x} voxels of {n_il} inline sections")
    return rep


def read_tile_predictions(pred_path: str, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Predicted masks by id from a submission CSV or a folder of mask PNGs."""
    from hpcfault.io.tgs import read_csv_rows, read_png, rle_decode

    p = Path(pred_path)
    if p.is_dir():
        files = sorted(p.glob("*.png"))
        if not files:
            raise HpcfaultError(f"no mask PNGs in {pred_path} (got an empty folder); give predict-tiles' --png-dir "
                                "or its submission CSV")
        return {f.stem: (read_png(f) > 0).astype(np.uint8) for f in files}
    if not p.is_file():
        raise HpcfaultError(f"prediction not found (got {pred_path!r}); give a submission CSV or a folder of masks")
    return {k: rle_decode(v, shape) for k, v in read_csv_rows(p, ("id", "rle_mask")).items()}


def evaluate_tiles(pred_path: str, labels_path: str, *, threshold: float = 0.5) -> dict:
    from hpcfault.io.tgs import read_tgs

    truth = read_tgs(labels_path)
    if truth.masks is None:
        raise HpcfaultError(f"{labels_path} holds no masks (got no masks/ folder and no train.csv); "
                            "score against a labelled TGS folder")
    pred = read_tile_predictions(pred_path, truth.images.shape[1:])
    index = {k: n for n, k in enumerate(truth.ids)}
    unknown = [k for k in pred if k not in index]
    if unknown:
        raise HpcfaultError(f"{len(unknown)} predicted tile(s) have no label in {labels_path} (got {unknown[0]!r}); "
                            "score predictions of that folder's tiles")
    ids = sorted(pred)
    masks = np.stack([pred[k] for k in ids]).astype(np.float32)
    if masks.shape[1:] != truth.images.shape[1:]:
        raise HpcfaultError(f"predicted masks are {masks.shape[1:]} where the tiles are {truth.images.shape[1:]}; "
                            "score predictions of that folder's tiles")
    counts = sm.tile_counts(masks, truth.masks[[index[k] for k in ids]])
    rep = {"prediction": str(pred_path), "labels": str(labels_path), "tile": int(truth.images.shape[1]),
           **sm.report(counts, 0.5)}
    rep["note"] = "tile predictions are masks: the threshold was applied when they were made"
    rep["rows"] = _rows(rep, f"{len(ids)} of {len(truth.ids)} labelled tiles (masks as predicted)", masks=True)
    return rep
