"""Predict the tiles of a TGS-layout folder with a 2D section model and write the TGS submission
(`hpcfault predict-tiles`).

Each tile is scaled as in training (PNG values / 255) and fed as the checkpoint's training fed
TGS tiles: `fit: pad` (default) as it is - the model reflect-pads it to its size multiple and crops
the prediction back -, `fit: resize` zoomed to the training tile and the probabilities zoomed back.
With `tta` the left-right mirrored tile is predicted too and the two probabilities averaged. A
pixel is salt when its probability reaches the threshold: the one the checkpoint's validation
chose (provenance "threshold"), else 0.5, unless given.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from hpcfault.errors import HpcfaultError


def tile_probabilities(model: Any, images: np.ndarray, *, fit: str = "pad", tile: tuple[int, int] | None = None,
                       tta: bool = False, batch: int = 16) -> np.ndarray:
    """Salt probabilities (N, H, W) of uint8 tiles (N, H, W) with an eval-mode 2D model."""
    import torch

    x_all = images.astype(np.float32) / np.float32(255.0)
    shape = x_all.shape[1:]
    resize = fit == "resize" and tile is not None and tuple(tile) != tuple(shape)
    out = np.zeros(x_all.shape, np.float32)
    device = next(model.parameters()).device
    with torch.inference_mode():
        for a in range(0, len(x_all), batch):
            x = torch.from_numpy(np.ascontiguousarray(x_all[a:a + batch]))[:, None].to(device)
            if resize:
                x = torch.nn.functional.interpolate(x, size=tuple(tile), mode="bilinear", align_corners=False)
            y = model(x)[:, :1]
            if tta:
                y = 0.5 * (y + torch.flip(model(torch.flip(x, (3,)))[:, :1], (3,)))
            if resize:
                y = torch.nn.functional.interpolate(y, size=shape, mode="bilinear", align_corners=False)
            out[a:a + batch] = y[:, 0].float().cpu().numpy()
    return out


def predict_tiles(folder: str | os.PathLike, checkpoint: str | os.PathLike, out_csv: str | os.PathLike, *,
                  png_dir: str | os.PathLike | None = None, threshold: float | None = None, tta: bool = False,
                  split: str = "all", batch: int = 16) -> dict:
    """Write the submission CSV (and mask PNGs); returns a summary."""
    from hpcfault.io.atomic import write_text_atomic
    from hpcfault.io.tgs import csv_text, finish_dir, fresh_dir, image_dir, read_tgs, rle_encode, split_ids, write_png
    from hpcfault.models import read_checkpoint
    from hpcfault.models.catalog import model_dims
    from hpcfault.models.checkpoint import model_from_checkpoint

    out_csv = Path(out_csv)
    images_dir = image_dir(folder)
    if out_csv.exists() and not out_csv.is_file():
        raise HpcfaultError(f"-o names an existing folder or special file (got {str(out_csv)!r}); give a .csv path")
    if out_csv.resolve().parent == images_dir.resolve() or out_csv.suffix.lower() != ".csv":
        raise HpcfaultError(f"-o must be a .csv outside the tile folder (got {str(out_csv)!r}); e.g. -o submission.csv")
    if png_dir is not None and Path(png_dir).resolve() in (images_dir.resolve(), images_dir.parent.resolve() / "masks"):
        raise HpcfaultError(f"--png-dir would write into the input folder (got {png_dir}); choose a new folder")
    payload = read_checkpoint(checkpoint)
    if model_dims(payload["model"]) != 2:
        raise HpcfaultError(f"predict-tiles needs a 2D section model (got {payload['model']!r}, a volume model); "
                            "use a checkpoint of unet-resnet18, unet-resnet34 or unet2d")
    prov = payload.get("provenance", {})
    th = float(prov.get("threshold", 0.5)) if threshold is None else float(threshold)
    if not 0.0 < th < 1.0:
        raise HpcfaultError(f"--threshold must lie in (0, 1) (got {th}); e.g. 0.5")
    tiles = read_tgs(folder, labels=False)
    ids = split_ids(tiles.ids, split)
    tiles = tiles.subset(ids)
    png = fresh_dir(png_dir) if png_dir is not None else None
    import torch

    device = "cuda:0" if torch.cuda.is_available() else "cpu"   # as predict: the GPU when one is visible
    model = model_from_checkpoint(payload, source=f"checkpoint {str(checkpoint)!r}").eval().to(device)
    prob = tile_probabilities(model, tiles.images, fit=str(prov.get("fit", "pad")), tile=prov.get("tile"), tta=tta,
                              batch=batch)
    masks = (prob >= th).astype(np.uint8)
    rows = {k: rle_encode(m) for k, m in zip(tiles.ids, masks)}
    if png is not None:
        for k, m in zip(tiles.ids, masks):
            write_png(png[1] / f"{k}.png", m * 255)
        finish_dir(*png)
    write_text_atomic(out_csv, csv_text(rows, ("id", "rle_mask")))
    return {"csv": str(out_csv), "tiles": len(ids), "with_salt": int(masks.reshape(len(ids), -1).any(1).sum()),
            "threshold": th, "threshold_from": "checkpoint" if threshold is None and "threshold" in prov else
            ("--threshold" if threshold is not None else "default"), "tta": tta, "png_dir": None if png is None else
            str(png[0]), "images": str(images_dir), "fit": str(prov.get("fit", "pad"))}
