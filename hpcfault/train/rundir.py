"""The run directory: its layout, and whether a run there is new or resumed.

    RUN_DIR/config.yaml            the resolved config (a valid config file: `hpcfault train RUN_DIR/config.yaml`)
    RUN_DIR/metrics.jsonl          training and validation records (see metrics_log.py)
    RUN_DIR/checkpoints/last.pt    complete training state (see checkpoint.py)
    RUN_DIR/checkpoints/model.pt   latest weights as a project checkpoint (load_model / hpcfault predict -m)
    RUN_DIR/checkpoints/best.pt    weights with the best validation IoU so far, project checkpoint

A directory holding config.yaml is an existing run: training resumes from checkpoints/last.pt
(or starts at step 0 when the run was stopped before its first checkpoint). The config given must
equal the stored one except for RESUMABLE_KEYS (e.g. `steps`, to train further); anything else
is refused with the differing keys listed.

A run directory is committed to a config only once training starts (`commit`, after every
start-up check passed): a start that fails earlier leaves at most `checkpoints/` (empty) and the
generated training surveys in `data/` (named by their parameters), and the corrected command
starts there as in a new directory.
"""
from __future__ import annotations

import os
from pathlib import Path

from hpcfault.config import dump_config, read_yaml, to_mapping
from hpcfault.errors import HpcfaultError
from hpcfault.train.config import RESUMABLE_KEYS, TrainConfig, config_differences, with_defaults

CONFIG = "config.yaml"


def last_state(run_dir: Path) -> Path:
    return run_dir / "checkpoints" / "last.pt"


def model_path(run_dir: Path) -> Path:
    return run_dir / "checkpoints" / "model.pt"


def best_path(run_dir: Path) -> Path:
    return run_dir / "checkpoints" / "best.pt"


def resolve_run_dir(cfg: TrainConfig, cli_run_dir: str | os.PathLike | None) -> Path:
    text = str(cli_run_dir) if cli_run_dir else cfg.run_dir
    if not text:
        raise HpcfaultError("no run directory (got neither run_dir in the config nor --run-dir); "
                            "pass --run-dir DIR or run_dir=DIR")
    return Path(text).expanduser().resolve()


UNCOMMITTED = {"checkpoints", "data"}   # what a start that failed before `commit` may leave


def _uncommitted_leftovers(run_dir: Path) -> bool:
    """True when `run_dir` holds nothing but what an uncommitted start leaves."""
    names = {p.name for p in run_dir.iterdir()}
    ckpt = run_dir / "checkpoints"
    return names <= UNCOMMITTED and (not ckpt.is_dir() or not any(ckpt.iterdir()))


def prepare(cfg: TrainConfig, run_dir: Path) -> bool:
    """Check the run directory (new, or a resumed one of the same config); True when resuming.
    Creates the folders but commits nothing (see `commit`). Rank 0 only."""
    stored = run_dir / CONFIG
    if run_dir.exists() and not run_dir.is_dir():
        raise HpcfaultError(f"the run directory is a file (got {run_dir}); give a folder path with --run-dir")
    mapping = to_mapping(cfg)
    if stored.is_file():
        old = read_yaml(stored)
        old.pop("kind", None)
        diffs = config_differences(with_defaults(old), mapping, defaults=to_mapping(TrainConfig()))
        if diffs:
            raise HpcfaultError(
                f"{run_dir} holds a run with a different config (got {len(diffs)} difference(s): "
                f"{'; '.join(diffs[:6])}); use a new run_dir, or the stored config "
                f"{stored} (only {', '.join(RESUMABLE_KEYS)} may change on resume)")
        return True
    if run_dir.exists() and not _uncommitted_leftovers(run_dir):
        raise HpcfaultError(f"run directory is not empty and holds no {CONFIG} (got {run_dir}); "
                            "choose a new or empty directory")
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    return False


def commit(cfg: TrainConfig, run_dir: Path) -> None:
    """Store the config now in force: the run directory belongs to it from here on (rank 0, once
    training starts; after a resume with changed RESUMABLE_KEYS, e.g. more steps, the new values)."""
    from hpcfault.io.atomic import write_text_atomic

    write_text_atomic(run_dir / CONFIG, dump_config(cfg, kind="train"))
