#!/usr/bin/env python
"""The README's performance table from one run: every benchmark of tools/, one row per figure.

    .venv/bin/python tools/bench_all.py                 # full (about 4 min on 2 idle cores)
    .venv/bin/python tools/bench_all.py --quick         # smoke test: tiny sizes, about 1-2 min
    .venv/bin/python tools/bench_all.py --only model seams --json bench.json --raw

Sections (each runs the benchmark script that owns the figure, as a child process, and reads its
result; the scripts' own docstrings say how they measure):

  model    tools/bench_model.py    Fault-Net forward, ours (exact, fast) vs the published TorchScript,
                                   same input cube, same threads (needs ../shared/weights)
  predict  tools/bench_predict.py  end-to-end `hpcfault predict` (volume in -> merged volume out)
           throughput              vs the TorchScript reference's bare forward of the same volume
  rss      tools/bench_predict.py  peak RSS per rank against survey size (two sizes, same block)
           rss
  scaling  tools/bench_scaling.py  1 -> 2 MPI ranks, one thread each, same survey and blocks
  seams    tools/bench_seams.py    tiled + merged prediction vs one whole-volume forward, per overlap
  train    tools/bench_train.py    `hpcfault train` cubes/s: 1 process (1 and N threads), 2 processes

Every row names the machine (CPU model, cores), the threads and the dtype. The load average before
and after each section is recorded: on a shared machine the timings only mean something when it
stays below the core count. A section that fails or cannot run (e.g. no published weights) gives a
row saying so and the harness goes on; the exit status is 1 when a section failed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / "tools"
WEIGHTS = REPO.parent / "shared" / "weights" / "FaultNet_Gamma0.7.pt"
DEFAULT_MODEL = REPO / "hpcfault" / "assets" / "faultnet-default.pt"
TMP_ROOT = ""   # the harness's temporary folder, shown as $TMP in the commands it prints
SECTIONS = ("model", "predict", "rss", "scaling", "seams", "train")

# Sizes per mode. Full: the figures the issues ask for, scaled to what 2 cores finish in minutes.
FULL = {
    "model": {"sizes": [128], "rounds": 3},
    "predict": {"shape": [256, 256, 256], "repeats": 1},
    # issue 4: 512x1024x1024 float32 (2 GiB) with 256^3 blocks (target: <= 1.5 GiB per rank, independent
    # of the survey size); statistics over the whole survey + 2 blocks (--max-blocks 2)
    "rss": {"shapes": [[256, 512, 512], [512, 1024, 1024]], "block": 256, "max_blocks": 2, "memory": None},
    "scaling": {"shape": [256, 512, 512], "block": 128},
    "seams": {"shape": [256, 256, 256], "block": 128, "overlaps": [0, 16, 32, 48]},
    "train": {"cube": 64, "batch": 4, "steps": 8, "warmup": 2},
}
QUICK = {
    "model": {"sizes": [32], "rounds": 1},
    "predict": {"shape": [64, 64, 64], "repeats": 1},
    "rss": {"shapes": [[64, 64, 64], [64, 128, 128]], "block": 32, "max_blocks": 1, "memory": None},
    "scaling": {"shape": [32, 64, 64], "block": 32},
    "seams": {"shape": [64, 64, 64], "block": 32, "overlaps": [0, 8]},
    "train": {"cube": 32, "batch": 2, "steps": 3, "warmup": 1},
}


@dataclass
class Row:
    section: str
    figure: str
    value: str
    threads: str = "-"
    dtype: str = "fp32"
    note: str = ""


@dataclass
class Section:
    name: str
    command: str = ""
    seconds: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)
    status: str = "ok"
    rows: list[Row] = field(default_factory=list)
    raw: str = ""


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores"


def run_tool(sec: Section, argv: list[str], timeout: float, threads: int | None = None) -> str:
    """Run a tools/ script (argv[0]) with the venv's python; stdout (stderr appended on failure)."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    cmd = [sys.executable, str(TOOLS / argv[0]), *map(str, argv[1:])]
    shown = [str(a).replace(TMP_ROOT, "$TMP") if TMP_ROOT else str(a) for a in argv[1:]]
    sec.command = " ".join(["python", f"tools/{argv[0]}", *shown])
    load0 = os.getloadavg()[0]
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO)
        out, code = proc.stdout, proc.returncode
        if code:
            out += "\n" + proc.stderr[-3000:]
    except subprocess.TimeoutExpired as exc:
        out, code = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or ""), -1
        out += f"\n(timed out after {timeout:.0f} s)"
    sec.seconds = round(time.perf_counter() - t, 1)
    sec.load = (round(load0, 2), round(os.getloadavg()[0], 2))
    sec.raw += out
    if code:
        last = [ln for ln in out.strip().splitlines() if ln.strip()][-1:] or ["no output"]
        sec.status = f"failed (exit {code}): {last[0][:160]}"
    return out


def section_model(cfg: dict, threads: int, tmp: Path, timeout: float) -> Section:
    sec = Section("model")
    if not WEIGHTS.is_file():
        sec.status = f"skipped: {WEIGHTS} is absent"
        return sec
    js = tmp / "model.json"
    run_tool(sec, ["bench_model.py", "--sizes", *cfg["sizes"], "--threads", threads, "--rounds", cfg["rounds"],
                   "--no-rss", "--weights", WEIGHTS, "--json", js], timeout, threads)
    if sec.status != "ok" or not js.is_file():
        return sec
    rep = json.loads(js.read_text())
    for edge, rows in rep["sizes"].items():
        for name in ("ref", "exact", "fast"):
            if name not in rows:
                continue
            r = rows[name]
            label = {"ref": "published TorchScript", "exact": "ours, as loaded", "fast": "ours, BN folded (predict)"}
            speed = "" if name == "ref" else f", x{r['speedup_best']:.2f} vs TorchScript"
            sec.rows.append(Row("model", f"forward {edge}^3, {label[name]}", f"{r['best_mvox_s']:.3f} Mvox/s{speed}",
                                str(threads), "fp32", f"max abs diff vs ref {r['max_abs_vs_ref']:.1e}"))
    return sec


def section_predict(cfg: dict, threads: int, tmp: Path, timeout: float) -> Section:
    sec = Section("predict")
    if not WEIGHTS.is_file():
        sec.status = f"skipped: {WEIGHTS} is absent"
        return sec
    out = run_tool(sec, ["bench_predict.py", "throughput", "--torchscript", WEIGHTS, "--shape", *cfg["shape"],
                         "--threads", threads, "--repeats", cfg["repeats"], "--tmp", tmp], timeout, threads)
    ref = re.search(r"reference bare forward\s+([\d.]+) Mvox/s", out)
    ours = re.search(r"hpcfault predict \(e2e\)\s+([\d.]+) Mvox/s", out)
    ratio = re.search(r"ratio\s+([\d.]+)x", out)
    shape = "x".join(map(str, cfg["shape"]))
    if ref and ours:
        sec.rows.append(Row("predict", f"TorchScript bare forward, {shape} in memory", f"{ref.group(1)} Mvox/s",
                            str(threads)))
        sec.rows.append(Row("predict", f"hpcfault predict end to end, {shape} file -> file",
                            f"{ours.group(1)} Mvox/s" + (f" ({ratio.group(1)}x the reference)" if ratio else ""),
                            str(threads), "fp32", "1 rank"))
    elif sec.status == "ok":
        sec.status = "failed: no figures in the output"
    return sec


def section_rss(cfg: dict, threads: int, tmp: Path, timeout: float, model: Path) -> Section:
    sec = Section("rss")
    commands = []
    for shape in cfg["shapes"]:
        out = run_tool(sec, ["bench_predict.py", "rss", "-m", model, "--shape", *shape, "--block", cfg["block"],
                             "--threads", threads, "--max-blocks", cfg["max_blocks"], "--tmp", tmp]
                       + (["--memory", cfg["memory"]] if cfg["memory"] else []), timeout, threads)
        commands.append(sec.command)
        gib = 4 * shape[0] * shape[1] * shape[2] / 2 ** 30
        ranks = re.findall(r"rank (\d+): (\d+) blocks, peak RSS ([\d.]+) GiB", out)
        child = re.search(r"peak RSS of the largest child process ([\d.]+) GiB", out)
        if ranks or child:
            value = f"{max(float(r[2]) for r in ranks) if ranks else float(child.group(1)):.2f} GiB"
            sec.rows.append(Row("rss", f"peak RSS per rank, survey {'x'.join(map(str, shape))} ({gib:.2f} GiB float32)",
                                value, str(threads), "fp32",
                                f"block {cfg['block']}^3 asked"
                                + (f", --memory {cfg['memory']}" if cfg["memory"] else "")
                                + (f"; statistics pass + {cfg['max_blocks']} block(s)" if cfg["max_blocks"] else "")))
        elif sec.status == "ok":
            sec.status = "failed: no peak RSS in the output"
    sec.command = " ; ".join(commands)
    return sec


def section_scaling(cfg: dict, tmp: Path, timeout: float, model: Path) -> Section:
    sec = Section("scaling")
    out = run_tool(sec, ["bench_scaling.py", "-m", model, "--shape", *cfg["shape"], "--block", cfg["block"],
                         "--ranks", 1, 2], timeout, 1)
    shape = "x".join(map(str, cfg["shape"]))
    pat = r"ranks (\d+): wall\s+([\d.]+) s \(speedup\s+([\d.]+)x\), predict stage\s+([\d.]+) s \(speedup\s+([\d.]+)x\)"
    for ranks, wall, sp_wall, pred, sp_pred in re.findall(pat, out):
        sec.rows.append(Row("scaling", f"predict {shape}, block {cfg['block']}, {ranks} rank(s)",
                            f"wall {wall} s (x{sp_wall}), predict stage {pred} s (x{sp_pred})",
                            "1 per rank", "fp32"))
    if not sec.rows and sec.status == "ok":
        sec.status = "failed: no figures in the output"
    return sec


def section_seams(cfg: dict, threads: int, timeout: float, model: Path) -> Section:
    sec = Section("seams")
    out = run_tool(sec, ["bench_seams.py", "-m", model, "--shape", *cfg["shape"], "--blocks", cfg["block"],
                         "--overlaps", *cfg["overlaps"], "--threads", threads], timeout, threads)
    shape = "x".join(map(str, cfg["shape"]))
    pat = (r"^\s*(\d+)\s+(\d+)\s+(\S+)\s+(\d+)\s+([\d.e+-]+)\s+([\d.e+-]+)\s+([\d.e+-]+)\s+([\d.]+)%"
           r"(?:\s+([\d.]+)%)?(?:\s+([\d.]+|nan))?\s*$")
    for block, ov, eff, _n, mx, _p, mean, frac, flip, seam in re.findall(pat, out, flags=re.M):
        sec.rows.append(Row("seams", f"tiled vs whole forward, {shape}, block {block}, overlap {ov} (eff. {eff})",
                            f"max abs {float(mx):.2e}, mean {float(mean):.1e}" + (f", seam ratio {seam}" if seam else ""),
                            str(threads), "fp32", f"{frac} % voxels off by > 0.02"
                            + (f", {flip} % change side of 0.5" if flip else "")))
    if not sec.rows and sec.status == "ok":
        sec.status = "failed: no figures in the output"
    return sec


def section_train(cfg: dict, threads: int, tmp: Path, timeout: float) -> Section:
    sec = Section("train")
    js = tmp / "train.json"
    run_tool(sec, ["bench_train.py", "--cube", cfg["cube"], "--batch", cfg["batch"], "--steps", cfg["steps"],
                   "--warmup", cfg["warmup"], "--threads", threads, "--json", js], timeout)
    if sec.status != "ok" or not js.is_file():
        return sec
    for r in json.loads(js.read_text()):
        sec.rows.append(Row("train", f"train Fault-Net, {cfg['cube']}^3 cubes, batch {cfg['batch']}, {r['run']}",
                            f"{r['cubes_per_s']:.3f} cubes/s", f"{r['processes']} x {r['threads']}", "fp32",
                            r["device"]))
    return sec


def project_model(tmp: Path) -> tuple[Path, str]:
    """The checkpoint the predict-side benchmarks use: the imported published weights, else the default."""
    if WEIGHTS.is_file():
        out = tmp / "faultnet-g07.pt"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        proc = subprocess.run([sys.executable, "-m", "hpcfault", "import-weights", str(WEIGHTS), "-o", str(out)],
                              capture_output=True, text=True, env=env, cwd=REPO)
        if proc.returncode == 0:
            return out, "published gamma 0.7 (import-weights)"
    return DEFAULT_MODEL, "embedded default"


def table(sections: list[Section], mach: str, mode: str, model_name: str) -> str:
    import torch

    lines = [f"Machine: {mach}; torch {torch.__version__}; mode {mode}; predict-side model: {model_name}; "
             f"load average at start {sections[0].load[0] if sections else '-'}",
             "",
             "| section | figure | value | threads | dtype | notes |",
             "|---|---|---|---|---|---|"]
    for s in sections:
        for r in s.rows:
            lines.append(f"| {r.section} | {r.figure} | {r.value} | {r.threads} | {r.dtype} | {r.note} |")
        if s.status != "ok":
            lines.append(f"| {s.name} | - | {s.status} | - | - | - |")
    lines += ["", "| section | seconds | load before -> after | command |", "|---|---|---|---|"]
    for s in sections:
        lines.append(f"| {s.name} | {s.seconds} | {s.load[0]} -> {s.load[1]} | `{s.command}` |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of every section")
    p.add_argument("--only", nargs="+", choices=SECTIONS, help="run these sections only")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="threads for the 1-rank figures")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per benchmark command")
    p.add_argument("--json", help="also write sections, rows and commands as JSON")
    p.add_argument("--raw", action="store_true", help="also print every benchmark's own output")
    p.add_argument("--out", help="also write the table (markdown) to this file")
    args = p.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    wanted = args.only or list(SECTIONS)
    mach = machine()
    sections: list[Section] = []
    with tempfile.TemporaryDirectory(prefix="bench-all-") as tmpdir:
        tmp = Path(tmpdir)
        global TMP_ROOT
        TMP_ROOT = str(tmp)
        model, model_name = project_model(tmp)
        t = args.threads
        for name in wanted:
            print(f"[bench_all] {name} ...", file=sys.stderr, flush=True)
            sub = tmp / name
            sub.mkdir()
            if name == "model":
                sec = section_model(cfg["model"], t, sub, args.timeout)
            elif name == "predict":
                sec = section_predict(cfg["predict"], t, sub, args.timeout)
            elif name == "rss":
                sec = section_rss(cfg["rss"], t, sub, args.timeout, model)
            elif name == "scaling":
                sec = section_scaling(cfg["scaling"], sub, args.timeout, model)
            elif name == "seams":
                sec = section_seams(cfg["seams"], t, args.timeout, model)
            else:
                sec = section_train(cfg["train"], t, sub, args.timeout)
            print(f"[bench_all] {name}: {sec.status} in {sec.seconds} s", file=sys.stderr, flush=True)
            sections.append(sec)
    text = table(sections, mach, "quick" if args.quick else "full", model_name)
    print(text)
    if args.raw:
        for s in sections:
            print(f"\n## {s.name}: {s.command}\n{s.raw.rstrip()}")
    if args.out:
        Path(args.out).write_text(text + "\n")
    if args.json:
        from dataclasses import asdict

        Path(args.json).write_text(json.dumps({"machine": mach, "mode": "quick" if args.quick else "full",
                                               "model": model_name,
                                               "sections": [asdict(s) for s in sections]}, indent=1) + "\n")
    return 1 if any(s.status.startswith("failed") for s in sections) else 0


if __name__ == "__main__":
    raise SystemExit(main())
