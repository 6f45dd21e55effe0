"""The TGS Salt Identification layout: PNG tiles, run-length encoded masks, depths.

    ROOT/train/images/ID.png    seismic tile, 8-bit grayscale (101 x 101 in the competition)
    ROOT/train/masks/ID.png     salt mask of the tile (any value > 0 is salt)
    ROOT/train.csv              id,rle_mask  (the masks run-length encoded, see rle_encode)
    ROOT/depths.csv             id,z         (depth of the tile; ours: time of its top row)
    ROOT/test/images/ID.png     tiles without masks

A submission is a CSV `id,rle_mask` of predicted masks. Run-length encoding: pixels numbered 1, 2,
... column by column (top to bottom, then left to right), the mask written as "start length"
pairs of its runs of salt, separated by spaces; an empty mask is an empty string.

The competition's 4000 labelled tiles were split 3420 / 380 / 200 (train / validation / test) by
the seed project; `split_ids` reproduces those proportions (85.5 / 9.5 / 5 %) for any folder with
a fixed permutation, so every run and rank sees the same split.
"""
from __future__ import annotations

import csv
import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from hpcfault.errors import HpcfaultError

SPLIT_SEED = 2018
SPLIT = {"train": 3420, "val": 380, "test": 200}      # the seed's split of 4000 labelled tiles


# -- run-length encoding ---------------------------------------------------------------------------
def rle_encode(mask: np.ndarray) -> str:
    """'start length ...' of a 2D mask's salt runs (1-indexed, column-major); '' for no salt."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise HpcfaultError(f"a mask to encode must be 2D (got shape {m.shape}); encode one tile at a time")
    flat = np.concatenate([[0], (m.T.reshape(-1) > 0).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(flat))
    starts, stops = edges[0::2] + 1, edges[1::2] + 1
    return " ".join(f"{s} {e - s}" for s, e in zip(starts, stops))


def rle_decode(text: str, shape: Sequence[int]) -> np.ndarray:
    """The uint8 0/1 mask of `shape` (H, W) that `text` encodes; malformed text is one clear error."""
    h, w = (int(v) for v in shape)
    out = np.zeros(h * w, np.uint8)
    raw = str(text).split()
    try:
        nums = [int(v) for v in raw]
    except ValueError:
        nums = None
    if nums is None or len(nums) % 2:
        raise HpcfaultError(f"run-length text must be pairs of integers 'start length ...' (got {str(text)[:60]!r}); "
                            "see the TGS submission format")
    last = 0
    for start, length in zip(nums[0::2], nums[1::2]):
        if start <= last or length < 1 or start + length - 1 > h * w:
            raise HpcfaultError(f"run-length pair ({start} {length}) is out of order or outside a {h}x{w} mask "
                                f"(got {str(text)[:60]!r}); runs must be increasing, 1-indexed and inside the tile")
        out[start - 1:start - 1 + length] = 1
        last = start + length - 1
    return out.reshape(w, h).T.copy()


# -- PNG tiles -------------------------------------------------------------------------------------
def read_png(path: str | os.PathLike) -> np.ndarray:
    """A PNG as a 2D uint8 array: grayscale as is, RGB(A) by its first channel (TGS tiles store
    three equal channels), 16-bit scaled to 8 bits."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            mode = im.mode
            a = np.asarray(im)
    except (OSError, ValueError) as exc:
        raise HpcfaultError(f"cannot read PNG {str(path)!r} (got {type(exc).__name__}: {exc}); "
                            "the tile is corrupt or not a PNG") from None
    if a.ndim == 3:
        a = a[..., 0]
    if mode in ("I;16", "I;16B", "I;16L", "I") or a.dtype != np.uint8 and a.max(initial=0) > 255:
        a = (a.astype(np.float64) / 257.0).round()
    if a.dtype == bool:
        a = a * 255
    return np.clip(a, 0, 255).astype(np.uint8)


def write_png(path: str | os.PathLike, a: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(a, np.uint8), mode="L").save(path)


# -- the folder ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TgsSet:
    """Tiles of a TGS-layout folder in memory: ids (sorted), images and masks (N, H, W) uint8 (masks
    0/1, None without labels), depths by id (None when there is no depths.csv)."""

    root: str
    ids: tuple[str, ...]
    images: np.ndarray
    masks: np.ndarray | None
    depths: dict[str, float] | None

    def subset(self, ids: Sequence[str]) -> "TgsSet":
        index = {k: n for n, k in enumerate(self.ids)}
        rows = [index[k] for k in ids]
        return TgsSet(self.root, tuple(ids), self.images[rows], None if self.masks is None else self.masks[rows],
                      self.depths)


def image_dir(root: str | os.PathLike) -> Path:
    """Where the images of `root` are: ROOT/images, ROOT/train/images, ROOT/test/images or ROOT itself."""
    root = Path(root)
    for cand in (root / "images", root / "train" / "images", root / "test" / "images", root):
        if cand.is_dir() and any(cand.glob("*.png")):
            return cand
    raise HpcfaultError(f"no PNG tiles in {str(root)!r} (got no images/, train/images/, test/images/ or *.png); "
                        "give a TGS-layout folder, e.g. one made by 'hpcfault salt-tiles'")


def read_csv_rows(path: Path, header: tuple[str, str]) -> dict[str, str]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows or tuple(c.strip() for c in rows[0][:2]) != header:
        raise HpcfaultError(f"{path}: the first line must be '{','.join(header)}' (got {','.join(rows[0]) if rows else 'nothing'}); "
                            "see the TGS layout")
    out = {}
    for row in rows[1:]:
        if not row or not row[0]:
            continue
        out[row[0]] = row[1] if len(row) > 1 else ""
    return out


def read_tgs(root: str | os.PathLike, labels: bool = True) -> TgsSet:
    """Every tile under `root` (see image_dir); masks from its masks/ PNGs or, without them, from
    ROOT/train.csv (when both exist they must agree); `labels=False` reads images only."""
    images_dir = image_dir(root)
    ids = tuple(sorted(p.stem for p in images_dir.glob("*.png")))
    tiles = [read_png(images_dir / f"{k}.png") for k in ids]
    sizes = sorted({t.shape for t in tiles})
    if len(sizes) != 1:
        raise HpcfaultError(f"tiles of {images_dir} differ in size (got {sizes[:3]}); a TGS folder holds tiles of one size")
    images = np.stack(tiles)
    shape = images.shape[1:]
    masks = None
    top = Path(root)
    csv_path = next((p for p in (top / "train.csv", images_dir.parent.parent / "train.csv") if p.is_file()), None)
    masks_dir = images_dir.parent / "masks"
    if labels and masks_dir.is_dir():
        missing = [k for k in ids if not (masks_dir / f"{k}.png").is_file()]
        if missing:
            raise HpcfaultError(f"{masks_dir} lacks masks of {len(missing)} tile(s) (got none for {missing[0]}); "
                                "every image needs its mask")
        masks = (np.stack([read_png(masks_dir / f"{k}.png") for k in ids]) > 0).astype(np.uint8)
    if labels and csv_path is not None:
        rle = read_csv_rows(csv_path, ("id", "rle_mask"))
        lacking = [k for k in ids if k not in rle]
        if masks is None and not lacking:
            masks = np.stack([rle_decode(rle[k], shape) for k in ids])
        elif masks is not None:
            for n, k in enumerate(ids):
                if k in rle and not np.array_equal(rle_decode(rle[k], shape), masks[n]):
                    raise HpcfaultError(f"{csv_path} and {masks_dir} disagree on tile {k} (got different masks); "
                                        "regenerate train.csv from the masks or remove it")
    if masks is not None and masks.shape != images.shape:
        raise HpcfaultError(f"masks of {images_dir} are {masks.shape[1:]} where the images are {shape}; "
                            "masks and images must match pixel for pixel")
    depths = None
    dpath = next((p for p in (top / "depths.csv", images_dir.parent.parent / "depths.csv") if p.is_file()), None)
    if dpath is not None:
        try:
            depths = {k: float(v) for k, v in read_csv_rows(dpath, ("id", "z")).items()}
        except ValueError:
            raise HpcfaultError(f"{dpath}: z must be numbers (got a non-numeric value); see the TGS layout") from None
    return TgsSet(str(root), ids, images, masks, depths)


def split_ids(ids: Sequence[str], part: str) -> list[str]:
    """The ids of `part` (train, val, test or all) in the seed's proportions, by a fixed permutation."""
    if part not in (*SPLIT, "all"):
        raise HpcfaultError(f"unknown split (got {part!r}); valid: train, val, test, all")
    ids = sorted(ids)
    if part == "all":
        return ids
    order = np.random.default_rng(SPLIT_SEED).permutation(len(ids))
    total = sum(SPLIT.values())
    n_val = int(round(len(ids) * SPLIT["val"] / total))
    n_test = int(round(len(ids) * SPLIT["test"] / total))
    bounds = {"val": (0, n_val), "test": (n_val, n_val + n_test), "train": (n_val + n_test, len(ids))}
    lo, hi = bounds[part]
    return sorted(ids[k] for k in order[lo:hi])


# -- writing ---------------------------------------------------------------------------------------
def csv_text(rows: dict[str, str], header: tuple[str, str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for k in sorted(rows):
        w.writerow([k, rows[k]])
    return buf.getvalue()


def fresh_dir(out: str | os.PathLike) -> tuple[Path, Path]:
    """(final, temporary) folders for an output folder written whole, then renamed into place.
    The final folder must not exist (or be empty)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise HpcfaultError(f"output folder exists and is not empty (got {str(out)!r}); choose a new folder")
    tmp = out.with_name(f".{out.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return out, tmp


def finish_dir(out: Path, tmp: Path) -> None:
    if out.is_dir():
        out.rmdir()          # an empty folder the user made for us
    os.replace(tmp, out)


def tile_starts(n: int, size: int, stride: int | None = None) -> list[int]:
    """Starts of tiles of `size` along an axis of length n, every `stride` (default: size), the last
    one shifted back to end at n; one tile at 0 when n <= size (then the tile is the whole axis)."""
    stride = size if stride is None else int(stride)
    if size < 1 or stride < 1:
        raise HpcfaultError(f"tile size and stride must be >= 1 (got {size}, {stride})")
    if n <= size:
        return [0]
    starts = list(range(0, n - size + 1, stride))
    if starts[-1] != n - size:
        starts.append(n - size)
    return starts
