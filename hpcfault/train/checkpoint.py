"""Complete, atomic training checkpoints.

A training state file (`RUN_DIR/checkpoints/last.pt`) holds everything a run needs to continue as
if it had never stopped: model and optimizer state, the AMP grad scaler, the step, the best
validation score so far, and for EVERY rank its random number generator states (torch, CUDA, numpy,
python) and the position of its cube stream. Rank 0 gathers the per-rank parts and writes the file
under a temporary name, then renames it, so a run killed while saving keeps its previous checkpoint.

Everything is stored as tensors, numbers, strings, lists and dicts, so the file loads with
`torch.load(weights_only=True)`.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hpcfault.errors import HpcfaultError
from hpcfault.io.atomic import atomic_path

FORMAT = "hpcfault-train-state/1"


def rng_state() -> dict[str, Any]:
    """This process's random number generator states, as weights_only-loadable values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, py_gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": {"version": version, "internal": list(internal), "gauss": py_gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def plain(value: Any) -> Any:
    """numpy scalars/arrays inside a (data-stream) state -> python values / tensors, recursively."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_state(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write a training state atomically (rank 0 only)."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)


def load_state(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets one clear line
        raise HpcfaultError(
            f"cannot read the training checkpoint {path} ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
            "delete it to restart the run from its previous checkpoint, or use a new run_dir") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        got = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise HpcfaultError(f"{path} is not a training checkpoint (got format {got!r}); expected {FORMAT}")
    return state
