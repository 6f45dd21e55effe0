"""Cut a survey's sections into TGS-layout tiles (`hpcfault salt-tiles`), so everything that reads
TGS data reads our surveys too.

Every `every`-th inline section (time x crossline) and/or crossline section (time x inline) is cut
on a grid of `size` x `size` tiles (every `stride` pixels, the last tile of a row or column shifted
back to end at the section's edge). The seismic is scaled to [0, 1] over the whole survey exactly
as training and predict scale it (min-max after clipping at the 0.5 / 99.5 percentiles of a
subsample) and written as 8-bit PNG; a survey with a `salt` dataset gives masks (0/255 PNG) and
train.csv, one without only test/images. Tile ids name where a tile comes from:
"il<inline>-t<first sample>-x<first crossline index>" (crosslines: "xl<xline>-t...-i<index>");
depths.csv holds the time (or depth) of each tile's top row. The folder is written under a
temporary name and renamed when complete.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from hpcfault.errors import HpcfaultError

AXES = {"inline": 1, "xline": 2}


def _check_survey(survey: str | os.PathLike, size: int, sections: Sequence[str], labels: bool) -> bool:
    """True when the survey has salt labels; one-line errors for what cannot be cut."""
    from hpcfault.io.volume import open_volume

    with open_volume(survey) as f:
        shape = f["data"].shape
        if labels and "salt" not in f:
            raise HpcfaultError(f"{survey} has no 'salt' dataset (got {sorted(f.keys())}); pass --no-labels to cut "
                                "test tiles without masks")
        small = [d for d, a in AXES.items() if d in sections and min(shape[0], shape[3 - a]) < size]
        if small:
            raise HpcfaultError(f"{survey}: {small[0]} sections of {shape} are smaller than --size {size}; "
                                "use a smaller --size")
        return labels


def cut_tiles(surveys: str | os.PathLike | Sequence[str | os.PathLike], out: str | os.PathLike, *, size: int = 101,
              stride: int | None = None, every: int = 1, sections: Sequence[str] = ("inline", "xline"),
              labels: bool = True) -> dict:
    """Write the tiles of one or more surveys (ids of several surveys start with the file's stem);
    returns a summary {tiles, with_salt, sections, size, labelled, out}."""
    from hpcfault.io.tgs import csv_text, finish_dir, fresh_dir

    surveys = [surveys] if isinstance(surveys, (str, os.PathLike)) else list(surveys)
    if size < 8 or (stride is not None and stride < 1) or every < 1:
        raise HpcfaultError(f"--size must be >= 8, --stride and --every >= 1 (got {size}, {stride}, {every}); "
                            "e.g. --size 101")
    bad = [s for s in sections if s not in AXES]
    if bad or not sections:
        raise HpcfaultError(f"--axes lists inline and/or xline (got {list(sections)}); e.g. --axes inline,xline")
    stems = [Path(s).stem for s in surveys]
    if len(set(stems)) != len(stems):
        raise HpcfaultError(f"surveys must have different file names (got {stems}); their tiles are named after them")
    if any(Path(out).resolve() == Path(s).resolve() for s in surveys):
        raise HpcfaultError(f"the output folder is a survey (got {out}); choose a new folder")
    labelled = [_check_survey(s, size, sections, labels) for s in surveys][0]
    final, tmp = fresh_dir(out)
    part = "train" if labelled else "test"
    (tmp / part / "images").mkdir(parents=True)
    if labelled:
        (tmp / part / "masks").mkdir()
    rle: dict[str, str] = {}
    depths: dict[str, str] = {}
    counts = [0, 0]
    try:
        for survey, stem in zip(surveys, stems):
            prefix = f"{stem}-" if len(surveys) > 1 else ""
            _cut_one(survey, tmp / part, prefix, size, stride, every, sections, labelled, rle, depths, counts)
        if labelled:
            (tmp / "train.csv").write_text(csv_text(rle, ("id", "rle_mask")), encoding="utf-8")
        (tmp / "depths.csv").write_text(csv_text(depths, ("id", "z")), encoding="utf-8")
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finish_dir(final, tmp)
    return {"out": str(final), "tiles": len(depths), "with_salt": counts[0], "sections": counts[1],
            "size": size, "labelled": labelled, "part": part, "surveys": len(surveys)}


def _cut_one(survey, part_dir: Path, prefix: str, size: int, stride: int | None, every: int,
             sections: Sequence[str], labelled: bool, rle: dict, depths: dict, counts: list) -> None:
    from hpcfault.data.cube_sources import SUBSAMPLE_VOXELS, training_normalizer
    from hpcfault.io.tgs import rle_encode, tile_starts, write_png
    from hpcfault.io.volume import open_volume, read_geometry

    with open_volume(survey) as f:
        data = f["data"]
        shape = data.shape
        geom = read_geometry(f)
        step = max(1, int(np.ceil((np.prod(shape) / SUBSAMPLE_VOXELS) ** (1 / 3))))
        norm = training_normalizer(data[::step, ::step, ::step])
        for direction in sections:
            axis = AXES[direction]
            numbers = geom.inlines if axis == 1 else geom.xlines
            for k in range(0, shape[axis], every):
                box = [slice(None)] * 3
                box[axis] = k
                img = np.rint(norm.apply(np.asarray(data[tuple(box)], np.float32)) * 255).astype(np.uint8)
                mask = np.asarray(f["salt"][tuple(box)]) > 0 if labelled else None
                counts[1] += 1
                for t0 in tile_starts(img.shape[0], size, stride):
                    for l0 in tile_starts(img.shape[1], size, stride):
                        tid = f"{prefix}{direction[0]}l{int(numbers[k])}-t{t0}-{'xi'[axis - 1]}{l0}"
                        write_png(part_dir / "images" / f"{tid}.png", img[t0:t0 + size, l0:l0 + size])
                        depths[tid] = f"{float(geom.samples[t0]):g}"
                        if mask is not None:
                            m = mask[t0:t0 + size, l0:l0 + size].astype(np.uint8)
                            write_png(part_dir / "masks" / f"{tid}.png", m * 255)
                            rle[tid] = rle_encode(m)
                            counts[0] += bool(m.any())
