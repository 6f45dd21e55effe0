"""Initial weights for training (`hpcfault train --init FILE`): any state dict that fits by name.

FILE may be a project checkpoint, a torch.save'd state dict, or a dict holding one under
"state_dict" or "model" (e.g. a training checkpoint of another tool). Keys are matched by name,
first as they are, then without a DDP "module." prefix, then under "encoder." (a bare ResNet's
state dict - conv1, layer1.0.conv1, ... - fills a U-Net-ResNet's encoder). Only tensors whose
shapes equal the model's are copied; an RGB stem (conv1 with 3 input channels) becomes the
1-channel stem by summing over the colour channels, the usual way to start a grayscale network
from RGB weights. What was loaded and what not is returned (and logged by the trainer); a file
from which nothing fits is one clear error.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hpcfault.errors import HpcfaultError

log = logging.getLogger(__name__)
PREFIXES = ("", "encoder.")


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of `path` by name (see the module doc for the accepted layouts)."""
    path = Path(path)
    if not path.is_file():
        raise HpcfaultError(f"--init file not found (got {str(path)!r}); give a checkpoint or state dict (.pt/.pth)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise HpcfaultError(f"cannot read --init file {str(path)!r} (got {type(exc).__name__}: {reason}); "
                            "give a torch.save'd state dict or an hpcfault checkpoint") from None
    for key in ("state_dict", "model"):
        if isinstance(payload, dict) and isinstance(payload.get(key), dict):
            payload = payload[key]
            break
    if not isinstance(payload, dict):
        raise HpcfaultError(f"--init file {str(path)!r} holds no state dict (got {type(payload).__name__}); "
                            "give a dict of tensors by parameter name")
    tensors = {str(k): v for k, v in payload.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise HpcfaultError(f"--init file {str(path)!r} holds no tensors (got keys {sorted(payload)[:5]}); "
                            "give a dict of tensors by parameter name")
    return tensors


def _fit(own: torch.Tensor, theirs: torch.Tensor) -> torch.Tensor | None:
    if tuple(theirs.shape) == tuple(own.shape):
        return theirs
    rgb_stem = (own.dim() == 4 and theirs.dim() == 4 and own.shape[1] == 1 and theirs.shape[1] == 3
                and own.shape[0] == theirs.shape[0] and own.shape[2:] == theirs.shape[2:])
    return theirs.sum(1, keepdim=True) if rgb_stem else None


def load_init(model: nn.Module, path: str | os.PathLike) -> dict[str, Any]:
    """Copy every fitting tensor of `path` into `model` (in place); returns {"loaded", "total",
    "skipped" (their keys that found no place), "missing" (own keys left as initialised)}."""
    theirs = read_state_dict(path)
    theirs = {k[len("module."):] if k.startswith("module.") else k: v for k, v in theirs.items()}
    own = model.state_dict()
    new, used = {}, set()
    for prefix in PREFIXES:
        for key, value in theirs.items():
            name = prefix + key
            if key in used or name not in own or name in new:
                continue
            fitted = _fit(own[name], value)
            if fitted is not None:
                new[name] = fitted.to(own[name].dtype)
                used.add(key)
    if not any(k for k in new if not k.endswith("num_batches_tracked")):
        sample = ", ".join(sorted(theirs)[:3])
        raise HpcfaultError(f"no tensor of --init file {str(path)!r} fits the model (got keys like {sample}); "
                            f"give weights of the same architecture, e.g. {next(iter(own))}")
    with torch.no_grad():
        for name, value in new.items():
            own[name].copy_(value)
    report = {"loaded": len(new), "total": len(own), "skipped": sorted(set(theirs) - used),
              "missing": sorted(set(own) - set(new))}
    log.info("--init %s: %d of %d tensors loaded, %d of the file's skipped", path, report["loaded"],
             report["total"], len(report["skipped"]))
    return report
