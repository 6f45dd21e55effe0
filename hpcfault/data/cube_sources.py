"""Where training cubes come from: synthetic models made on the fly, or labelled volume files.

A source has `name`, `check(cube, min_fault_voxels)` (raises a clear HpcfaultError when it cannot
serve such cubes), `draw(rng, cube, labels) -> {"seismic", *labels, "mask"}` raw arrays (labels:
the names of the label volumes a task trains on, "labels" first), `normalizer(seismic)` (the
Normalizer of that input) and `scale(seismic)` to [0, 1]. Draws use only the generator they are
given, so they are reproducible. `scale_like` puts labels in the input's units (e.g. a clean
target image) through the same linear map, unclipped.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from hpcfault.errors import HpcfaultError
from hpcfault.normalize import Normalizer, fit_normalizer

# Training inputs are scaled to [0, 1] by min-max after clipping at the 0.5 / 99.5 percentiles
# (hpcfault.normalize, the same code inference uses). Checkpoints record it as
# provenance["input_clip_percentile"], and `hpcfault predict` applies it to the survey.
TRAIN_CLIP_PERCENTILE = 0.5
SUBSAMPLE_VOXELS = 2_000_000       # voxels read to estimate a volume's percentiles
MAX_FAULT_POINTS = 1_000_000       # labelled fault voxels kept as cube anchors (strided beyond)
SLAB = 64


def training_normalizer(values: np.ndarray) -> Normalizer:
    """The [0, 1] scaling of training inputs, fitted on `values` (a cube, a volume or a subsample)."""
    return fit_normalizer(values, TRAIN_CLIP_PERCENTILE)


def scale_training_input(x: np.ndarray) -> np.ndarray:
    """Scale an array to [0, 1] over its own statistics, as training cubes and held-out volumes are."""
    return training_normalizer(x).apply(x)


def scale_like(values: np.ndarray, normalizer: Normalizer) -> np.ndarray:
    """`values` in the units of an input scaled by `normalizer`: (v - lo) / (hi - lo), not clipped."""
    if normalizer.constant:
        return np.full(np.shape(values), 0.5, np.float32)
    lo, hi = float(normalizer.lo), float(normalizer.hi)
    return ((np.asarray(values, np.float64) - lo) * (1.0 / (hi - lo))).astype(np.float32)


class SyntheticSource:
    """Synthetic cubes made on the fly (unlimited): each draw is a fresh `SynthModel` drawn from
    `config` (a SynthConfig; default: the training ranges).

    shape None (default) makes each model at the cube's size. A larger shape makes a model of that
    size and renders only a random cube-sized box of it (cheap: the model renders any sub-box), so
    faults, folds and layers appear at a larger scale relative to the cube.
    """

    def __init__(self, shape: Sequence[int] | None = None, seed: int = 0, name: str = "synthetic",
                 config=None):
        from hpcfault.data.synth_config import DEFAULT

        self.shape = None if shape is None else tuple(int(s) for s in shape)
        self.seed = int(seed)
        self.name = name
        self.config = DEFAULT if config is None else config

    def check(self, cube: tuple[int, int, int], min_fault_voxels: int) -> None:
        if self.shape is not None and any(s < c for s, c in zip(self.shape, cube)):
            raise HpcfaultError(f"{self.name}: cube {cube} is larger than the synthetic shape {self.shape}; "
                                "use a smaller cube or a larger synthetic shape")

    def draw(self, rng: np.random.Generator, cube: tuple[int, int, int], labels: tuple[str, ...] = ("labels",)):
        from hpcfault.data.synth import SynthModel

        shape = self.shape or cube
        model_seed = int(np.random.SeedSequence([self.seed, int(rng.integers(2 ** 62))]).generate_state(1, np.uint64)[0] >> 2)
        model = SynthModel(shape, model_seed, self.config)
        box = tuple(slice(o, o + c) for o, c in
                    ((int(rng.integers(0, s - c + 1)), c) for s, c in zip(shape, cube)))
        v = model.render_volumes(*box)
        missing = [k for k in labels if k not in v]
        if missing:
            raise HpcfaultError(f"{self.name}: the synthetic generator makes no {missing} (got {sorted(v)}); "
                                "train this task from volume files that hold them")
        return {"seismic": v["seismic"], **{k: v[k] for k in labels}, "mask": np.ones(cube, np.uint8)}

    def normalizer(self, seis: np.ndarray) -> Normalizer:
        return training_normalizer(seis)

    def scale(self, seis: np.ndarray) -> np.ndarray:
        return scale_training_input(seis)


class VolumeSource:
    """A labelled volume file (datasets data, labels 0/1, mask 0/1 of one shape), e.g. from
    `hpcfault labels sparsify`. Checked and scanned once; cubes are read from the file per draw.

    Cubes are anchored on labelled fault voxels: a random one is picked and the cube placed at a
    random offset around it, so sparse labels are found without scanning blind.
    """

    def __init__(self, path: str | os.PathLike, name: str | None = None, labels: tuple[str, ...] = ("labels",)):
        from hpcfault.io.volume import open_volume

        self.path = Path(path)
        self.name = name or self.path.name
        self.labels = tuple(labels)
        self._h5 = None
        self._pid = None
        with open_volume(self.path) as f:
            shape = f["data"].shape
            missing = [k for k in (*self.labels, "mask") if k not in f]
            if missing:
                hint = ("make sparse labels with 'hpcfault labels sparsify IN OUT --every 30' "
                        "(--every 1 keeps every slice)")
                raise HpcfaultError(f"{self.path}: no {' or '.join(missing)} dataset (got {sorted(f.keys())}); {hint}")
            for k in (*self.labels, "mask"):
                if f[k].shape != shape:
                    raise HpcfaultError(f"{self.path}: '{k}' has shape {f[k].shape} but 'data' has {shape}; "
                                        "they must match voxel for voxel")
            self.shape = tuple(int(s) for s in shape)
            anchors, self.labelled_voxels = [], 0
            for i0 in range(0, shape[1], SLAB):
                sl = (slice(None), slice(i0, min(i0 + SLAB, shape[1])), slice(None))
                labels, mask = f["labels"][sl], f["mask"][sl]
                for what, arr in (("labels", labels), ("mask", mask)):
                    bad = (arr != 0) & (arr != 1)
                    if bad.any():
                        raise HpcfaultError(f"{self.path}: {what} must hold only 0 and 1 (got values "
                                            f"{np.unique(arr[bad])[:5].tolist()}); binarise them first")
                self.labelled_voxels += int(np.count_nonzero(mask))
                t, i, x = np.nonzero((labels > 0) & (mask > 0))
                anchors.append(np.ravel_multi_index((t, i + i0, x), shape))
            if self.labelled_voxels == 0:
                raise HpcfaultError(f"{self.path}: the mask marks no labelled slice (all zero); "
                                    "make one with 'hpcfault labels sparsify'")
            pts = np.concatenate(anchors)
            if len(pts) > MAX_FAULT_POINTS:
                pts = pts[:: -(-len(pts) // MAX_FAULT_POINTS)]
            self.fault_points = pts
            step = max(1, int(np.ceil((np.prod(shape) / SUBSAMPLE_VOXELS) ** (1 / 3))))
            self._normalizer = training_normalizer(f["data"][::step, ::step, ::step])

    def __getstate__(self):   # picklable for DataLoader workers: reopen the file in each process
        state = dict(self.__dict__)
        state["_h5"], state["_pid"] = None, None
        return state

    def check(self, cube: tuple[int, int, int], min_fault_voxels: int) -> None:
        if any(c > s for c, s in zip(cube, self.shape)):
            raise HpcfaultError(f"{self.name}: cube {cube} is larger than the volume {self.shape}; "
                                "use a cube no larger than the volume on every axis")
        if min_fault_voxels > 0 and len(self.fault_points) == 0:
            raise HpcfaultError(f"{self.name}: no labelled fault voxel inside the mask, so no cube can hold "
                                f"{min_fault_voxels}; check the labels or set min_fault_voxels=0")

    def _file(self):
        import h5py

        if self._h5 is None or self._pid != os.getpid():
            self._h5, self._pid = h5py.File(self.path, "r"), os.getpid()
        return self._h5

    def draw(self, rng: np.random.Generator, cube: tuple[int, int, int], labels: tuple[str, ...] = ("labels",)):
        if len(self.fault_points):
            anchor = np.unravel_index(int(self.fault_points[rng.integers(len(self.fault_points))]), self.shape)
            start = [int(np.clip(a - rng.integers(0, c), 0, s - c)) for a, c, s in zip(anchor, cube, self.shape)]
        else:
            start = [int(rng.integers(0, s - c + 1)) for c, s in zip(cube, self.shape)]
        box = tuple(slice(o, o + c) for o, c in zip(start, cube))
        f = self._file()
        return {"seismic": f["data"][box], **{k: f[k][box] for k in labels}, "mask": f["mask"][box]}

    def normalizer(self, seis: np.ndarray) -> Normalizer:
        return self._normalizer

    def scale(self, seis: np.ndarray) -> np.ndarray:
        return self._normalizer.apply(seis)
