"""Slurm host lists, expanded: 'rack[1-2]-node[01-02],login1' -> rack1-node01, rack1-node02,
rack2-node01, rack2-node02, login1. Pure; a wrong first host would send every rank to the wrong
rendezvous and hang until the timeout, so anything unreadable is a one-line error instead.

Forms: several bracket groups per name (their product, the first group slowest, as Slurm orders
them), ranges with zero padding ('[08-10]' -> 08, 09, 10; '[8-10]' -> 8, 9, 10), single numbers,
commas inside brackets (alternatives) and outside (separate names).
"""
from __future__ import annotations

import itertools

from hpcfault.errors import HpcfaultError

EXAMPLE = "e.g. node[01-04,07] or rack[1-2]-gpu[01-08]"


def _bad(text: str, why: str) -> HpcfaultError:
    return HpcfaultError(f"cannot read the Slurm node list: {why} (got {text!r}); expected {EXAMPLE}")


def split_top(text: str) -> list[str]:
    """Split at the commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
            if depth > 1:
                raise _bad(text, "nested brackets")
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise _bad(text, "']' without '['")
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth:
        raise _bad(text, "'[' without ']'")
    parts.append(text[start:])
    return parts


def expand_ranges(group: str, text: str) -> list[str]:
    """'01-03,07' -> ['01', '02', '03', '07'] (width of the lower bound kept)."""
    out = []
    for part in group.split(","):
        lo, dash, hi = part.strip().partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            raise _bad(text, f"[{group}] is not a list of numbers and ranges")
        first, last = int(lo), int(hi) if dash else int(lo)
        if last < first:
            raise _bad(text, f"range {part} runs backwards")
        out += [f"{n:0{len(lo)}d}" for n in range(first, last + 1)]
    return out


def expand_name(name: str, text: str) -> list[str]:
    """One comma-free-at-top-level name with any number of bracket groups."""
    pieces: list[list[str]] = []
    rest = name
    while "[" in rest:
        head, _, tail = rest.partition("[")
        group, _, rest = tail.partition("]")
        pieces += [[head], expand_ranges(group, text)]
    pieces.append([rest])
    return ["".join(p) for p in itertools.product(*pieces)]


def expand_hostlist(text: str) -> list[str]:
    hosts: list[str] = []
    for name in split_top(text.strip()):
        name = name.strip()
        if name:
            hosts += expand_name(name, text)
    return hosts
