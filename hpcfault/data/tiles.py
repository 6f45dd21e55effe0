"""Training tiles for 2D section models, mixed from several sources, sharded across ranks and
resumable exactly like the cubes of 3D models (sampling.py: tile g of the run is a pure function
of (seed, g); rank r of W draws g = r, r + W, ...).

A tile is an (H, W) window of a section - an inline (time x crossline) or a crossline (time x
inline) of a survey, the directions the task names - or a tile of a TGS-layout folder. Sources
have `name`, `check(tile)` and `draw(rng, tile, labels) -> {"seismic" in [0, 1], *labels, "mask"}`:

    SyntheticSections  a fresh synthetic survey per tile (e.g. the salt family); the whole section
                       is rendered and scaled to [0, 1] over itself (min-max after clipping at the
                       0.5 / 99.5 percentiles), then the tile cut from it: a tile inside a salt body
                       keeps the salt's weak amplitudes, as in a scaled survey;
    VolumeSections     a volume file with `data` and the labels (and `mask`, else every voxel
                       counts), scaled over a subsample of the whole volume;
    TgsTiles           the tiles of a TGS folder (one split of it), PNG values / 255. Tiles of
                       another size than the training tile are fitted: `pad` reflects them out to
                       the tile (mask 0 on the padding, so the loss sees the real pixels only; the
                       model pads sections the same way at inference), `resize` zooms them to it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from hpcfault.data.augment2d import Augment2DConfig, augment_tile
from hpcfault.data.cube_sources import SUBSAMPLE_VOXELS, scale_training_input, training_normalizer
from hpcfault.data.sampling import CubeSampler
from hpcfault.errors import HpcfaultError

AXES = {"inline": 1, "xline": 2}


def _tile2(tile: int | Sequence[int]) -> tuple[int, int]:
    t = (int(tile),) * 2 if np.isscalar(tile) else tuple(int(v) for v in tile)
    if len(t) != 2 or min(t) < 1:
        raise HpcfaultError(f"a tile must be a positive size or two sizes (got {tile!r}); e.g. data.tile=[128, 128]")
    return t  # type: ignore[return-value]


def _cut(arrays: dict[str, np.ndarray], rng: np.random.Generator, tile: tuple[int, int]) -> dict[str, np.ndarray]:
    h, w = arrays["seismic"].shape
    a, b = int(rng.integers(0, h - tile[0] + 1)), int(rng.integers(0, w - tile[1] + 1))
    return {k: v[a:a + tile[0], b:b + tile[1]] for k, v in arrays.items()}


class SyntheticSections:
    def __init__(self, shape: Sequence[int], seed: int = 0, name: str = "synthetic", config=None,
                 sections: Sequence[str] = ("inline", "xline")) -> None:
        from hpcfault.data.synth_config import DEFAULT

        self.shape = tuple(int(s) for s in shape)
        self.seed, self.name = int(seed), name
        self.config = DEFAULT if config is None else config
        self.axes = tuple(AXES[s] for s in sections)

    def check(self, tile: tuple[int, int]) -> None:
        for a in self.axes:
            section = (self.shape[0], self.shape[3 - a])
            if section[0] < tile[0] or section[1] < tile[1]:
                raise HpcfaultError(f"{self.name}: tile {tile} is larger than the sections {section} of the "
                                    f"synthetic shape {self.shape}; use a smaller tile or a larger shape")

    def draw(self, rng: np.random.Generator, tile: tuple[int, int], labels: tuple[str, ...]) -> dict:
        from hpcfault.data.synth import SynthModel

        model_seed = int(np.random.SeedSequence([self.seed, int(rng.integers(2 ** 62))]).generate_state(1, np.uint64)[0] >> 2)
        model = SynthModel(self.shape, model_seed, self.config)
        axis = self.axes[int(rng.integers(len(self.axes)))]
        k = int(rng.integers(self.shape[axis]))
        box = [slice(None)] * 3
        box[axis] = slice(k, k + 1)
        v = model.render_volumes(*box)
        missing = [n for n in labels if n not in v]
        if missing:
            raise HpcfaultError(f"{self.name}: the synthetic generator makes no {missing} (got {sorted(v)}); "
                                "train this task from files that hold them")
        sec = {n: np.take(v[n], 0, axis=axis) for n in ("seismic", *labels)}
        sec["seismic"] = scale_training_input(sec["seismic"])
        sec["mask"] = np.ones(sec["seismic"].shape, np.float32)
        return _cut(sec, rng, tile)


class VolumeSections:
    def __init__(self, path: str | os.PathLike, labels: tuple[str, ...], sections: Sequence[str] = ("inline", "xline"),
                 name: str | None = None) -> None:
        from hpcfault.io.volume import open_volume

        self.path, self.labels = Path(path), tuple(labels)
        self.name = name or self.path.name
        self.axes = tuple(AXES[s] for s in sections)
        self._h5 = self._pid = None
        with open_volume(self.path) as f:
            shape = f["data"].shape
            missing = [k for k in self.labels if k not in f]
            if missing:
                raise HpcfaultError(f"{self.path}: no {' or '.join(missing)} dataset (got {sorted(f.keys())}); "
                                    "a training volume holds the task's labels voxel for voxel with 'data'")
            for k in (*self.labels, *(["mask"] if "mask" in f else [])):
                if f[k].shape != shape:
                    raise HpcfaultError(f"{self.path}: '{k}' has shape {f[k].shape} but 'data' has {shape}; "
                                        "they must match voxel for voxel")
            self.has_mask = "mask" in f
            self.shape = tuple(int(s) for s in shape)
            step = max(1, int(np.ceil((np.prod(shape) / SUBSAMPLE_VOXELS) ** (1 / 3))))
            self.normalizer = training_normalizer(f["data"][::step, ::step, ::step])

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_h5"], state["_pid"] = None, None
        return state

    def check(self, tile: tuple[int, int]) -> None:
        for a in self.axes:
            section = (self.shape[0], self.shape[3 - a])
            if section[0] < tile[0] or section[1] < tile[1]:
                raise HpcfaultError(f"{self.name}: tile {tile} is larger than its sections {section}; "
                                    "use a smaller data.tile")

    def draw(self, rng: np.random.Generator, tile: tuple[int, int], labels: tuple[str, ...]) -> dict:
        import h5py

        if self._h5 is None or self._pid != os.getpid():
            self._h5, self._pid = h5py.File(self.path, "r"), os.getpid()
        axis = self.axes[int(rng.integers(len(self.axes)))]
        k = int(rng.integers(self.shape[axis]))
        other = 3 - axis
        a = int(rng.integers(0, self.shape[0] - tile[0] + 1))
        b = int(rng.integers(0, self.shape[other] - tile[1] + 1))
        box = [slice(a, a + tile[0]), None, None]
        box[axis], box[other] = k, slice(b, b + tile[1])
        f = self._h5
        out = {n: np.asarray(f[n][tuple(box)], np.float32) for n in ("data", *labels)}
        out["seismic"] = self.normalizer.apply(out.pop("data"))
        out["mask"] = np.asarray(f["mask"][tuple(box)], np.float32) if self.has_mask else np.ones(tile, np.float32)
        return out


class TgsTiles:
    def __init__(self, path: str | os.PathLike, split: str = "train", fit: str = "pad", name: str | None = None) -> None:
        from hpcfault.io.tgs import read_tgs, split_ids

        s = read_tgs(path)
        if s.masks is None:
            raise HpcfaultError(f"{path}: a TGS training folder needs masks (got none: no masks/ and no train.csv); "
                                "label the tiles or use the folder for predict-tiles only")
        self.tiles = s.subset(split_ids(s.ids, split))
        if not self.tiles.ids:
            raise HpcfaultError(f"{path}: the {split} split is empty (got {len(s.ids)} tiles); use split: all")
        if fit not in ("pad", "resize"):
            raise HpcfaultError(f"unknown tile fit (got {fit!r}); valid: pad, resize")
        self.fit, self.name = fit, name or f"{Path(path).name}:{split}"

    def check(self, tile: tuple[int, int]) -> None:
        return None                                       # any tile size: pad, crop or resize

    def fitted(self, image: np.ndarray, mask: np.ndarray, tile: tuple[int, int], rng: np.random.Generator | None):
        """(image, mask, loss mask) of one tile brought to `tile` (pad or resize; crop if larger)."""
        img, lab = image.astype(np.float32) / np.float32(255.0), mask.astype(np.float32)
        keep = np.ones(img.shape, np.float32)
        if self.fit == "resize" and img.shape != tile:
            from scipy.ndimage import zoom

            f = (tile[0] / img.shape[0], tile[1] / img.shape[1])
            img = np.clip(zoom(img, f, order=1, mode="nearest", grid_mode=True), 0.0, 1.0)
            lab = zoom(lab, f, order=0, mode="nearest", grid_mode=True)
            keep = np.ones(tile, np.float32)
        pads = [(0, max(0, t - s)) for t, s in zip(tile, img.shape)]
        if any(p for _, p in pads):
            mode = "reflect" if all(p < s for (_, p), s in zip(pads, img.shape)) else "symmetric"
            img, lab = np.pad(img, pads, mode=mode), np.pad(lab, pads, mode=mode)
            keep = np.pad(keep, pads, mode="constant")
        arrays = {"seismic": img, "label": lab, "mask": keep}
        if img.shape != tile:
            arrays = _cut(arrays, rng or np.random.default_rng(0), tile)
        return arrays["seismic"], arrays["label"], arrays["mask"]

    def draw(self, rng: np.random.Generator, tile: tuple[int, int], labels: tuple[str, ...]) -> dict:
        n = int(rng.integers(len(self.tiles.ids)))
        img, lab, keep = self.fitted(self.tiles.images[n], self.tiles.masks[n], tile, rng)
        return {"seismic": img, labels[0]: lab, "mask": keep}


class TileSampler(CubeSampler):
    """Endless iterator of {"seismic", *labels, "mask"} float32 (H, W) tiles (see the module doc);
    `batch(n)` stacks them as (n, 1, H, W). A tile must hold `min_label_pixels` labelled pixels of
    the first label (0: any tile) or is redrawn, up to `max_tries` times."""

    def __init__(self, sources: Sequence, weights: Sequence[float] | None = None, tile: int | Sequence[int] = 128,
                 min_label_pixels: int = 0, seed: int = 0, rank: int = 0, world_size: int = 1,
                 augment: Augment2DConfig | None = Augment2DConfig(), max_tries: int = 50,
                 labels: Sequence[str] = ("salt",)) -> None:
        if not sources:
            raise HpcfaultError("the tile sampler needs at least one source (got none); give synthetic, volume or "
                                "tgs sources")
        self.labels, self.sources = tuple(labels), list(sources)
        w = np.ones(len(self.sources)) if weights is None else np.asarray(weights, np.float64)
        if w.shape != (len(self.sources),) or (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise HpcfaultError(f"weights must be {len(self.sources)} non-negative numbers, not all zero "
                                f"(got {None if weights is None else list(weights)})")
        self.weights = w / w.sum()
        self.tile = _tile2(tile)
        if not 0 <= rank < world_size:
            raise HpcfaultError(f"rank must be in [0, world_size) (got rank {rank}, world_size {world_size})")
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        self.min_fault_voxels = int(min_label_pixels)
        self.max_tries, self.augment = int(max_tries), augment
        for src, wt in zip(self.sources, self.weights):
            if wt > 0:
                src.check(self.tile)
        self.position = 0
        self.last: dict = {}

    def draw(self, g: int) -> dict:
        rng = np.random.default_rng([self.seed, int(g)])
        tried = []
        for _ in range(self.max_tries):
            src = self.sources[int(rng.choice(len(self.sources), p=self.weights))]
            arrays = src.draw(rng, self.tile, self.labels)
            found = int(np.count_nonzero((arrays[self.labels[0]] > 0) & (arrays["mask"] > 0)))
            if found >= self.min_fault_voxels:
                arrays = {k: np.asarray(v, np.float32) for k, v in arrays.items()}
                if self.augment is not None:
                    arrays = augment_tile(arrays, rng, self.augment)
                self.last = {"source": src.name, "index": int(g), "label_pixels": found}
                return arrays
            tried.append(found)
        raise HpcfaultError(f"no tile of {self.tile} with >= {self.min_fault_voxels} labelled pixels in "
                            f"{self.max_tries} tries (best {max(tried)}; sources {[s.name for s in self.sources]}); "
                            "lower data.min_fault_voxels")
