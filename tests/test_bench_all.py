"""tools/bench_all.py --quick: every benchmark of tools/ runs and the harness prints the README table.

Smoke test only: no timing is asserted (the machine may be busy), only that each section ran (or
was skipped for a stated reason) and produced its rows with machine, threads and dtype.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.mpi]

ROWS_EXPECTED = {"model": 3, "predict": 2, "rss": 2, "scaling": 2, "seams": 2, "train": 2}


def test_quick_harness_prints_the_performance_table(tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env["PATH"] = f"{os.path.dirname(sys.executable)}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "bench_all.py"), "--quick", "--threads", "2",
                           "--json", str(out)], capture_output=True, text=True, timeout=900, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    text = proc.stdout
    assert text.startswith("Machine: ") and "| section | figure | value | threads | dtype | notes |" in text
    rep = json.loads(out.read_text())
    assert rep["mode"] == "quick" and rep["machine"] in text
    weights = (REPO.parent / "shared" / "weights" / "FaultNet_Gamma0.7.pt").is_file()
    for sec in rep["sections"]:
        name = sec["name"]
        if not weights and name in ("model", "predict"):
            assert sec["status"].startswith("skipped"), sec["status"]
            continue
        assert sec["status"] == "ok", (name, sec["status"], sec["raw"][-2000:])
        assert len(sec["rows"]) >= ROWS_EXPECTED[name], (name, sec["rows"])
        for row in sec["rows"]:
            assert row["threads"] and row["dtype"] and row["value"]
            assert f"| {name} | {row['figure']} | {row['value']} |" in text
        assert sec["command"].startswith("python tools/bench_")
