"""The per-rank cube stream of a training run, built on hpcfault.data.sampling.CubeSampler.

CubeSampler numbers the cubes of a run g = 0, 1, 2, ... (each a pure function of (seed, g)) and
rank r of W draws g = r, r + W, ...; taking `batch / W` consecutive cubes per step, the W ranks of
step s together hold exactly cubes s*batch ... s*batch + batch - 1: the batch one process draws.
The stream position (one integer per rank) is what checkpoints store.

Source kinds (TrainConfig.data.sources):
- synthetic: a fresh synthetic survey per cube (SyntheticSource), dense labels;
- synthetic-survey: `count` fixed synthetic surveys (seeds seed, seed+1, ...) generated once into
  RUN_DIR/data/ and labelled on every `label_every`-th `label_axis` slice only, optionally with a
  fraction `drop_faults` of the faults removed from those slices (false-negative labels), via
  hpcfault.data.synth.write_synthetic and `hpcfault labels sparsify` (the task's other label
  volumes, e.g. rgt and dhr, copied alongside); sampled as volume files;
- volume: a volume file with data, labels and mask (VolumeSource), e.g. a converted real survey.

2D section models draw (H, W) tiles instead (hpcfault/data/tiles.py: TileSampler), cut from the
sections of synthetic surveys (synthetic: a fresh survey of `shape`, default 128^3, per tile;
synthetic-survey: `count` surveys made once in RUN_DIR/data/ with every label, densely - much
cheaper per tile) and of volume files along the task's directions, or taken from a TGS-layout
folder (tgs); same numbering, sharding and state as cubes.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from hpcfault.errors import HpcfaultError
from hpcfault.train.config import SourceConfig, TrainConfig

log = logging.getLogger(__name__)


def survey_files(src: SourceConfig, data_dir: Path) -> list[Path]:
    t, i, x = src.shape
    tag = f"{t}x{i}x{x}-every{src.label_every}{src.label_axis[0]}-drop{src.drop_faults:g}-{src.family}"
    if src.synth:
        import hashlib
        import json

        tag += "-" + hashlib.sha256(json.dumps(src.synth, sort_keys=True).encode()).hexdigest()[:8]
    return [data_dir / f"synth-{src.seed + k}-{tag}.h5" for k in range(src.count)]


def prepare_surveys(cfg: TrainConfig, run_dir: Path, workers: int = 0) -> None:
    """Generate the synthetic-survey sources' files that are not there yet (call on rank 0), in
    `workers` processes when more than one (each file depends only on its seed: the same files
    either way). For a 2D section model they keep every label volume of the generator, densely
    (no mask)."""
    jobs = [(src, k, path) for src in cfg.data.sources if src.kind == "synthetic-survey"
            for k, path in enumerate(survey_files(src, run_dir / "data")) if not path.is_file()]
    if not jobs:
        return
    (run_dir / "data").mkdir(parents=True, exist_ok=True)
    if workers > 1 and len(jobs) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        log.info("making %d training surveys in %d processes", len(jobs), min(workers, len(jobs)))
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=multiprocessing.get_context("fork")) as pool:
            for path in pool.map(_make_survey, [cfg] * len(jobs), *zip(*jobs)):
                log.info("made training survey %s", path)
        return
    for src, k, path in jobs:
        log.info("made training survey %s", _make_survey(cfg, src, k, path))


def _make_survey(cfg: TrainConfig, src: SourceConfig, k: int, path: Path) -> Path:
    """One synthetic-survey file, written whole or not at all (a temporary name, then a rename)."""
    from hpcfault.cli.labels import sparsify
    from hpcfault.data.synth import write_synthetic
    from hpcfault.data.synth_config import synth_config
    from hpcfault.models.catalog import model_dims
    from hpcfault.tasks import task_spec

    if model_dims(cfg.model.name) == 2:
        write_synthetic(path, src.shape, src.seed + k, family=src.family,
                        config=synth_config(src.family, mapping=src.synth))
        return path
    dense = path.with_name(f".dense-{path.name}")
    write_synthetic(dense, src.shape, src.seed + k, config=synth_config(src.family, mapping=src.synth),
                    family=src.family)
    part = path.with_name(f".part-{path.name}")        # complete only once the labels are copied too
    sparsify(str(dense), str(part), src.label_every or 1, src.label_axis, drop=src.drop_faults,
             seed=src.seed + k)
    _copy_labels(dense, part, task_spec(cfg.task).labels)
    os.replace(part, path)
    dense.unlink()
    return path


def _copy_labels(src: Path, dst: Path, names: tuple[str, ...]) -> None:
    """Copy the task's label volumes that `hpcfault labels sparsify` does not write (e.g. fault_dip,
    rgt, dhr) from the dense survey; the sparse file's mask still limits training to its slices."""
    import h5py

    with h5py.File(src, "r") as f, h5py.File(dst, "r+") as g:
        for name in names:
            if name not in g and name in f:
                g.create_dataset(name, data=f[name][...], chunks=f[name].chunks)


class CubeStream:
    """`next_batch()` -> {"seismic", *labels, "mask", *the task transform's inputs} float32 arrays
    of shape (n, T, I, X).

    With `workers` > 0 the cubes come from worker processes drawing `ahead` steps in advance
    (hpcfault/train/prefetch.py): the same cubes in the same order, the same resumable position."""

    def __init__(self, sampler: Any, per_step: int, workers: int = 0, ahead_steps: int = 2) -> None:
        self.sampler = sampler
        self.per_step = per_step
        self.prefetch = None
        if workers > 0:
            from hpcfault.train.prefetch import Prefetcher

            self.prefetch = Prefetcher(sampler, workers, max(workers, ahead_steps * per_step))

    def next_batch(self) -> dict[str, np.ndarray]:
        if self.prefetch is not None:
            return self.prefetch.take(self.per_step)
        return {k: v[:, 0] for k, v in self.sampler.batch(self.per_step).items()}

    def state_dict(self) -> dict:
        return self.sampler.state_dict()   # cubes handed out, not those drawn ahead

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state)
        if self.prefetch is not None:
            self.prefetch.reset()

    def close(self) -> None:
        if self.prefetch is not None:
            self.prefetch.close()
            self.prefetch = None


def data_workers(cfg: TrainConfig, device_type: str) -> int:
    """data.workers, or with -1 (auto): on a GPU the task's cores but one (at most 8), on CPU none
    (the model's threads use the cores there)."""
    if cfg.data.workers >= 0:
        return cfg.data.workers
    if device_type != "cuda":
        return 0
    import os

    return max(1, min(8, len(os.sched_getaffinity(0)) - 1))


def augment_config(cfg: TrainConfig):
    """The augmentation of the config's cubes (hpcfault.data.augment), or False for none."""
    if not cfg.data.augment:
        return False
    from dataclasses import replace

    from hpcfault.data.augment import DEFAULT

    if not (cfg.data.mirror_prob or cfg.data.gain_prob):
        return True
    return replace(DEFAULT, mirror_prob=cfg.data.mirror_prob, gain_prob=cfg.data.gain_prob)


def build_stream(cfg: TrainConfig, rank: int, world: int, per_step: int, run_dir: Path,
                 workers: int = 0) -> CubeStream:
    from hpcfault.data.sampling import CubeSampler, SyntheticSource, VolumeSource
    from hpcfault.data.synth_config import synth_config
    from hpcfault.tasks import task_spec

    task = task_spec(cfg.task)
    from hpcfault.models.catalog import model_dims

    if model_dims(cfg.model.name) == 2:
        return CubeStream(build_tile_sampler(cfg, task, rank, world, run_dir), per_step)
    sources, weights = [], []
    for k, src in enumerate(cfg.data.sources):
        if src.kind == "synthetic":
            sources.append(SyntheticSource(src.shape, seed=src.seed, name=f"synthetic[{k}]",
                                           config=synth_config(src.family, mapping=src.synth)))
            weights.append(src.weight)
        elif src.kind == "volume":
            if not Path(src.path).is_file():
                raise HpcfaultError(f"data.sources[{k}]: volume file not found (got {src.path!r}); "
                                    "edit the path in the config (see configs/train-paper.yaml)")
            sources.append(VolumeSource(src.path, labels=task.labels))
            weights.append(src.weight)
        else:
            made = [VolumeSource(p, labels=task.labels) for p in survey_files(src, run_dir / "data")]
            made = with_faults(made, cfg.data.min_fault_voxels, f"data.sources[{k}]")
            sources += made
            weights += [src.weight / len(made)] * len(made)
    azimuths = {name: task.output(t.output).period for t in task.targets for name in (t.label,)
                if name in task.angle_labels}
    from hpcfault.tasks import cube_transform

    sampler = CubeSampler(sources, weights, cube=cfg.data.cube, min_fault_voxels=cfg.data.min_fault_voxels,
                          seed=cfg.seed, rank=rank, world_size=world, augment=augment_config(cfg),
                          labels=task.labels, azimuths=azimuths, scaled=task.scaled_labels,
                          smooth=task.smooth_labels, transform=cube_transform(task, cfg.refine_from))
    return CubeStream(sampler, per_step, workers)


def with_faults(surveys: list, min_fault_voxels: int, where: str) -> list:
    """The synthetic surveys (VolumeSources) that can give a cube with `min_fault_voxels`: the
    generator makes some fault-free, and cubes of those could never qualify. All of them when none
    holds a fault (each source's check then says so), or when min_fault_voxels is 0."""
    if min_fault_voxels <= 0:
        return surveys
    kept = [v for v in surveys if len(v.fault_points)]
    if len(kept) < len(surveys):
        log.info("%s: %d of %d synthetic surveys hold no fault and give no cube with min_fault_voxels=%d",
                 where, len(surveys) - len(kept), len(surveys), min_fault_voxels)
    return kept or surveys


def build_tile_sampler(cfg: TrainConfig, task, rank: int, world: int, run_dir: Path):
    """The TileSampler of a 2D section model's run (see hpcfault/data/tiles.py)."""
    from hpcfault.data.synth_config import synth_config
    from hpcfault.data.tiles import SyntheticSections, TgsTiles, TileSampler, VolumeSections

    sources, weights = [], []
    for k, src in enumerate(cfg.data.sources):
        if src.kind != "synthetic-survey":
            weights.append(src.weight)
        if src.kind == "synthetic":
            shape = src.shape or (max(cfg.data.tile[0], 128),) + (max(cfg.data.tile[1], 128),) * 2
            sources.append(SyntheticSections(shape, seed=src.seed, name=f"synthetic[{k}]", sections=task.sections,
                                             config=synth_config(src.family, mapping=src.synth)))
        elif src.kind == "volume":
            if not Path(src.path).is_file():
                raise HpcfaultError(f"data.sources[{k}]: volume file not found (got {src.path!r}); "
                                    "edit the path in the config")
            sources.append(VolumeSections(src.path, task.labels, task.sections))
        elif src.kind == "synthetic-survey":
            files = survey_files(src, run_dir / "data")
            sources += [VolumeSections(p, task.labels, task.sections) for p in files]
            weights += [src.weight / len(files)] * len(files)
            continue
        else:
            if not Path(src.path).is_dir():
                raise HpcfaultError(f"data.sources[{k}]: TGS folder not found (got {src.path!r}); give a folder with "
                                    "train/images and train/masks or train.csv (e.g. made by 'hpcfault salt-tiles')")
            sources.append(TgsTiles(src.path, src.split, cfg.data.fit))
    return TileSampler(sources, weights, tile=cfg.data.tile,
                       min_label_pixels=cfg.data.min_fault_voxels, seed=cfg.seed, rank=rank, world_size=world,
                       augment=cfg.data.augment2d if cfg.data.augment else None, labels=task.labels)
