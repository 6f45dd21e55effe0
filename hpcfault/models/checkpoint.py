"""Project checkpoints: one torch.save'd dict that torch.load(weights_only=True) can read.

    {"format": "hpcfault-checkpoint/1", "model": "faultnet", "task": "fault", "config": {...},
     "provenance": {...}, "state_dict": {...}}

`config` holds the keyword arguments of build_model (plain ints, bools and lists); `task` names the
task the model serves (hpcfault/tasks; checkpoints written before tasks existed have none and are
fault checkpoints); `provenance` says where the weights come from (import-weights: source file,
sha256, gamma; training: run dir...).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hpcfault.errors import HpcfaultError
from hpcfault.io.atomic import atomic_path
from hpcfault.models.registry import MODELS, build_model, check_task, model_config_of, resolve_config

FORMAT = "hpcfault-checkpoint/1"


def save_checkpoint(path: str | os.PathLike, model: nn.Module, name: str, config: dict[str, Any] | None = None,
                    provenance: dict[str, Any] | None = None, task: str = "fault") -> None:
    """Write `model`'s weights with its registry `name`, `config` (default: the model's own) and
    `task`, atomically."""
    from hpcfault.tasks import task_spec

    task = task_spec(task).name
    check_task(name, task)
    if config is None:
        config = model_config_of(model)
    resolved = resolve_config(name, config)
    plain = {k: (list(v) if isinstance(v, tuple) else v) for k, v in resolved.items()}
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    # plain JSON values only, so that torch.load(weights_only=True) accepts the file
    provenance = json.loads(json.dumps(dict(provenance or {}), default=str))
    payload = {"format": FORMAT, "model": name, "task": task, "config": plain, "provenance": provenance,
               "state_dict": state}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load and check a project checkpoint (weights_only=True): the dict described above."""
    path = Path(path)
    if not path.is_file():
        raise HpcfaultError(f"checkpoint not found (got {str(path)!r}); give the path of a .pt file "
                            "written by 'hpcfault train' or 'hpcfault import-weights'")
    if _looks_like_torchscript(path):  # torch.load would hand it to torch.jit.load
        raise HpcfaultError(f"{str(path)!r} is a TorchScript model, not an hpcfault checkpoint (got a file with "
                            "code/ entries); convert it with 'hpcfault import-weights FILE -o CHECKPOINT'")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt zip, truncated file, a pickle with foreign classes...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HpcfaultError(f"cannot read checkpoint {str(path)!r} (got {type(exc).__name__}: {reason[:160]}); "
                            "the file is corrupt or not a checkpoint; re-create it") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        got = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise HpcfaultError(f"{str(path)!r} is not an hpcfault checkpoint (got format {got!r}, want {FORMAT!r}); "
                            "a bare state_dict or TorchScript file can be converted with 'hpcfault import-weights'")
    missing = [k for k in ("model", "config", "state_dict") if k not in payload]
    if missing:
        raise HpcfaultError(f"checkpoint {str(path)!r} lacks {missing} (got keys {sorted(payload)}); re-create it")
    if payload["model"] not in MODELS:
        raise HpcfaultError(f"checkpoint {str(path)!r} holds an unknown model (got {payload['model']!r}); "
                            f"valid models: {', '.join(MODELS)}")
    payload.setdefault("provenance", {})
    from hpcfault.tasks import TASKS

    payload.setdefault("task", "fault")   # checkpoints from before tasks existed hold fault models
    if payload["task"] not in TASKS:
        raise HpcfaultError(f"checkpoint {str(path)!r} serves an unknown task (got {payload['task']!r}); "
                            f"valid tasks: {', '.join(TASKS)}; it comes from a newer hpcfault")
    return payload


def _looks_like_torchscript(path: Path) -> bool:
    import zipfile
    try:
        with zipfile.ZipFile(path) as zf:
            return any("/code/" in n or n.startswith("code/") for n in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def model_from_checkpoint(payload: dict[str, Any], source: str = "checkpoint") -> nn.Module:
    """Build the model a checkpoint names and load its weights (strict)."""
    name = payload["model"]
    try:
        model = build_model(name, **payload["config"])
    except HpcfaultError as exc:
        raise HpcfaultError(f"{source}: wrong model config: {exc}") from None
    state = payload["state_dict"]
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (first {missing[0]!r})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (first {unexpected[0]!r})")
        if shapes:
            k = shapes[0]
            parts.append(f"{len(shapes)} shape mismatches (first {k!r}: {tuple(state[k].shape)} vs "
                         f"{tuple(own[k].shape)})")
        raise HpcfaultError(f"{source}: weights do not fit model {name!r} with config {payload['config']} "
                            f"(got {', '.join(parts)}); the checkpoint's model name or config is wrong")
    model.load_state_dict(state, strict=True)
    return model


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu", expect: str | None = None) -> nn.Module:
    """The eval-mode model stored in the project checkpoint `path`, on `device`.

    `expect` (a registry name) rejects a checkpoint of another architecture with a clear error.
    """
    payload = read_checkpoint(path)
    if expect is not None and payload["model"] != expect:
        raise HpcfaultError(f"checkpoint {str(path)!r} holds model {payload['model']!r} (got it where "
                            f"{expect!r} is expected); pass a {expect} checkpoint or choose model {payload['model']!r}")
    model = model_from_checkpoint(payload, source=f"checkpoint {str(path)!r}")
    return model.to(device).eval()
