"""Random training cubes mixed from several sources, sharded across ranks and resumable.

Cube number g of the whole run (g = 0, 1, 2, ...) is a pure function of (seed, g): its source
(chosen by the weights), its position, the synthetic model it comes from and its augmentation are
all drawn from a generator seeded with (seed, g). Rank r of W draws g = r, r + W, r + 2W, ..., so
ranks never draw the same cube, and the W ranks' first k cubes are exactly the first k*W cubes a
single process would draw. The stream position is one integer (cubes drawn per rank):
`state_dict()` / `load_state_dict()` save and restore it.

Seismic is scaled to [0, 1] by min-max after clipping at the 0.5 / 99.5 percentiles: per source
volume (from a strided subsample of it) for `VolumeSource`, over the cube itself for synthetic
cubes made on the fly.
"""
from __future__ import annotations

import logging
import os
from typing import Sequence

import numpy as np

from hpcfault.data.augment import DEFAULT as DEFAULT_AUGMENT
from hpcfault.data.augment import AugmentConfig, augment_arrays
from hpcfault.data.cube_sources import SyntheticSource, VolumeSource  # noqa: F401 (re-exported)
from hpcfault.errors import HpcfaultError

log = logging.getLogger(__name__)
STATE_VERSION = 1


def _cube3(cube: int | Sequence[int]) -> tuple[int, int, int]:
    c = (int(cube),) * 3 if np.isscalar(cube) else tuple(int(v) for v in cube)
    if len(c) != 3 or min(c) < 1:
        raise HpcfaultError(f"cube must be a positive size or three sizes (got {cube!r})")
    return c  # type: ignore[return-value]


class CubeSampler:
    """Endless iterator of {"seismic", *labels, "mask"} float32 (T, I, X) cubes; `last` tells
    where the latest one came from ({"source", "index", "fault_voxels"}). `labels` are the label
    volumes of the task ("labels" - the fault labels - first); `azimuths` those holding angles in
    the (inline, xline) plane with their period (augmentation turns their values); `scaled` those
    in the input's amplitude units (scaled like the seismic), `smooth` the continuous ones
    (interpolated linearly by augmentation); `transform(arrays, rng)` is applied to every cube last.

    sources: SyntheticSource / VolumeSource objects (or paths of volume files);
    weights: relative draw probability of each source (default equal);
    min_fault_voxels: a cube must hold at least this many labelled fault voxels inside the mask;
    a cube that does not is redrawn, up to `max_tries` times, then an error names the source.
    """

    def __init__(self, sources: Sequence, weights: Sequence[float] | None = None, cube: int | Sequence[int] = 128,
                 min_fault_voxels: int = 128, seed: int = 0, rank: int = 0, world_size: int = 1,
                 augment: bool | AugmentConfig = True, max_tries: int = 50, labels: Sequence[str] = ("labels",),
                 azimuths: dict[str, float] | None = None, scaled: Sequence[str] = (), smooth: Sequence[str] = (),
                 transform=None):
        if not sources:
            raise HpcfaultError("the sampler needs at least one source (got none); "
                                "give synthetic and/or volume sources")
        self.labels = tuple(labels)
        self.azimuths = dict(azimuths or {})
        self.scaled, self.smooth, self.transform = tuple(scaled), tuple(smooth), transform
        self.sources = [VolumeSource(s, labels=self.labels) if isinstance(s, (str, os.PathLike)) else s for s in sources]
        w = np.ones(len(self.sources)) if weights is None else np.asarray(weights, np.float64)
        if w.shape != (len(self.sources),) or (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise HpcfaultError(f"weights must be {len(self.sources)} non-negative numbers, not all zero "
                                f"(got {None if weights is None else list(weights)})")
        self.weights = w / w.sum()
        self.cube = _cube3(cube)
        if not 0 <= rank < world_size:
            raise HpcfaultError(f"rank must be in [0, world_size) (got rank {rank}, world_size {world_size})")
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        self.min_fault_voxels = int(min_fault_voxels)
        self.max_tries = int(max_tries)
        self.augment = DEFAULT_AUGMENT if augment is True else (augment or None)
        for src, wt in zip(self.sources, self.weights):
            if wt > 0:
                src.check(self.cube, self.min_fault_voxels)
        self.position = 0           # cubes drawn by this rank
        self.last: dict = {}        # where the last cube came from: source name, global index, fault voxels

    # -- the stream -------------------------------------------------------------------------
    def global_index(self, position: int) -> int:
        return position * self.world_size + self.rank

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        item = self.draw(self.global_index(self.position))
        self.position += 1
        return item

    def batch(self, n: int) -> dict:
        """The next n cubes stacked as (n, 1, T, I, X) float32 arrays (model input layout)."""
        items = [next(self) for _ in range(n)]
        return {k: np.stack([it[k] for it in items])[:, None] for k in items[0]}

    def draw(self, g: int) -> dict:
        """Cube number g of the run: the same for every rank count, resume and process."""
        rng = np.random.default_rng([self.seed, int(g)])
        tried = []
        for _ in range(self.max_tries):
            k = int(rng.choice(len(self.sources), p=self.weights))
            src = self.sources[k]
            arrays = src.draw(rng, self.cube, self.labels)
            found = int(np.count_nonzero((arrays[self.labels[0]] > 0) & (arrays["mask"] > 0)))
            if found >= self.min_fault_voxels:
                from hpcfault.data.cube_sources import scale_like

                norm = src.normalizer(arrays["seismic"])
                arrays["seismic"] = norm.apply(arrays["seismic"])
                for name in self.scaled:
                    arrays[name] = scale_like(arrays[name], norm)
                arrays = {k: np.asarray(v, np.float32) for k, v in arrays.items()}
                if self.augment is not None:
                    arrays = augment_arrays(arrays, rng, self.augment, self.azimuths, self.smooth, self.scaled)
                if self.transform is not None:
                    arrays = self.transform(arrays, rng)
                self.last = {"source": src.name, "index": int(g), "fault_voxels": found}
                return arrays
            tried.append(found)
        raise HpcfaultError(
            f"no cube of {self.cube} with >= {self.min_fault_voxels} labelled fault voxels in "
            f"{self.max_tries} tries (best {max(tried)}; sources {[s.name for s in self.sources]}); "
            "lower min_fault_voxels, use a smaller cube or label more slices")

    # -- checkpointing ----------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"version": STATE_VERSION, "seed": self.seed, "position": self.position,
                "world_size": self.world_size, "rank": self.rank}

    def load_state_dict(self, state: dict) -> None:
        """Continue the stream where `state` left it (any rank's state will do: ranks move in step).

        With another world size the stream continues after every cube already drawn by the old one.
        """
        try:
            version, seed, position, ws = (int(state[k]) for k in ("version", "seed", "position", "world_size"))
        except (KeyError, TypeError, ValueError):
            raise HpcfaultError(f"not a sampler state (got keys {sorted(state) if isinstance(state, dict) else state!r}); "
                                "pass what CubeSampler.state_dict() returned") from None
        if version != STATE_VERSION:
            raise HpcfaultError(f"sampler state version {version} is not {STATE_VERSION}; it comes from another hpcfault")
        if seed != self.seed:
            raise HpcfaultError(f"sampler state was saved with seed {seed} but this sampler has seed {self.seed}; "
                                "resume with the run's own config")
        if ws == self.world_size:
            self.position = position
        else:
            self.position = -(-position * ws // self.world_size)
            log.info("sampler resumed with world size %d (was %d): continuing at cube %d", self.world_size, ws,
                     self.global_index(self.position))
