"""Atomic outputs: write under a temporary name in the target folder, rename when complete.

An interrupted run therefore leaves at worst a `.NAME.tmp-PID` file, never a file that passes as
complete under the final name.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator


def temp_name(final: str | os.PathLike) -> Path:
    final = Path(final)
    return final.with_name(f".{final.name}.tmp-{os.getpid()}")


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `final`; on success rename it to `final`, else delete it."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(final)
    try:
        yield tmp
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    os.replace(tmp, final)


def write_text_atomic(final: str | os.PathLike, text: str) -> None:
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")
