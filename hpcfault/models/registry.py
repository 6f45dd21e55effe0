"""Models by name: an explicit table, not a class-name lookup, so a checkpoint names what it holds.

A spec says the model's dimensionality (3: volumes; 2: sections, applied along inlines and/or
crosslines by the engine) and which tasks it serves: Fault-Net only the fault task (its sigmoid
output is fixed); the task-agnostic U-Nets any task, built with that task's output head (one
activation per channel, hpcfault/tasks/spec.py)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from hpcfault.errors import HpcfaultError
from hpcfault.models.catalog import CATALOG
from hpcfault.models.faultnet import FaultNet, FaultNetConfig
from hpcfault.models.mtl import MTLConfig, MTLNet
from hpcfault.models.unet2d import UNet2D, UNet2DConfig
from hpcfault.models.unet3d import UNet3D, UNet3DConfig
from hpcfault.models.unet_resnet import UNetResNet, UNetResNetConfig


@dataclass(frozen=True)
class ModelSpec:
    name: str
    config_class: type
    builder: Callable[..., nn.Module]
    fixed: tuple[tuple[str, Any], ...] = ()   # config values that define this name (not overridable)
    dims: int = 3                             # 3: volume model; 2: section model
    tasks: tuple[str, ...] | None = None      # tasks it serves; None = any (built with the task's head)

    @property
    def summary(self) -> str:
        """One line from catalog.py (which `hpcfault models` lists without importing torch)."""
        return CATALOG[self.name].summary


MODELS: dict[str, ModelSpec] = {
    "faultnet": ModelSpec("faultnet", FaultNetConfig, FaultNet, (("mcf", True),), tasks=("fault",)),
    "faultnet-nomcf": ModelSpec("faultnet-nomcf", FaultNetConfig, FaultNet, (("mcf", False),), tasks=("fault",)),
    "unet3d": ModelSpec("unet3d", UNet3DConfig, UNet3D),
    "unet2d": ModelSpec("unet2d", UNet2DConfig, UNet2D, dims=2),
    "mtl": ModelSpec("mtl", MTLConfig, MTLNet, (("refine", False),), tasks=("multitask",)),
    "mtl-refine": ModelSpec("mtl-refine", MTLConfig, MTLNet, (("refine", True),), tasks=("multitask-refine",)),
    "unet-resnet18": ModelSpec("unet-resnet18", UNetResNetConfig, UNetResNet, (("encoder", "resnet18"),), dims=2),
    "unet-resnet34": ModelSpec("unet-resnet34", UNetResNetConfig, UNetResNet, (("encoder", "resnet34"),), dims=2),
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
        if key == "head":
            from hpcfault.models.heads import check_head

            resolved[key] = check_head(value if isinstance(value, (list, tuple)) else [value])
        elif isinstance(default, tuple):
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


def check_task(name: str, task: str) -> None:
    """A one-line error unless model `name` can serve `task`."""
    spec = model_spec(name)
    if spec.tasks is not None and task not in spec.tasks:
        from hpcfault.tasks import TASKS

        serve = [t for t in TASKS if model_spec(name).tasks is None or t in model_spec(name).tasks]
        others = [m for m, s in MODELS.items() if s.tasks is None or task in s.tasks]
        raise HpcfaultError(f"model {name!r} cannot serve task {task!r} (it serves {', '.join(serve)}); "
                            f"models for {task}: {', '.join(others)}")


def task_config(name: str, task: str | None, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """`config` for model `name` serving `task`: a task-agnostic model gets the task's head."""
    from hpcfault.tasks import task_spec

    config = dict(config or {})
    if task is None:
        return config
    check_task(name, task)
    if model_spec(name).tasks is None:
        head = list(task_spec(task).activations)
        if "head" in config and list(config["head"]) != head:
            raise HpcfaultError(f"model {name!r}: head {list(config['head'])} does not match task {task!r} "
                                f"(got it where the task needs {head}); leave head out of the model options")
        config["head"] = head
    return config


def build_model(name: str, task: str | None = None, **config: Any) -> nn.Module:
    """A freshly initialised model `name` (see MODELS) with `config` overriding its defaults, built
    for `task` (None: as configured; the fault task's head is every model's default)."""
    spec = model_spec(name)
    return spec.builder(**resolve_config(name, task_config(name, task, config)))


def model_name_of(model: nn.Module) -> str:
    """The registry name of a model built here (from its class and config)."""
    if isinstance(model, FaultNet):
        return "faultnet" if model.config.mcf else "faultnet-nomcf"
    if isinstance(model, UNet3D):
        return "unet3d"
    if isinstance(model, UNet2D):
        return "unet2d"
    if isinstance(model, MTLNet):
        return "mtl-refine" if model.config.refine else "mtl"
    if isinstance(model, UNetResNet):
        return f"unet-{model.config.encoder}"
    raise HpcfaultError(f"not a model of the registry (got {type(model).__name__}); valid models: {', '.join(MODELS)}")


def model_config_of(model: nn.Module) -> dict[str, Any]:
    """The config a model was built with, as plain JSON-like values (tuples -> lists)."""
    cfg = getattr(model, "config", None)
    if cfg is None or not dataclasses.is_dataclass(cfg):
        raise HpcfaultError(f"model has no config (got {type(model).__name__}); build it with build_model()")
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(cfg).items()}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
