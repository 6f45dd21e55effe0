"""Models by name: an explicit table, not a class-name lookup, so a checkpoint names what it holds."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from hpcfault.errors import HpcfaultError
from hpcfault.models.catalog import CATALOG
from hpcfault.models.faultnet import FaultNet, FaultNetConfig
from hpcfault.models.unet3d import UNet3D, UNet3DConfig


@dataclass(frozen=True)
class ModelSpec:
    name: str
    config_class: type
    builder: Callable[..., nn.Module]
    fixed: tuple[tuple[str, Any], ...] = ()   # config values that define this name (not overridable)

    @property
    def summary(self) -> str:
        """One line from catalog.py (which `hpcfault models` lists without importing torch)."""
        return CATALOG[self.name].summary


MODELS: dict[str, ModelSpec] = {
    "faultnet": ModelSpec("faultnet", FaultNetConfig, FaultNet, (("mcf", True),)),
    "faultnet-nomcf": ModelSpec("faultnet-nomcf", FaultNetConfig, FaultNet, (("mcf", False),)),
    "unet3d": ModelSpec("unet3d", UNet3DConfig, UNet3D),
}


def model_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise HpcfaultError(f"unknown model (got {name!r}); valid models: {', '.join(MODELS)}")
    return MODELS[name]


def resolve_config(name: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full config of model `name`: defaults, updated by `config`, checked; plain types only."""
    spec = model_spec(name)
    fields = {f.name: f for f in dataclasses.fields(spec.config_class)}
    fixed = dict(spec.fixed)
    resolved = {k: f.default for k, f in fields.items()}
    for key, value in (config or {}).items():
        if key not in fields:
            raise HpcfaultError(
                f"unknown config key for model {name!r} (got {key!r}); valid keys: {', '.join(fields)}")
        if key in fixed and value != fixed[key]:
            raise HpcfaultError(
                f"model {name!r} needs {key}={fixed[key]!r} (got {value!r}); pick another model name instead")
        resolved[key] = value
    resolved.update(fixed)
    for key, value in resolved.items():
        default = fields[key].default
        if isinstance(default, tuple):
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and v > 0 for v in value) \
                    or (key == "widths" and len(value) != len(default)) or len(value) < 2:
                raise HpcfaultError(
                    f"model {name!r}: {key} must be a list of positive integers like {list(default)} (got {value!r})")
            resolved[key] = tuple(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise HpcfaultError(f"model {name!r}: {key} must be true or false (got {value!r})")
        elif isinstance(default, int) and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise HpcfaultError(f"model {name!r}: {key} must be a positive integer (got {value!r})")
    return resolved


def build_model(name: str, **config: Any) -> nn.Module:
    """A freshly initialised model `name` (see MODELS) with `config` overriding its defaults."""
    spec = model_spec(name)
    return spec.builder(**resolve_config(name, config))


def model_name_of(model: nn.Module) -> str:
    """The registry name of a model built here (from its class and config)."""
    if isinstance(model, FaultNet):
        return "faultnet" if model.config.mcf else "faultnet-nomcf"
    if isinstance(model, UNet3D):
        return "unet3d"
    raise HpcfaultError(f"not a model of the registry (got {type(model).__name__}); valid models: {', '.join(MODELS)}")


def model_config_of(model: nn.Module) -> dict[str, Any]:
    """The config a model was built with, as plain JSON-like values (tuples -> lists)."""
    cfg = getattr(model, "config", None)
    if cfg is None or not dataclasses.is_dataclass(cfg):
        raise HpcfaultError(f"model has no config (got {type(model).__name__}); build it with build_model()")
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(cfg).items()}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
