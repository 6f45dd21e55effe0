"""A lock on a directory that names its holder, and whether a process is still alive.

The lock is a file (e.g. WORKDIR/lock) holding one JSON object: host, PID, the process's start time
(so that a reused PID is not taken for the holder), the Slurm job id and restart count, the command
and the time it was taken. It is created atomically: the JSON is written to a private file that is
then hard-linked to the lock's name, which fails when the lock exists (file systems without hard
links fall back to O_CREAT|O_EXCL).

A lock whose holder is gone is taken over:
- same host: the holder's PID is not running, is a zombie, or now belongs to a process started at
  another time;
- same Slurm job, earlier run (equal SLURM_JOB_ID, smaller SLURM_RESTART_COUNT): a requeued job
  never runs twice at once, so its earlier run is over, on whichever node it ran.
A holder on another host cannot be checked from here: the lock is refused naming it.

Two processes that find the same stale lock cannot both take it over: the stale file is renamed
aside (only one rename succeeds) and deleted only if it is still the file judged stale.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from hpcfault.errors import HpcfaultError

log = logging.getLogger(__name__)


def process_start(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks since boot) of a process, from /proc; None if unknown."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()   # the command name (field 2) may hold spaces and ')'
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int, start: int | None = None) -> bool:
    """Whether process `pid` runs on this host (and, with `start`, is the process started then)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's process: it exists
        pass
    info = process_start(pid)
    if info is None:
        return True
    state, started = info
    return state != "Z" and (start is None or started == start)


def host_name() -> str:
    return socket.gethostname()


def _me() -> dict[str, Any]:
    pid = os.getpid()
    info = process_start(pid)
    env = os.environ
    job = env.get("SLURM_JOB_ID")
    if job and env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
        job = f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    return {"host": host_name(), "pid": pid, "start": None if info is None else info[1],
            "slurm_job": job, "slurm_restart": int(env.get("SLURM_RESTART_COUNT", "0") or 0),
            "command": " ".join(os.path.basename(a) if k == 0 else a for k, a in enumerate(sys.argv[:6])),
            "since": time.strftime("%Y-%m-%d %H:%M:%S")}


def holder_text(holder: dict[str, Any]) -> str:
    """'host H, PID P, Slurm job J, since T' for messages."""
    parts = [f"host {holder.get('host', '?')}", f"PID {holder.get('pid', '?')}"]
    if holder.get("slurm_job"):
        parts.append(f"Slurm job {holder['slurm_job']}")
    if holder.get("since"):
        parts.append(f"since {holder['since']}")
    return ", ".join(parts)


def stale_reason(holder: dict[str, Any], me: dict[str, Any]) -> str | None:
    """Why the lock of `holder` may be taken over by `me`, or None when it may still be in use."""
    if holder.get("slurm_job") and holder.get("slurm_job") == me.get("slurm_job") \
            and int(holder.get("slurm_restart", 0)) < int(me.get("slurm_restart", 0)):
        return f"an earlier run of Slurm job {holder['slurm_job']} (this is restart {me['slurm_restart']})"
    if holder.get("host") == me.get("host"):
        try:
            pid = int(holder["pid"])
        except (KeyError, TypeError, ValueError):
            return None
        start = holder.get("start")
        if not pid_alive(pid, None if start is None else int(start)):
            return f"PID {pid} is no longer running on {me['host']}"
    return None


class DirLock:
    """An exclusive lock `path` (a file inside the directory it guards), see the module doc.

    `hint` completes the refusal message: how to wait or where to go instead.
    """

    def __init__(self, path: str | os.PathLike, what: str, hint: str) -> None:
        self.path = Path(path)
        self.what, self.hint = what, hint
        self._text: str | None = None

    def read(self) -> tuple[str | None, dict[str, Any] | None]:
        """(raw text, parsed holder) of the lock file; (None, None) when there is none."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None, None
        try:
            holder = json.loads(text)
        except json.JSONDecodeError:
            holder = None
        return text, holder if isinstance(holder, dict) else None

    def _create(self, text: str) -> bool:
        """Create the lock file with `text` atomically; False when it exists."""
        tmp = self.path.with_name(f".{self.path.name}.new-{os.getpid()}")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
            try:   # no hard links here (some FUSE / SMB mounts)
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def _take_over(self, seen: str) -> None:
        """Remove the lock file if it still holds `seen` (the text judged stale)."""
        aside = self.path.with_name(f".{self.path.name}.stale-{os.getpid()}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:   # another process removed it first
            return
        try:
            if aside.read_text(encoding="utf-8") != seen:   # a live lock replaced it meanwhile: put it back
                try:
                    os.link(aside, self.path)
                except FileExistsError:
                    pass
        finally:
            aside.unlink(missing_ok=True)

    def acquire(self, wait: bool = False, poll: float = 1.0) -> "DirLock":
        """Take the lock; refuse at once naming the holder, or with `wait` poll until it is free."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = _me()
        text = json.dumps(me)
        waiting = False
        while True:
            if self._create(text):
                self._text = text
                if waiting:
                    log.warning("%s is free now; continuing", self.path)
                return self
            seen, holder = self.read()
            if seen is None:      # released between the two calls
                continue
            if holder is None:
                raise HpcfaultError(
                    f"{self.path} holds no readable lock record (got {seen[:60]!r}); remove it if no "
                    f"{self.what} uses {self.path.parent}")
            reason = stale_reason(holder, me)
            if reason:
                log.warning("taking over the stale lock %s of %s: %s", self.path, holder_text(holder), reason)
                self._take_over(seen)
                continue
            if not wait:
                raise HpcfaultError(f"{self.path.parent} is in use by another {self.what} (got "
                                    f"{holder_text(holder)}); {self.hint}")
            if not waiting:
                log.warning("%s is in use by another %s (%s); waiting for it (--wait)", self.path.parent,
                            self.what, holder_text(holder))
                waiting = True
            time.sleep(poll)

    def release(self) -> None:
        """Remove the lock file if it is still this process's."""
        if self._text is None:
            return
        seen, _ = self.read()
        if seen == self._text:
            self.path.unlink(missing_ok=True)
        self._text = None

    @property
    def held(self) -> bool:
        return self._text is not None

    def __enter__(self) -> "DirLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()
