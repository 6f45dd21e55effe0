"""The one rule for the files a command reads and writes, checked before any work starts.

Every command names its inputs and outputs as `PathArg`s (how the user wrote it: "-o", "SURVEY",
"--segy-out"; the path; file or folder) and calls `check_paths(inputs, outputs)`:

- an input given as a file must not be a folder;
- an output must not exist as anything but a regular file (a folder for folder outputs): a FIFO,
  a device or a socket is never replaced;
- an output must not be any of the inputs: the same file, also through a symbolic link or a hard
  link (compared by device and inode), nor the same path as another output;
- an output must be creatable: its nearest existing folder is a folder, each new name fits the
  file system's name length, and a probe file can be created there (this catches read-only file
  systems, /proc and /sys, missing permissions).

Each refusal is one line naming the option that is wrong.
"""
from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from hpcfault.errors import HpcfaultError
from hpcfault.io.atomic import kind_of, temp_name


@dataclass(frozen=True)
class PathArg:
    """One file argument: how the user named it, its path, and whether it is a folder."""

    label: str
    path: str
    folder: bool = False


def arg(label: str, path: str | os.PathLike | None, folder: bool = False) -> PathArg | None:
    """A PathArg, or None for an option that was not given."""
    return None if path is None or str(path) == "" else PathArg(label, str(path), folder)


def check_suffix(label: str, path: str | os.PathLike, suffixes: tuple[str, ...], what: str) -> None:
    """Refuse an output name whose extension promises another format than the one written."""
    suffix = Path(path).suffix.lower()
    if suffix not in suffixes:
        raise HpcfaultError(f"{what} (got {label} {str(path)!r}); name the output with "
                            f"{' or '.join(suffixes)}, e.g. {Path(path).with_suffix(suffixes[0]).name}")


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:   # ELOOP, ENAMETOOLONG, EACCES...: reported by the writability checks
        return None


def _same(a: os.stat_result | None, b: os.stat_result | None) -> bool:
    return a is not None and b is not None and (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _check_input(p: PathArg) -> None:
    st = _stat(p.path)
    if st is not None and not p.folder and stat.S_ISDIR(st.st_mode):
        raise HpcfaultError(f"{p.label} is a folder, not a file (got {p.path!r}); give the path of the file")
    if st is not None and p.folder and not stat.S_ISDIR(st.st_mode):
        raise HpcfaultError(f"{p.label} must be a folder (got the file {p.path!r}); give a folder path")


def _check_kind(p: PathArg, st: os.stat_result | None) -> None:
    if st is None:
        return
    if p.folder:
        if not stat.S_ISDIR(st.st_mode):
            raise HpcfaultError(f"{p.label} must be a folder (got {kind_of(st.st_mode)} {p.path!r}); "
                                "give the path of a folder (it is created if missing)")
    elif stat.S_ISDIR(st.st_mode):
        raise HpcfaultError(f"{p.label} is a folder (got {p.path!r}); give a file name, "
                            f"e.g. {os.path.join(p.path, 'out' + (Path(p.path).suffix or '.h5'))}")
    elif not stat.S_ISREG(st.st_mode):
        raise HpcfaultError(f"{p.label} names {kind_of(st.st_mode)} (got {p.path!r}); writing there would "
                            "replace it: give the path of a regular file")


def existing_folder(path: str | os.PathLike) -> Path:
    """The nearest folder at or above `path` that exists (where a new file under `path` will live)."""
    base = Path(os.path.abspath(path))
    while not base.is_dir() and base.parent != base:
        base = base.parent
    return base


def memory_available() -> int | None:
    """MemAvailable of this machine in bytes (Linux), or None."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _name_max(folder: str) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def _check_creatable(p: PathArg) -> None:
    """The nearest existing folder accepts the new names (see the module doc)."""
    path = Path(os.path.abspath(p.path))
    new: list[str] = [] if p.folder else [path.name]
    base = path if p.folder else path.parent
    while True:
        try:
            st = os.stat(base)
            break
        except (FileNotFoundError, NotADirectoryError):
            if base.parent == base:
                st = None
                break
            new.append(base.name)
            base = base.parent
        except OSError as exc:
            raise HpcfaultError(f"{p.label} cannot be used ({exc.strerror} at {str(base)!r}; got "
                                f"{p.path!r}); choose another path") from None
    if st is None or not stat.S_ISDIR(st.st_mode):
        raise HpcfaultError(f"{p.label} lies under {str(base)!r}, which is {kind_of(st.st_mode) if st else 'missing'}, "
                            f"not a folder (got {p.path!r}); choose a path in a folder")
    limit = _name_max(str(base))
    for name in new:
        size = len(os.fsencode(name))
        if size > limit:
            raise HpcfaultError(f"{p.label} has a name of {size} bytes, longer than the {limit} this file system "
                                f"allows (got {name[:40]!r}...); choose a shorter name")
    probe = temp_name(base / (new[-1] if new else ".hpcfault-probe"))
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        why = {errno.EROFS: "a read-only file system", errno.EACCES: "no permission to create files",
               errno.EPERM: "no permission to create files"}.get(exc.errno, exc.strerror or str(exc))
        raise HpcfaultError(f"{p.label} cannot be created in {str(base)!r} ({why}; got {p.path!r}); "
                            "choose a path in a writable folder") from None
    os.close(fd)
    os.unlink(probe)


def check_paths(inputs: Iterable[PathArg | None], outputs: Iterable[PathArg | None]) -> None:
    """Refuse, with one line, outputs that would replace an input, each other or a special file."""
    ins = [p for p in inputs if p is not None]
    outs = [p for p in outputs if p is not None]
    in_stats = []
    for p in ins:
        _check_input(p)
        in_stats.append(_stat(p.path))
    seen: list[tuple[PathArg, str, os.stat_result | None]] = []
    for p in outs:
        st = _stat(p.path)
        _check_kind(p, st)
        for q, qst in zip(ins, in_stats):
            if _same(st, qst):
                how = "the same file as" if os.path.abspath(p.path) == os.path.abspath(q.path) else "a link to"
                raise HpcfaultError(f"{p.label} would overwrite the input {q.label} (got {p.path!r}, {how} "
                                    f"{q.path!r}); choose another path for {p.label}")
        real = os.path.realpath(p.path)
        for q, qreal, qst in seen:
            if real == qreal or _same(st, qst):
                raise HpcfaultError(f"{p.label} and {q.label} name the same file (got {p.path!r} and "
                                    f"{q.path!r}); give each output its own path")
        _check_creatable(p)
        seen.append((p, real, st))
