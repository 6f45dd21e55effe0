"""Which blocks are done: a ledger on disk that survives `kill -9`, keyed by a run fingerprint.

Work directory layout (default OUT.h5.work/ next to the output):

    fingerprint.json               what the blocks were computed from (model sha256, plan, input)
    stats.json                     stage-1 statistics (reused by a resumed run)
    ledger/<attempt>-r<rank>.jsonl one line per finished block, appended and fsync'ed
    shards/<attempt>-r<rank>.h5    the predictions those lines point to (shards.py)

Each ledger file starts with a header line {"run": fingerprint, "normalizer", "key"}: what its
blocks were computed from. A block line is {"id", "k", "shard", "crc", "rank", "attempt", "s",
"key"}; a rank that finishes cleanly adds {"closed": shard}. Attempts are numbered a001, a002, ...
so a rerun with any number of ranks adds files and never rewrites old ones.

Nothing in the work dir is trusted without a check:
- fingerprint.json is a readable copy; the ledger headers are the record. A rerun whose
  fingerprint differs from either is refused (`check_fingerprint`), so deleting or editing
  fingerprint.json cannot make blocks of another model, plan or input pass;
- the run key of a block line (a hash of the fingerprint and of the normalizer actually applied)
  must equal this run's (`usable`): blocks computed with other statistics are recomputed;
- a line must name a block of this plan by both number and id, and parse completely (a torn or
  edited line is ignored, its block recomputed);
- a reused block's data must match its CRC (`verify_blocks`), in closed shards as in shards of
  killed ranks: a damaged, truncated or missing shard costs only its blocks.
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
from typing import Iterable, Sequence

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
    key: str | None = None     # run key of what the block was computed from (None: not recorded)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for part in iter(lambda: f.read(chunk), b""):
            h.update(part)
    return h.hexdigest()


def fingerprint(model_path: str | Path, input_path: str | Path, plan_params: dict, dtype: str,
                normalization: dict, source: dict | None = None) -> dict:
    """What a block's prediction depends on, before the statistics: model, input file and how it is
    read (`source`: SEG-Y bytes, axes, dataset...), plan, dtype, scaling method. Rank count and
    threads are deliberately absent."""
    st = Path(input_path).stat()
    fp = {"model_sha256": sha256_file(model_path), "input": str(Path(input_path).resolve()),
          "input_size": st.st_size, "input_mtime_ns": st.st_mtime_ns, "source": source or {},
          "plan": plan_params, "dtype": dtype, "normalization": normalization}
    return json.loads(json.dumps(fp))   # as it reads back from a file (tuples become lists)


def run_key(fp: dict, normalizer: dict) -> str:
    """The key every block line carries: the fingerprint plus the normalizer actually applied."""
    text = json.dumps({"fingerprint": fp, "normalizer": normalizer}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _differs(old: dict | None, fp: dict) -> list[str]:
    old = old if isinstance(old, dict) else {}
    return sorted(k for k in set(fp) | set(old) if old.get(k) != fp.get(k))


def check_fingerprint(workdir: Path, fp: dict, restart: bool) -> None:
    """Store `fp` in a fresh work dir, or refuse a work dir whose blocks come from something else.

    The record is the ledger's header lines; fingerprint.json is checked too (and rewritten when it
    was deleted), so neither deleting nor editing it lets another run's blocks through."""
    path = workdir / "fingerprint.json"
    if not restart:
        stored: list[dict | None] = [run.get("run") for run in read_runs(workdir)]
        if path.exists():
            try:
                stored.append(json.loads(path.read_text()))
            except (OSError, json.JSONDecodeError):
                stored.append(None)
        for old in stored:
            if old != fp:
                diff = _differs(old, fp)
                raise HpcfaultError(
                    f"work dir {workdir} holds blocks of another run (differs in {', '.join(diff) or 'format'}); "
                    "pass --restart to start over, or another --workdir")
        if path.exists():
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
    """One rank's append-only ledger file for one attempt; `run` (fingerprint and normalizer) is its
    header line and `key` goes on every block line."""

    def __init__(self, workdir: Path, attempt: str, rank: int, key: str | None = None,
                 run: dict | None = None) -> None:
        self.path = workdir / "ledger" / f"{attempt}-r{rank:04d}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.attempt, self.rank, self.key = attempt, rank, key
        self._f = open(self.path, "a", encoding="utf-8")
        if run is not None:
            self._append({**run, "key": key})

    def _append(self, record: dict) -> None:
        self._f.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def record(self, block_id: str, k: int, shard: str, crc: int, seconds: float) -> None:
        self._append({"id": block_id, "k": k, "shard": shard, "crc": crc, "rank": self.rank,
                      "attempt": self.attempt, "s": round(seconds, 4), "key": self.key})

    def close(self, shard: str | None) -> None:
        if shard is not None:
            self._append({"closed": shard})
        self._f.close()


def _ledger_files(workdir: Path) -> list[Path]:
    d = workdir / "ledger"
    files = sorted((m.group(1), int(m.group(2)), p) for p in (d.iterdir() if d.is_dir() else [])
                   if (m := ATTEMPT_RE.match(p.name)))
    return [p for _, _, p in files]


def _records(workdir: Path):
    """(file, parsed record) for every line that is a JSON object; other lines are logged and skipped."""
    for p in _ledger_files(workdir):
        for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                log.warning("ignoring a torn ledger line %s:%d (a killed rank); its block is recomputed", p, n)
                continue
            if isinstance(rec, dict):
                yield p, n, rec
            else:
                log.warning("ignoring ledger line %s:%d (not a record); its block is recomputed", p, n)


def read_runs(workdir: Path) -> list[dict]:
    """The header records ({"run": fingerprint, "normalizer", "key"}) of every ledger file."""
    return [rec for _, _, rec in _records(workdir) if "run" in rec]


def read_ledger(workdir: Path) -> tuple[list[Entry], set[str]]:
    """All block entries (in attempt, rank, line order) and the set of cleanly closed shards.

    A line that is torn, edited into something unreadable or lacks a field is skipped (logged), so
    its block is recomputed."""
    entries: list[Entry] = []
    closed: set[str] = set()
    for p, n, rec in _records(workdir):
        if "closed" in rec:
            closed.add(str(rec["closed"]))
        elif "id" in rec:
            try:
                key = rec.get("key")
                entries.append(Entry(str(rec["id"]), int(rec["k"]), str(rec["shard"]), int(rec["crc"]),
                                     int(rec["rank"]), str(rec["attempt"]), None if key is None else str(key)))
            except (KeyError, TypeError, ValueError):
                log.warning("ignoring ledger line %s:%d (incomplete record); its block is recomputed", p, n)
    return entries, closed


def usable(entries: Iterable[Entry], block_ids: Sequence[str], key: str) -> list[Entry]:
    """Entries that name a block of this plan by number AND id and carry this run's key."""
    kept, wrong_block, other_key = [], 0, 0
    for e in entries:
        if not (0 <= e.k < len(block_ids) and block_ids[e.k] == e.id):
            wrong_block += 1
        elif e.key != key:
            other_key += 1
        else:
            kept.append(e)
    if wrong_block:
        log.warning("%d ledger lines name no block of this plan (number and id disagree); ignored", wrong_block)
    if other_key:
        log.warning("%d ledger lines were computed with other settings or statistics (another run key); "
                    "their blocks are recomputed", other_key)
    return kept


def verify_blocks(workdir: Path, entries: Iterable[Entry]) -> tuple[list[Entry], list[Entry]]:
    """(entries whose shard data matches the ledger CRC, entries that do not or cannot be read)."""
    import h5py

    from hpcfault.infer.shards import crc32

    good: list[Entry] = []
    bad: list[Entry] = []
    by_shard: dict[str, list[Entry]] = {}
    for e in entries:
        by_shard.setdefault(e.shard, []).append(e)
    for shard, es in by_shard.items():
        try:
            with h5py.File(workdir / "shards" / shard, "r") as f:
                for e in es:
                    try:
                        ok = e.id in f and crc32(f[e.id][...]) == e.crc
                    except (OSError, KeyError, TypeError, ValueError):
                        ok = False
                    (good if ok else bad).append(e)
                    if not ok:
                        log.warning("block %s in shard %s does not match its ledger checksum; it will be "
                                    "recomputed", e.id, shard)
        except OSError as exc:
            log.warning("shard %s is missing or unreadable (%s); its %d blocks will be recomputed",
                        shard, str(exc).split(" (")[0], len(es))
            bad.extend(es)
    return good, bad
def done_blocks(entries: Iterable[Entry]) -> dict[int, Entry]:
    """Block number -> the first valid entry for it (fixed order: attempt, rank, line)."""
    done: dict[int, Entry] = {}
    for e in sorted(entries, key=lambda e: (e.attempt, e.rank)):
        done.setdefault(e.k, e)
    return done
