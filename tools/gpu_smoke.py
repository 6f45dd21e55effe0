"""The GPU smoke test behind tools/gpu_smoke.sh: every GPU path of hpcfault once, as a table.

Each step runs the real CLI (subprocesses, as a user would) and reports pass/fail with figures:
probe, predict per dtype against a CPU run, 2 MPI ranks = 1, kill and resume, the memory formula
against the measured peak, a forced out-of-memory that recovers, training with AMP + USR1 stop and
resume, and 2-GPU NCCL DDP = 1 process. `--cpu` runs the same steps on the CPU (the CPU reference
then is the run itself), so the script is tested in the suite; `--quick` uses tiny sizes.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ROWS: list[tuple[str, str, str]] = []


def row(name: str, ok: bool | None, figures: str) -> None:
    status = "skip" if ok is None else ("PASS" if ok else "FAIL")
    ROWS.append((name, status, figures))
    print(f"{status:<5} {name:<28} {figures}", flush=True)


def run(args: list, env: dict | None = None, ranks: int = 0, check: bool = True, timeout: float = 540) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "hpcfault", *map(str, args)]
    if ranks:
        cmd = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(ranks), *cmd]
    full = {**os.environ, **(env or {})}
    if ranks and os.geteuid() == 0:   # Open MPI refuses root (containers, lent GPU machines) unless told
        full = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", **full}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[-12:])} failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    return proc


def read(path: Path) -> np.ndarray:
    import h5py

    with h5py.File(path) as f:
        return f["data"][...]


def step(name: str):
    """Run a step function; an exception is a FAIL row with its message, never a crash of the table."""
    def wrap(fn):
        def inner(*a, **k):
            try:
                return fn(*a, **k)
            except Exception as exc:   # noqa: BLE001 - reported in the table
                row(name, False, f"error: {str(exc).splitlines()[-1][:160] if str(exc) else type(exc).__name__}")
        return inner
    return wrap


class Smoke:
    def __init__(self, out: Path, cpu: bool, quick: bool) -> None:
        import torch

        self.out, self.cpu, self.quick = out, cpu, quick
        self.gpus = 0 if cpu else torch.cuda.device_count()
        self.device_env = {"CUDA_VISIBLE_DEVICES": ""} if cpu else {}
        self.cpu_env = {"CUDA_VISIBLE_DEVICES": ""}
        self.shape = (32, 64, 64) if quick else (128, 256, 256)
        self.block = 32 if quick else 128
        self.survey = out / "survey.h5"

    # -------------------------------------------------------------------------------- probe
    @step("probe")
    def probe(self) -> None:
        import torch

        from hpcfault.models.precision import gpu_has_bf16, tf32_state

        figs = [f"torch {torch.__version__}"]
        if self.gpus:
            cap = torch.cuda.get_device_capability(0)
            figs += [f"CUDA {torch.version.cuda}", f"cuDNN {torch.backends.cudnn.version()}",
                     f"{torch.cuda.get_device_name(0)} cc {cap[0]}.{cap[1]}", f"{self.gpus} GPU(s)",
                     f"bf16 {'yes' if gpu_has_bf16(cap) else 'emulated'}"]
        figs.append(f"TF32 default {tf32_state()}")
        level = subprocess.run([sys.executable, "-c", "from mpi4py import MPI; print(MPI.Query_thread(), "
                                "MPI.THREAD_MULTIPLE, MPI.Get_library_version().splitlines()[0])"],
                               capture_output=True, text=True, timeout=60).stdout.split(maxsplit=2)
        figs.append(f"MPI thread level {level[0]}/{level[1]} ({level[2].strip()[:40]})" if len(level) == 3
                    else "mpi4py: not importable")
        row("probe", True, ", ".join(figs))
        if not self.cpu and not self.gpus:
            row("probe: GPU", False, "torch sees no CUDA device; use --cpu on a CPU machine")

    # -------------------------------------------------------------------------------- predict
    def predict(self, out: Path, dtype: str, env: dict, *extra, ranks: int = 0, check: bool = True):
        return run(["predict", self.survey, "-o", out, "--block", self.block, "--dtype", dtype, "--no-progress",
                    *extra], env=env, ranks=ranks, check=check)

    @step("predict dtypes vs CPU")
    def dtypes(self) -> None:
        run(["synth", self.survey, "--shape", *self.shape, "--seed", "7", "--no-progress"])
        ref = None
        if not self.cpu:   # in --cpu mode the fp32 run below is the CPU run
            self.predict(self.out / "cpu.h5", "fp32", self.cpu_env)
            ref = read(self.out / "cpu.h5")
        # fp32 must match the CPU to float rounding; tf32/half precision may flip a few voxels near 0.5
        limits = {"fp32": (1e-4, 1e-5), "tf32": (None, 1e-3), "bf16": (None, 1e-2), "fp16": (None, 1e-2)}
        from hpcfault.models.cpu_features import bf16_support

        dtypes = ["fp32", "tf32", "bf16", "fp16"]
        if self.cpu:
            dtypes = ["fp32", "bf16"] if bf16_support().ok else ["fp32"]
            if len(dtypes) == 1:
                row("predict bf16", None, f"this CPU has no bf16 convolutions ({bf16_support().reason})")
        for dtype in dtypes:
            path = self.out / f"{dtype}.h5"
            self.predict(path, dtype, self.device_env)
            got = read(path)
            ref = got if ref is None else ref
            summary = json.loads((self.out / f"{dtype}.summary.json").read_text())
            delta = float(np.max(np.abs(got - ref)))
            flips = int(np.count_nonzero((got >= 0.5) != (ref >= 0.5)))
            max_delta, max_flips = limits[dtype]
            ok = (max_delta is None or delta <= max_delta) and flips <= max_flips * ref.size
            row(f"predict {dtype}", ok, f"max|d| {delta:.2e}, {flips} of {ref.size} voxels flipped at 0.5 "
                f"(<= {max_flips:.3%}), {summary['predict_mvox_s']:.2f} Mvox/s")
        self.ref = ref

    @step("2 ranks = 1")
    def two_ranks(self) -> None:
        self.predict(self.out / "r2.h5", "fp32", self.device_env, ranks=2)
        same = np.array_equal(read(self.out / "r2.h5"), read(self.out / "fp32.h5"))
        row("2 MPI ranks = 1", same, "identical output" if same else "outputs differ")

    @step("kill and resume")
    def kill_resume(self) -> None:
        path = self.out / "killed.h5"
        first = self.predict(path, "fp32", {**self.device_env, "HPCFAULT_TEST_CRASH_AFTER_BLOCKS": "0:1"}, check=False)
        self.predict(path, "fp32", self.device_env)
        same = np.array_equal(read(path), read(self.out / "fp32.h5"))
        row("kill and resume", first.returncode != 0 and same,
            f"killed (status {first.returncode}), resumed: {'identical' if same else 'DIFFERENT'} output")

    # -------------------------------------------------------------------------------- memory
    @step("memory formula")
    def memory(self) -> None:
        import torch

        from hpcfault.models import load_model, prepare_for_inference
        from hpcfault.models.memory import cuda_extra_bytes_per_voxel, measure_peak_bytes, peak_bytes

        device = "cpu" if self.cpu else "cuda:0"
        model = prepare_for_inference(load_model(str(REPO / "hpcfault/assets/faultnet-default.pt"), device=device))
        shape = (64, 64, 64) if self.quick else (256, 256, 256)
        for dtype in (("fp32",) if self.cpu else ("fp32", "bf16")):
            if dtype != "fp32":
                model = model.to(torch.bfloat16)
            measured = measure_peak_bytes(model, shape, dtype, device)
            vox = shape[0] * shape[1] * shape[2]
            formula = peak_bytes("faultnet", shape, dtype) + (0 if self.cpu else cuda_extra_bytes_per_voxel(dtype) * vox)
            row(f"memory formula {dtype}", measured <= formula * 1.05,
                f"measured {measured / vox:.1f} B/voxel vs formula {formula / vox:.1f} at {shape[0]}^3")

    @step("out of memory recovers")
    def oom(self) -> None:
        from hpcfault.infer.oom import LIMIT_FILE

        path = self.out / "oom.h5"
        if self.cpu:   # no GPU to exhaust: the injected error the tests use
            env, block = {**self.device_env, "HPCFAULT_TEST_OOM_ABOVE": str(self.block ** 3 - 1)}, self.block
        else:   # a real CUDA OOM: this process may use only 256 MiB of the GPU, less than the whole
            import torch  # survey's forward (about 350 MiB), more than a 128^3 block's (about 90 MiB)

            cap = 256 * 2**20 / torch.cuda.get_device_properties(0).total_memory
            env, block = {"HPCFAULT_TEST_GPU_MEMORY_FRACTION": f"{cap:.6f}"}, 1008
        proc = run(["predict", self.survey, "-o", path, "--block", block, "--memory", "1TiB", "--no-progress",
                    "--keep-workdir"], env=env, check=False)
        limit = self.out / "oom.h5.work" / LIMIT_FILE
        recorded = json.loads(limit.read_text()) if limit.exists() else None
        ok = proc.returncode == 0 and recorded is not None and "out of GPU memory" in proc.stderr
        if ok:   # a complete output (another tiling than the reference: not compared voxel by voxel)
            got = read(path)
            ok = got.shape == self.ref.shape and bool(np.all((got >= 0) & (got <= 1)))
        row("forced OOM recovers", ok, f"recorded {recorded}, exit {proc.returncode}"
            + ("" if ok else f": {proc.stderr.strip()[-200:]}".replace("\n", " | ")))

    # -------------------------------------------------------------------------------- training
    def train(self, run_dir: Path, *keys: str, ranks: int = 0, env: dict | None = None, **kw):
        steps = 4 if self.quick else 20
        device = "cpu" if self.cpu else "cuda"
        return run(["train", REPO / "configs" / "train-tiny.yaml", "--run-dir", run_dir, f"steps={steps}",
                    f"device={device}", "validation.every=0", f"checkpoint_every={steps // 2}", *keys],
                   env={**self.device_env, **(env or {})}, ranks=ranks, **kw)

    @step("training AMP + USR1 resume")
    def training(self) -> None:
        amps = ["off"] if self.cpu else ["fp16", "bf16"]
        for amp in amps:
            run_dir = self.out / f"train-{amp}"
            cmd = [sys.executable, "-m", "hpcfault", "train", str(REPO / "configs" / "train-tiny.yaml"), "--run-dir",
                   str(run_dir), "steps=400", f"device={'cpu' if self.cpu else 'cuda'}", "validation.every=0",
                   f"amp={amp}", "checkpoint_every=1000", "log_every=1"]
            proc = subprocess.Popen(cmd, env={**os.environ, **self.device_env}, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            metrics = run_dir / "metrics.jsonl"
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and proc.poll() is None:
                if metrics.exists() and len(metrics.read_text().splitlines()) >= 2:
                    break
                time.sleep(0.2)
            proc.send_signal(signal.SIGUSR1)
            out, err = proc.communicate(timeout=300)
            stopped = "stopped at step" in out
            at = int(out.split("stopped at step")[1].split()[0]) if stopped else -1
            resumed = run(["train", REPO / "configs" / "train-tiny.yaml", "--run-dir", run_dir, f"steps={at + 2}",
                           f"device={'cpu' if self.cpu else 'cuda'}", "validation.every=0", f"amp={amp}",
                           "checkpoint_every=1000", "log_every=1"], env=self.device_env, check=False)
            lines = [json.loads(x) for x in metrics.read_text().splitlines() if x.strip()]
            losses = [x["loss"] for x in lines if x.get("kind") == "train"]
            steps = [x["step"] for x in lines if x.get("kind") == "train"]
            ok = (stopped and resumed.returncode == 0 and f"to step {at + 2}" in resumed.stdout
                  and steps == list(range(1, at + 3)) and bool(losses) and all(np.isfinite(losses)))
            row(f"train amp={amp}, USR1", ok, f"stopped at step {at}, resumed to {at + 2}, losses "
                + ", ".join(f"{v:.4f}" for v in losses[-3:])
                + ("" if ok else f": {(err + resumed.stderr).strip()[-200:]}".replace("\n", " | ")))

    @step("DDP 2 = 1")
    def ddp(self) -> None:
        if not self.cpu and self.gpus < 2:
            row("NCCL DDP 2 GPUs = 1", None, f"needs 2 GPUs (got {self.gpus})")
            return
        from hpcfault.models.checkpoint import read_checkpoint

        runs = {}
        for ranks in (0, 2):
            run_dir = self.out / f"ddp-{ranks}"
            self.train(run_dir, "deterministic=true", "amp=off", ranks=ranks)
            runs[ranks] = read_checkpoint(run_dir / "checkpoints" / "model.pt")["state_dict"]
        # parameters; BatchNorm running statistics are per-rank buffers and differ by design
        keys = [k for k in runs[0] if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
        diff = max(float((runs[0][k].float() - runs[2][k].float()).abs().max()) for k in keys)
        name = "gloo DDP 2 ranks = 1" if self.cpu else "NCCL DDP 2 GPUs = 1"
        row(name, diff <= 1e-4, f"max |d weight| {diff:.1e} (<= 1e-4)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cpu", action="store_true", help="the same steps on the CPU (tests the script itself)")
    p.add_argument("--quick", action="store_true", help="tiny sizes (32x64x64 survey, 4 training steps)")
    p.add_argument("--out", default=None, help="folder for the runs' files (default: a new temporary folder)")
    args = p.parse_args(argv)
    import tempfile

    out = Path(args.out or tempfile.mkdtemp(prefix="hpcfault-smoke-")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    s = Smoke(out, args.cpu, args.quick)
    print(f"hpcfault GPU smoke test ({'CPU mode' if args.cpu else 'GPU'}{', quick' if args.quick else ''}), files in {out}")
    s.probe()
    s.memory()
    s.dtypes()
    if hasattr(s, "ref"):
        s.two_ranks()
        s.kill_resume()
        s.oom()
    s.training()
    s.ddp()
    failed = [r for r in ROWS if r[1] == "FAIL"]
    print(f"\n{'step':<28} {'result':<6} figures")
    for name, status, figs in ROWS:
        print(f"{name:<28} {status:<6} {figs}")
    print(f"\n{len(ROWS) - len(failed)} of {len(ROWS)} rows pass or skip, {len(failed)} fail "
          f"({time.perf_counter() - t0:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
