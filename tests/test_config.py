"""Config loader: frozen dataclasses, dotted overrides, one-line errors naming file and key."""
from __future__ import annotations

import dataclasses
from typing import Literal, Optional

import pytest

from hpcfault.config import apply_overrides, dump_config, from_mapping, load_config, parse_override
from hpcfault.errors import HpcfaultError


@dataclasses.dataclass(frozen=True)
class Optim:
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)


@dataclasses.dataclass(frozen=True)
class Cfg:
    name: str
    steps: int = 10
    loss: Literal["md", "bce"] = "md"
    optim: Optim = Optim()
    tags: tuple[str, ...] = ()
    seed: Optional[int] = None


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_load_nested_and_overrides(tmp_path):
    p = write(tmp_path, "name: a\noptim:\n  lr: 0.01\ntags: [x, y]\n")
    cfg = load_config(p, ["optim.lr=3e-4", "steps=5", "seed=7"], cls=Cfg)
    assert cfg == Cfg(name="a", steps=5, optim=Optim(lr=3e-4), tags=("x", "y"), seed=7)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.steps = 3  # type: ignore[misc]


def test_ints_accepted_for_floats(tmp_path):
    assert load_config(write(tmp_path, "name: a\noptim: {lr: 1}\n"), cls=Cfg).optim.lr == 1.0


@pytest.mark.parametrize("text, overrides, needle", [
    ("name: a\nstepz: 3\n", [], "unknown key 'stepz' (got value 3); valid keys: name, steps"),
    ("name: a\noptim: {lrr: 1}\n", [], "unknown key 'optim.lrr'"),
    ("name: a\nsteps: many\n", [], "key 'steps' must be an integer (got 'many' (str))"),
    ("name: a\nloss: l2\n", [], "key 'loss' must be one of ['md', 'bce'] (got 'l2' (str))"),
    ("steps: 1\n", [], "missing required key 'name'"),
    ("name: a\n", ["optim.betas=[1]"], "key 'optim.betas' must be a list of 2 items"),
    ("- 1\n- 2\n", [], "a config must be a mapping"),
    ("name: [\n", [], "not valid YAML"),
])
def test_errors_name_file_and_key(tmp_path, text, overrides, needle):
    p = write(tmp_path, text)
    with pytest.raises(HpcfaultError) as err:
        load_config(p, overrides, cls=Cfg)
    msg = str(err.value)
    assert needle in msg and "\n" not in msg
    if "YAML" not in needle and "mapping" not in needle:
        assert str(p) in msg


def test_override_parsing():
    assert parse_override("a.b=1e-3") == (["a", "b"], 1e-3)
    assert parse_override("a=[1, 2]") == (["a"], [1, 2])
    assert parse_override("a=hello") == (["a"], "hello")
    with pytest.raises(HpcfaultError, match="key=value"):
        parse_override("novalue")
    with pytest.raises(HpcfaultError, match="empty key"):
        parse_override("a..b=1")
    assert apply_overrides({"a": {"x": 1}}, ["a.y=2"]) == {"a": {"x": 1, "y": 2}}


def test_kind_required_and_unknown_kind(tmp_path):
    with pytest.raises(HpcfaultError, match="missing required key 'kind'"):
        load_config(write(tmp_path, "name: a\n"))
    with pytest.raises(HpcfaultError, match=r"unknown config kind \(got 'nope'\)"):
        load_config(write(tmp_path, "kind: nope\n"))


def test_dump_round_trip(tmp_path):
    cfg = from_mapping(Cfg, {"name": "a", "tags": ["t"]}, "x")
    text = dump_config(cfg)
    p = write(tmp_path, text)
    assert load_config(p, cls=Cfg) == cfg


def test_missing_file(tmp_path):
    with pytest.raises(HpcfaultError, match="config file not found"):
        load_config(tmp_path / "none.yaml", cls=Cfg)
