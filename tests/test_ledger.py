"""Ledger and shards: append-only records that survive a killed rank, fingerprints, run keys, CRC
checks of every reused block (closed shards too), damaged lines and shards costing only their blocks."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from hpcfault.errors import HpcfaultError
from hpcfault.infer import ledger as L
from hpcfault.infer.shards import ShardReader, ShardWriter, crc32


def _write_blocks(work, attempt, rank, blocks, close=True, key=None, run=None):
    shard = f"{attempt}-r{rank:04d}.h5"
    led = L.LedgerWriter(work, attempt, rank, key, run)
    with ShardWriter(work / "shards" / shard) as w:
        for k, arr in blocks:
            led.record(f"b{k}", k, shard, w.write(f"b{k}", arr), 0.1)
    led.close(shard if close else None)
    return shard


def test_records_round_trip_and_attempt_numbers(tmp_path):
    assert L.next_attempt(tmp_path) == "a001"
    a = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)      # (K outputs, T, I, X)
    shard = _write_blocks(tmp_path, "a001", 0, [(0, a), (3, a + 1)])
    _write_blocks(tmp_path, "a001", 1, [(1, a + 2)])
    assert L.next_attempt(tmp_path) == "a002"
    entries, closed = L.read_ledger(tmp_path)
    assert sorted(e.k for e in entries) == [0, 1, 3] and shard in closed
    good, bad = L.verify_blocks(tmp_path, entries)
    assert not bad
    done = L.done_blocks(good)
    with ShardReader(tmp_path / "shards") as r:
        np.testing.assert_array_equal(r.read(done[3].shard, "b3"), a + 1)
        np.testing.assert_array_equal(r.read(done[1].shard, "b1", (slice(0, 1), slice(None), slice(1, 3))),
                                      (a + 2)[:, :1, :, 1:3])


def test_torn_line_and_corrupt_unclosed_shard_are_recomputed(tmp_path):
    a = np.ones((4, 4, 4), np.float32)
    shard = _write_blocks(tmp_path, "a001", 0, [(0, a), (1, a * 2)], close=False)
    with open(tmp_path / "ledger" / "a001-r0000.jsonl", "a") as f:
        f.write('{"id": "b2", "k": 2, "sha')            # killed in the middle of a line
    with h5py.File(tmp_path / "shards" / shard, "a") as f:  # block 1's data no longer matches its CRC
        f["b1"][0, 0, 0] = 5.0
    entries, closed = L.read_ledger(tmp_path)
    assert [e.k for e in entries] == [0, 1] and not closed
    assert [e.k for e in L.verify_blocks(tmp_path, entries)[0]] == [0]


def test_unreadable_shard_of_a_killed_rank_drops_its_blocks(tmp_path):
    shard = _write_blocks(tmp_path, "a001", 0, [(0, np.zeros((2, 2, 2), np.float32))], close=False)
    (tmp_path / "shards" / shard).write_bytes(b"garbage")
    entries, closed = L.read_ledger(tmp_path)
    assert L.verify_blocks(tmp_path, entries)[0] == []


def test_ledger_survives_kill_9(tmp_path):
    """A process that dies by SIGKILL after recording blocks leaves them readable and valid."""
    code = f"""
import os, signal, numpy as np
from pathlib import Path
from hpcfault.infer.ledger import LedgerWriter
from hpcfault.infer.shards import ShardWriter
work = Path({str(tmp_path)!r})
led = LedgerWriter(work, "a001", 0)
w = ShardWriter(work / "shards" / "a001-r0000.h5")
for k in range(3):
    led.record(f"b{{k}}", k, "a001-r0000.h5", w.write(f"b{{k}}", np.full((8, 8, 8), k, np.float32)), 0.0)
os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == -9
    entries, closed = L.read_ledger(tmp_path)
    kept, _ = L.verify_blocks(tmp_path, entries)
    assert [e.k for e in kept] == [0, 1, 2]
    with ShardReader(tmp_path / "shards") as r:
        assert float(r.read("a001-r0000.h5", "b2")[0, 0, 0]) == 2.0


def test_fingerprint_refuses_other_runs_and_restart_clears(tmp_path):
    model = tmp_path / "m.pt"
    model.write_bytes(b"weights")
    survey = tmp_path / "s.h5"
    survey.write_bytes(b"data")
    work = tmp_path / "work"
    fp = L.fingerprint(model, survey, {"block": 32}, "fp32", {})
    L.check_fingerprint(work, fp, restart=False)
    L.check_fingerprint(work, fp, restart=False)          # same run: fine
    other = L.fingerprint(model, survey, {"block": 64}, "fp32", {})
    with pytest.raises(HpcfaultError, match="differs in plan.*--restart"):
        L.check_fingerprint(work, other, restart=False)
    model.write_bytes(b"other weights")
    with pytest.raises(HpcfaultError, match="model_sha256"):
        L.check_fingerprint(work, L.fingerprint(model, survey, {"block": 32}, "fp32", {}), restart=False)
    _write_blocks(work, "a001", 0, [(0, np.zeros((2, 2, 2), np.float32))])
    L.clear(work)
    L.check_fingerprint(work, other, restart=True)
    assert json.loads((work / "fingerprint.json").read_text())["plan"] == {"block": 64}
    assert L.read_ledger(work) == ([], set()) and not os.listdir(work / "shards")


def test_crc_is_of_the_float32_bytes():
    a = np.linspace(0, 1, 27, dtype=np.float32).reshape(3, 3, 3)
    assert crc32(a) == crc32(a.copy()) and crc32(a) != crc32(a[::-1].copy())


def test_a_damaged_closed_shard_is_caught_by_its_checksums(tmp_path):
    """Item 4/5 of issue 15: CRCs are checked for closed shards too; a shard that is overwritten in
    place (still valid HDF5), truncated or deleted costs only its own blocks."""
    a = np.full((4, 4, 4), 0.25, np.float32)
    s0 = _write_blocks(tmp_path, "a001", 0, [(0, a), (1, a)], close=True)
    s1 = _write_blocks(tmp_path, "a001", 1, [(2, a), (3, a)], close=True)
    s2 = _write_blocks(tmp_path, "a001", 2, [(4, a)], close=True)
    entries, closed = L.read_ledger(tmp_path)
    assert {s0, s1, s2} <= closed
    with h5py.File(tmp_path / "shards" / s0, "a") as f:
        f["b1"][0, :2, :] = 0.9                              # overwritten in place: still valid HDF5
    path1 = tmp_path / "shards" / s1
    path1.write_bytes(path1.read_bytes()[:1000])            # truncated
    (tmp_path / "shards" / s2).unlink()                     # deleted
    good, bad = L.verify_blocks(tmp_path, entries)
    assert [e.k for e in good] == [0] and sorted(e.k for e in bad) == [1, 2, 3, 4]


def test_usable_needs_matching_number_id_and_run_key(tmp_path):
    a = np.zeros((2, 2, 2), np.float32)
    _write_blocks(tmp_path, "a001", 0, [(0, a), (1, a), (2, a)], key="K1")
    _write_blocks(tmp_path, "a002", 0, [(3, a)], key="K2")
    with open(tmp_path / "ledger" / "a002-r0000.jsonl", "a") as f:
        f.write(json.dumps({"id": "b9", "k": 1, "shard": "a002-r0000.h5", "crc": 0, "rank": 0,
                            "attempt": "a002", "key": "K1"}) + "\n")   # number 1 with the id of block 9
        f.write(json.dumps({"id": "b5", "k": 5, "shard": "x"}) + "\n")   # valid JSON, fields missing
        f.write("[1, 2]\n")                                              # not a record
    entries, _ = L.read_ledger(tmp_path)
    assert sorted((e.k, e.id) for e in entries) == [(0, "b0"), (1, "b1"), (1, "b9"), (2, "b2"), (3, "b3")]
    ids = ["b0", "b1", "b2", "b3"]
    assert sorted(e.k for e in L.usable(entries, ids, "K1")) == [0, 1, 2]
    assert [e.k for e in L.usable(entries, ids, "K2")] == [3]
    assert [e.k for e in L.usable(entries, ids[:2], "K1")] == [0, 1]       # a smaller plan: block 2 is not in it


def test_fingerprint_is_checked_against_the_ledger_when_fingerprint_json_is_gone_or_edited(tmp_path):
    """Item 7: the ledger's header lines record what the blocks came from; deleting or editing
    fingerprint.json cannot let another model's blocks through."""
    model, survey, work = tmp_path / "m.pt", tmp_path / "s.h5", tmp_path / "work"
    model.write_bytes(b"weights A")
    survey.write_bytes(b"data")
    fp = L.fingerprint(model, survey, {"block": 32}, "fp32", {})
    L.check_fingerprint(work, fp, restart=False)
    key = L.run_key(fp, {"lo": 0.0, "hi": 1.0})
    _write_blocks(work, "a001", 0, [(0, np.zeros((2, 2, 2), np.float32))], key=key,
                  run={"run": fp, "normalizer": {"lo": 0.0, "hi": 1.0}})
    assert L.read_runs(work)[0]["run"] == fp and L.read_runs(work)[0]["key"] == key
    model.write_bytes(b"weights B")
    other = L.fingerprint(model, survey, {"block": 32}, "fp32", {})
    (work / "fingerprint.json").unlink()
    with pytest.raises(HpcfaultError, match="holds blocks of another run \\(differs in model_sha256\\)"):
        L.check_fingerprint(work, other, restart=False)
    (work / "fingerprint.json").write_text(json.dumps(other))       # edited to look like the new run
    with pytest.raises(HpcfaultError, match="differs in model_sha256"):
        L.check_fingerprint(work, other, restart=False)
    (work / "fingerprint.json").unlink()
    L.check_fingerprint(work, fp, restart=False)                     # the same run again: rewritten
    assert json.loads((work / "fingerprint.json").read_text()) == fp
    assert L.run_key(fp, {"lo": 0.0, "hi": 2.0}) != key              # other statistics, other key
