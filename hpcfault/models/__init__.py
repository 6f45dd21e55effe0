"""Models: Fault-Net (loads the published weights), its no-MCF ablation and the UNet3D baseline.

    from hpcfault.models import load_model, prepare_for_inference
    model = prepare_for_inference(load_model("faultnet-g07.pt"))
    with torch.inference_mode():
        prob = model(x)          # x: (N, 1, T, I, X) in [0, 1], sizes multiples of 16
        prob = model(x, frame)   # x is a block of a survey: resample on the survey's grid (frame.py)

The names below are imported on first use, so `hpcfault.models.catalog` (what `hpcfault models`
lists) and `hpcfault.models.memory` (the planner) load without torch; the others import it.
"""
from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "FORMAT": "checkpoint", "load_model": "checkpoint", "model_from_checkpoint": "checkpoint",
    "read_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
    "SIZE_MULTIPLE": "faultnet", "FaultNet": "faultnet", "check_input": "faultnet",
    "fold_all_bn": "fuse", "prepare_for_inference": "fuse", "Frame": "frame",
    "bytes_per_voxel": "memory", "largest_block": "memory", "peak_bytes": "memory",
    "MODELS": "registry", "build_model": "registry", "count_parameters": "registry",
    "model_config_of": "registry", "model_name_of": "registry", "UNet3D": "unet3d",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'hpcfault.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"hpcfault.models.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
