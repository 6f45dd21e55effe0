"""Which blocks are done: a ledger on disk that survives `kill -9`, keyed by a run fingerprint.

Work directory layout (default OUT.h5.work/ next to the output):

    fingerprint.json               what the blocks were computed from (model sha256, plan, input)
    stats.json                     stage-1 statistics (reused by a resumed run)
    ledger/<attempt>-r<rank>.jsonl one line per finished block, appended and fsync'ed
    shards/<attempt>-r<rank>.h5    the predictions those lines point to (shards.py)

A line is {"id", "k", "shard", "crc", "rank", "attempt", "s"}; a rank that finishes cleanly adds
{"closed": shard}. Attempts are numbered a001, a002, ... so a rerun with any number of ranks adds
files and never rewrites old ones. A torn last line (killed mid-write) is ignored, so that block
is simply recomputed. Blocks from shards that were never closed are trusted only after their CRC
is checked (`verify_unclosed`).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from hpcfault.errors import HpcfaultError
from hpcfault.io.atomic import write_text_atomic

log = logging.getLogger(__name__)
ATTEMPT_RE = re.compile(r"^(a\d{3,})-r(\d+)\.jsonl$")


@dataclass(frozen=True)
class Entry:
    id: str
    k: int
    shard: str
    crc: int
    rank: int
    attempt: str


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for part in iter(lambda: f.read(chunk), b""):
            h.update(part)
    return h.hexdigest()


def fingerprint(model_path: str | Path, input_path: str | Path, plan_params: dict, dtype: str,
                normalization: dict) -> dict:
    """What a block's prediction depends on. Rank count and threads are deliberately absent."""
    st = Path(input_path).stat()
    return {"model_sha256": sha256_file(model_path), "input": str(Path(input_path).resolve()),
            "input_size": st.st_size, "input_mtime_ns": st.st_mtime_ns, "plan": plan_params,
            "dtype": dtype, "normalization": normalization}


def check_fingerprint(workdir: Path, fp: dict, restart: bool) -> None:
    """Store `fp` in a fresh work dir, or refuse a work dir made from something else."""
    path = workdir / "fingerprint.json"
    if path.exists() and not restart:
        try:
            old = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            old = None
        if old != fp:
            diff = sorted(k for k in set(fp) | set(old or {}) if (old or {}).get(k) != fp.get(k))
            raise HpcfaultError(
                f"work dir {workdir} holds blocks of another run (differs in {', '.join(diff) or 'format'}); "
                "pass --restart to start over, or another --workdir")
        return
    workdir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(fp, indent=1, sort_keys=True))


def clear(workdir: Path) -> None:
    """Remove what a previous run left in `workdir` (for --restart): ledger, shards, stats, merge tiles."""
    for sub in ("ledger", "shards", "merge"):
        d = workdir / sub
        if d.is_dir():
            for p in d.iterdir():
                p.unlink()
    for name in ("fingerprint.json", "stats.json"):
        (workdir / name).unlink(missing_ok=True)


def remove(workdir: Path) -> list[str]:
    """Delete what predict keeps in `workdir` (after a complete, verified output), then the emptied
    folders; anything else found there is left in place and returned."""
    clear(workdir)
    for sub in ("ledger", "shards", "merge"):
        with contextlib.suppress(FileNotFoundError, OSError):
            (workdir / sub).rmdir()
    left = sorted(str(p) for p in workdir.iterdir()) if workdir.is_dir() else []
    if workdir.is_dir() and not left:
        workdir.rmdir()
    return left


def next_attempt(workdir: Path) -> str:
    d = workdir / "ledger"
    nums = [int(m.group(1)[1:]) for p in (d.iterdir() if d.is_dir() else []) if (m := ATTEMPT_RE.match(p.name))]
    return f"a{max(nums, default=0) + 1:03d}"


class LedgerWriter:
    """One rank's append-only ledger file for one attempt."""

    def __init__(self, workdir: Path, attempt: str, rank: int) -> None:
        self.path = workdir / "ledger" / f"{attempt}-r{rank:04d}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.attempt, self.rank = attempt, rank
        self._f = open(self.path, "a", encoding="utf-8")

    def _append(self, record: dict) -> None:
        self._f.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def record(self, block_id: str, k: int, shard: str, crc: int, seconds: float) -> None:
        self._append({"id": block_id, "k": k, "shard": shard, "crc": crc, "rank": self.rank,
                      "attempt": self.attempt, "s": round(seconds, 4)})

    def close(self, shard: str | None) -> None:
        if shard is not None:
            self._append({"closed": shard})
        self._f.close()


def read_ledger(workdir: Path) -> tuple[list[Entry], set[str]]:
    """All entries (in attempt, rank, line order) and the set of cleanly closed shards."""
    d = workdir / "ledger"
    entries: list[Entry] = []
    closed: set[str] = set()
    files = sorted((m.group(1), int(m.group(2)), p) for p in (d.iterdir() if d.is_dir() else [])
                   if (m := ATTEMPT_RE.match(p.name)))
    for _, _, p in files:
        for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                log.warning("ignoring a torn ledger line in %s (a killed rank); its block is recomputed", p)
                continue
            if "closed" in rec:
                closed.add(rec["closed"])
            elif "id" in rec:
                entries.append(Entry(rec["id"], int(rec["k"]), rec["shard"], int(rec["crc"]),
                                     int(rec["rank"]), rec["attempt"]))
    return entries, closed


def verify_unclosed(workdir: Path, entries: Iterable[Entry], closed: set[str]) -> list[Entry]:
    """Keep entries of closed shards, and those of unclosed shards whose data matches the CRC."""
    import h5py

    from hpcfault.infer.shards import crc32

    kept: list[Entry] = []
    suspect: dict[str, list[Entry]] = {}
    for e in entries:
        (kept.append(e) if e.shard in closed else suspect.setdefault(e.shard, []).append(e))
    for shard, es in suspect.items():
        try:
            with h5py.File(workdir / "shards" / shard, "r") as f:
                for e in es:
                    if e.id in f and crc32(f[e.id][...]) == e.crc:
                        kept.append(e)
                    else:
                        log.warning("block %s in %s does not match the ledger; it will be recomputed", e.id, shard)
        except OSError as exc:
            log.warning("shard %s of a killed rank is unreadable (%s); its %d blocks will be recomputed",
                        shard, exc, len(es))
    return kept


def done_blocks(entries: Iterable[Entry]) -> dict[int, Entry]:
    """Block number -> the first valid entry for it (fixed order: attempt, rank, line)."""
    done: dict[int, Entry] = {}
    for e in sorted(entries, key=lambda e: (e.attempt, e.rank)):
        done.setdefault(e.k, e)
    return done
