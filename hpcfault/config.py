"""YAML configs loaded into frozen dataclasses, with `key=value` overrides.

A config file is a mapping whose top-level key `kind` names the dataclass (see KINDS); nested
mappings fill nested dataclasses. Unknown keys, wrong types and missing required values raise one
HpcfaultError naming the file, the dotted key, what was got and the valid keys.
"""
from __future__ import annotations

import dataclasses
import importlib
import re
import types
import typing
from pathlib import Path
from typing import Any, Mapping, Sequence, TypeVar

import yaml

from hpcfault.errors import HpcfaultError

T = TypeVar("T")


class _Loader(yaml.SafeLoader):
    """safe_load, but '1e-3' is a float (YAML 1.1 wants '1.0e-3', which nobody writes)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                |[-+]?\.(?:inf|Inf|INF)
                |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def _yaml_load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass

# kind -> "module:Class". Explicit on purpose: a config names what it configures.
KINDS: dict[str, str] = {
    "train": "hpcfault.train.config:TrainConfig",
    "predict": "hpcfault.infer.config:PredictConfig",
}


def _kind_class(kind: str, source: str) -> type:
    if kind not in KINDS:
        raise HpcfaultError(f"{source}: unknown config kind (got {kind!r}); valid kinds: {sorted(KINDS)}")
    module, name = KINDS[kind].split(":")
    return getattr(importlib.import_module(module), name)


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _convert(tp: Any, value: Any, key: str, source: str) -> Any:
    """Convert a YAML value to the annotated type `tp`, or raise a one-line error."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    bad = (lambda want: HpcfaultError(f"{source}: key '{key}' must be {want} (got {_describe(value)})"))
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(a, value, key, source)
            except HpcfaultError as exc:
                errors.append(exc)
        raise bad(" or ".join(getattr(a, "__name__", str(a)) for a in args))
    if origin is typing.Literal:
        if value not in args:
            raise bad(f"one of {list(args)}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise bad("a list")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise bad(f"a list of {len(args)} items")
            return tuple(_convert(a, v, f"{key}[{i}]", source) for i, (a, v) in enumerate(zip(args, value)))
        inner = args[0] if args else Any
        items = [_convert(inner, v, f"{key}[{i}]", source) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise bad("a mapping")
        vt = args[1] if args else Any
        return {str(k): _convert(vt, v, f"{key}.{k}", source) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise bad(f"a mapping of {[f.name for f in dataclasses.fields(tp)]}")
        return from_mapping(tp, value, source, prefix=key + ".")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad("true or false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad("an integer")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise bad("a number")
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad("a string")
    return value


def from_mapping(cls: type[T], data: Mapping[str, Any], source: str, prefix: str = "") -> T:
    """Build dataclass `cls` from a mapping, checking keys and types."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            raise HpcfaultError(
                f"{source}: unknown key '{prefix}{key}' (got value {data[key]!r}); "
                f"valid keys: {', '.join(prefix + k for k in fields)}")
    values = {}
    for name, f in fields.items():
        if name in data:
            values[name] = _convert(hints[name], data[name], prefix + name, source)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise HpcfaultError(
                f"{source}: missing required key '{prefix}{name}'; add it to the file or pass {prefix}{name}=VALUE")
    return cls(**values)


def parse_override(text: str) -> tuple[list[str], Any]:
    """'train.lr=1e-3' -> (['train', 'lr'], 0.001); the value is parsed as YAML."""
    if "=" not in text:
        raise HpcfaultError(f"override must look like key=value (got {text!r}); e.g. model.name=unet3d")
    key, _, raw = text.partition("=")
    if not key or any(not p for p in key.split(".")):
        raise HpcfaultError(f"override has an empty key (got {text!r}); e.g. model.name=unet3d")
    try:
        value = _yaml_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: dict, overrides: Sequence[str]) -> dict:
    data = dict(data)
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            child = node.get(part)
            child = dict(child) if isinstance(child, Mapping) else {}
            node[part] = child
            node = child
        node[path[-1]] = value
    return data


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise HpcfaultError(f"config file not found (got {str(path)!r}); see configs/ for examples")
    try:
        data = _yaml_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise HpcfaultError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise HpcfaultError(f"{path}: a config must be a mapping of keys (got {type(data).__name__})")
    return dict(data)


def load_config(path: str | Path, overrides: Sequence[str] = (), cls: type | None = None) -> Any:
    """Load a config file (+ overrides) into its dataclass; `cls` fixes the kind expected."""
    data = apply_overrides(read_yaml(path), overrides)
    kind = data.pop("kind", None)
    if cls is None:
        if kind is None:
            raise HpcfaultError(f"{path}: missing required key 'kind'; valid kinds: {sorted(KINDS)}")
        cls = _kind_class(str(kind), str(path))
    return from_mapping(cls, data, str(path))


def to_mapping(cfg: Any) -> dict:
    """A dataclass config as plain YAML-able data (tuples become lists)."""
    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return plain(cfg)


def dump_config(cfg: Any, kind: str | None = None) -> str:
    data = to_mapping(cfg)
    if kind:
        data = {"kind": kind, **data}
    return yaml.safe_dump(data, sort_keys=False)
