"""Ledger and shards: append-only records that survive a killed rank, fingerprints, CRC checks."""
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


def _write_blocks(work, attempt, rank, blocks, close=True):
    shard = f"{attempt}-r{rank:04d}.h5"
    led = L.LedgerWriter(work, attempt, rank)
    with ShardWriter(work / "shards" / shard) as w:
        for k, arr in blocks:
            led.record(f"b{k}", k, shard, w.write(f"b{k}", arr), 0.1)
    led.close(shard if close else None)
    return shard


def test_records_round_trip_and_attempt_numbers(tmp_path):
    assert L.next_attempt(tmp_path) == "a001"
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    shard = _write_blocks(tmp_path, "a001", 0, [(0, a), (3, a + 1)])
    _write_blocks(tmp_path, "a001", 1, [(1, a + 2)])
    assert L.next_attempt(tmp_path) == "a002"
    entries, closed = L.read_ledger(tmp_path)
    assert sorted(e.k for e in entries) == [0, 1, 3] and shard in closed
    done = L.done_blocks(L.verify_unclosed(tmp_path, entries, closed))
    with ShardReader(tmp_path / "shards") as r:
        np.testing.assert_array_equal(r.read(done[3].shard, "b3"), a + 1)
        np.testing.assert_array_equal(r.read(done[1].shard, "b1", (slice(0, 1), slice(None), slice(1, 3))),
                                      (a + 2)[:1, :, 1:3])


def test_torn_line_and_corrupt_unclosed_shard_are_recomputed(tmp_path):
    a = np.ones((4, 4, 4), np.float32)
    shard = _write_blocks(tmp_path, "a001", 0, [(0, a), (1, a * 2)], close=False)
    with open(tmp_path / "ledger" / "a001-r0000.jsonl", "a") as f:
        f.write('{"id": "b2", "k": 2, "sha')            # killed in the middle of a line
    with h5py.File(tmp_path / "shards" / shard, "a") as f:  # block 1's data no longer matches its CRC
        f["b1"][0, 0, 0] = 5.0
    entries, closed = L.read_ledger(tmp_path)
    assert [e.k for e in entries] == [0, 1] and not closed
    assert [e.k for e in L.verify_unclosed(tmp_path, entries, closed)] == [0]


def test_unreadable_shard_of_a_killed_rank_drops_its_blocks(tmp_path):
    shard = _write_blocks(tmp_path, "a001", 0, [(0, np.zeros((2, 2, 2), np.float32))], close=False)
    (tmp_path / "shards" / shard).write_bytes(b"garbage")
    entries, closed = L.read_ledger(tmp_path)
    assert L.verify_unclosed(tmp_path, entries, closed) == []


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
    kept = L.verify_unclosed(tmp_path, entries, closed)
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
