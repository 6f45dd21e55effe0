"""The published Fault-Net TorchScript files (FaultNet_Gamma0.{5,6,7}.pt, Apache-2.0) -> our module.

The files hold a traced FaultNet whose state_dict has exactly our FaultNet's keys; the branch
widths are read from the weight shapes, gamma (the MD-loss parameter it was trained with) from the
file name.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

from hpcfault.errors import HpcfaultError


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def gamma_from_name(path: str | os.PathLike) -> float | None:
    match = re.search(r"gamma[_-]?(\d+(?:\.\d+)?)", Path(path).stem, re.IGNORECASE)
    return float(match.group(1)) if match else None


def load_torchscript(path: str | os.PathLike):
    import torch

    path = Path(path)
    if not path.is_file():
        raise HpcfaultError(f"published weights file not found (got {str(path)!r}); give a FaultNet_Gamma0.*.pt file")
    import warnings

    try:
        with warnings.catch_warnings():  # the published files are TorchScript; there is no other form
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise HpcfaultError(f"cannot load {str(path)!r} as TorchScript (got {reason[:160]}); "
                            "give one of the published FaultNet_Gamma0.*.pt files") from None


def config_from_state(state: dict[str, Any]) -> dict[str, Any]:
    """FaultNet config read from a published state_dict's weight shapes."""
    try:
        w0 = int(state["conv1.0.weight"].shape[0])
        w1 = int(state["transition1.1.0.0.weight"].shape[0])
        w2 = int(state["transition2.2.0.0.weight"].shape[0])
        expansion = int(state["layer1.0.conv3.weight"].shape[0]) // w0
    except KeyError as exc:
        raise HpcfaultError(f"not a Fault-Net state_dict (got no key {exc}); "
                            "give one of the published FaultNet_Gamma0.*.pt files") from None
    return {"widths": [w0, w1, w2], "expansion": expansion, "blocks": 2, "mcf": "fuse_layer1.bn.weight" in state}


def import_published(path: str | os.PathLike, check_shape: tuple[int, int, int] | None = (32, 32, 32)):
    """Our FaultNet with the weights of a published TorchScript file, its config and provenance.

    With `check_shape`, both models run on one seeded random input and the max abs difference is
    recorded in the provenance (it is 0.0 for the published files: same ops, same order).
    """
    import datetime

    import torch

    from hpcfault import __version__
    from hpcfault.models.checkpoint import model_from_checkpoint

    path = Path(path)
    scripted = load_torchscript(path)
    state = {k: v.detach().clone() for k, v in scripted.state_dict().items()}
    config = config_from_state(state)
    name = "faultnet" if config["mcf"] else "faultnet-nomcf"
    model = model_from_checkpoint({"model": name, "config": config, "state_dict": state}, source=str(path)).eval()
    provenance: dict[str, Any] = {
        "source": path.name, "source_path": str(path.resolve()), "sha256": sha256_of(path),
        "gamma": gamma_from_name(path), "license": "Apache-2.0 (Fault-Net authors)",
        "imported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "hpcfault": __version__, "torch": str(torch.__version__),
    }
    if check_shape:
        gen = torch.Generator().manual_seed(0)
        x = torch.rand((1, 1, *check_shape), generator=gen)
        with torch.inference_mode():
            diff = (model(x) - scripted(x)).abs().max().item()
        provenance["check"] = {"shape": list(check_shape), "max_abs_diff": diff}
        if diff > 1e-5:
            raise HpcfaultError(f"{str(path)!r}: our Fault-Net differs from the TorchScript file (got max abs "
                                f"difference {diff:.3g} on a {check_shape} input); the file's architecture differs")
    return model, name, config, provenance
