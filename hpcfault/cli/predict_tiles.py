"""Predict the tiles of a TGS-layout folder and write the TGS submission CSV (id,rle_mask).

DIR is a TGS-layout folder (its images/, train/images/ or test/images/) or a folder of PNG tiles;
MODEL a checkpoint of a 2D section model (e.g. task salt, unet-resnet18). Tiles are fed as the
checkpoint's training fed them (padded, or resized with fit: resize); --tta adds the left-right
mirrored prediction; the threshold is the checkpoint's validated one unless --threshold is given.
The CSV decodes back to the predicted masks (--png-dir writes them as 0/255 PNGs too). Runs on
the first visible GPU when there is one, as predict does (CUDA_VISIBLE_DEVICES= for the CPU).

Examples:
  hpcfault predict-tiles tiles/ -m salt.pt -o submission.csv
  hpcfault predict-tiles tgs/ -m salt.pt -o val.csv --split val --png-dir val-masks/ --tta
  hpcfault evaluate val.csv tgs/                 # IoU, Dice, TGS metric against the folder's masks
"""
from __future__ import annotations

import argparse

HELP = "predict a TGS tile folder with a 2D model; write the submission CSV (RLE)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", metavar="DIR", help="TGS-layout folder or folder of PNG tiles")
    p.add_argument("-m", "--model", required=True, help="checkpoint of a 2D section model (task salt)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.csv", help="submission CSV: id,rle_mask")
    p.add_argument("--png-dir", metavar="DIR", help="also write the masks as PNGs (new or empty folder)")
    p.add_argument("--threshold", type=float, help="salt if probability >= this (default: the checkpoint's, else 0.5)")
    p.add_argument("--tta", action="store_true", help="average with the left-right mirrored prediction")
    p.add_argument("--split", default="all", choices=("all", "train", "val", "test"),
                   help="only this part of the seed's 3420/380/200 split of the folder (default all)")
    p.add_argument("--batch", type=int, default=16, help="tiles per forward pass (default 16)")


def paths(args: argparse.Namespace) -> tuple[list, list]:
    from hpcfault.io.paths import arg

    return ([arg("DIR", args.folder, folder=True), arg("-m", args.model)],
            [arg("-o", args.output), arg("--png-dir", args.png_dir, folder=True)])


def run(args: argparse.Namespace) -> int:
    from hpcfault.errors import HpcfaultError
    from hpcfault.fmt import plural
    from hpcfault.tasks.salt.predict_tiles import predict_tiles

    if args.batch < 1:
        raise HpcfaultError(f"--batch must be >= 1 (got {args.batch})")
    rep = predict_tiles(args.folder, args.model, args.output, png_dir=args.png_dir, threshold=args.threshold,
                        tta=args.tta, split=args.split, batch=args.batch)
    print(f"wrote {rep['csv']}: {plural(rep['tiles'], 'tile')} of {rep['images']}, {rep['with_salt']} with salt "
          f"(threshold {rep['threshold']:g} from the {rep['threshold_from']}{', flip TTA' if rep['tta'] else ''})"
          + (f"; masks in {rep['png_dir']}" if rep["png_dir"] else ""))
    return 0
