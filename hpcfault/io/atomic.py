"""Atomic outputs: write under a temporary name in the target folder, rename when complete.

- The temporary name is `.NAME.tmp-PID` (a name too long for that gets a shortened, hashed stem),
  in the folder of NAME, so the rename never crosses file systems.
- On success the temporary file is fsync'ed, renamed over NAME and the folder is fsync'ed: after an
  OS crash NAME is either the old file or the complete new one, never an empty or partial file.
- On failure the temporary file is deleted. A killed run can still leave one behind: the next
  atomic write into the same folder removes the `.NAME.tmp-PID` files whose PID no longer runs on
  this host (the folder is listed once per process).
- An existing NAME that is not a regular file (a folder, FIFO, device or socket) is never replaced:
  that is refused before the work starts, and again before the rename.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import stat
from pathlib import Path
from typing import Iterator

from hpcfault.errors import HpcfaultError

log = logging.getLogger(__name__)
LONG_NAME = 200          # bytes: longer names get a shortened temporary stem (NAME_MAX is usually 255)
_TEMP_RE = re.compile(r"^\.(.+)\.tmp-(\d+)$")
_swept: dict[str, dict[str, list[tuple[int, str]]]] = {}   # folder -> stem -> [(pid, name)], listed once


def temp_stem(name: str) -> str:
    """The part of a temporary name that identifies `name` (the name itself unless it is long)."""
    raw = os.fsencode(name)
    if len(raw) <= LONG_NAME:
        return name
    return os.fsdecode(raw[:96]) + "~" + hashlib.sha1(raw).hexdigest()[:12]


def temp_name(final: str | os.PathLike) -> Path:
    final = Path(final)
    return final.with_name(f".{temp_stem(final.name)}.tmp-{os.getpid()}")


def kind_of(mode: int) -> str:
    """'a folder', 'a FIFO (named pipe)', ... for an st_mode."""
    for test, what in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISREG, "a regular file")):
        if test(mode):
            return what
    return "not a regular file"


def refuse_non_regular(final: str | os.PathLike, label: str = "output") -> None:
    """Raise when `final` exists (after following links) and is not a regular file."""
    try:
        st = os.stat(final)
    except (FileNotFoundError, NotADirectoryError):
        return
    if not stat.S_ISREG(st.st_mode):
        raise HpcfaultError(f"{label} names {kind_of(st.st_mode)} (got {str(final)!r}); writing there would "
                            "replace it: give the path of a regular file")


def remove_stale_temps(final: str | os.PathLike) -> list[Path]:
    """Delete `.NAME.tmp-PID` files of `final` left by processes no longer running on this host."""
    from hpcfault.io.lock import pid_alive

    final = Path(final)
    folder = str(final.parent.resolve())
    index = _swept.get(folder)
    if index is None:
        index = {}
        try:
            names = os.listdir(folder)
        except OSError:
            names = []
        for n in names:
            m = _TEMP_RE.match(n)
            if m:
                index.setdefault(m.group(1), []).append((int(m.group(2)), n))
        _swept[folder] = index
    removed = []
    for pid, name in index.pop(temp_stem(final.name), []):
        if pid == os.getpid() or pid_alive(pid):
            continue
        path = Path(folder) / name
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
            path.unlink()
            removed.append(path)
            log.info("removed %s, left by a run that ended before finishing it (PID %d)", path, pid)
    return removed


def fsync_folder(folder: str | os.PathLike) -> None:
    """Make a rename or a new file in `folder` durable (where the file system supports it)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:   # e.g. EINVAL on file systems that cannot sync a directory
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to `final`; on success rename it to `final`, else delete it.

    `durable=False` skips the fsyncs, for scratch files that a rerun recreates anyway (merge tiles)."""
    final = Path(final)
    refuse_non_regular(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(final)
    tmp = temp_name(final)
    try:
        yield tmp
        if durable:
            _fsync_file(tmp)
        refuse_non_regular(final)   # something may have appeared there while we worked
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if durable:
        fsync_folder(final.parent)


def write_text_atomic(final: str | os.PathLike, text: str) -> None:
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")
