"""Every bad input of issue 15's campaign: one line "hpcfault CMD: error: ...", exit code 2, and
nothing written or changed on disk (items 1-3, 8-13). The table CASES is also docs/bad-input.md:
each row's message must appear there (test_the_table_documents_every_case).

The commands run in this process through `hpcfault.cli.main` (real files, a real FIFO, /dev/null,
/proc, /sys); the ones that need a real process (a closed pipe, mpiexec) run as one.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import REPO, run_cli
from hpcfault.cli import main

LONG = "a" * 300 + ".h5"

# (id, issue item, argv with {r} = the fixture folder, a piece of the one-line message)
CASES = [
    ("dev-null", 1, "convert {r}/v.npy /dev/null --axes ixt", "OUTPUT names a character device"),
    ("fifo", 1, "predict {r}/s.h5 -m {r}/m.pt -o {r}/fifo.h5", "-o names a FIFO"),
    ("import-self", 2, "import-weights {r}/m.pt -o {r}/m.pt", "-o would overwrite the input SOURCE"),
    ("predict-model", 2, "predict {r}/s.h5 -m {r}/m.pt -o {r}/m.pt", "-o would overwrite the input -m"),
    ("evaluate-json", 2, "evaluate {r}/p.h5 {r}/l.h5 --json {r}/p.h5", "--json would overwrite the input PRED.h5"),
    ("show-self", 2, "show {r}/s.h5 -o {r}/s.h5", "-o would overwrite the input VOLUME.h5"),
    ("sparsify-self", 2, "labels sparsify {r}/l.h5 {r}/l.h5", "OUT would overwrite the input IN"),
    ("synth-segy", 2, "synth {r}/n.h5 --segy {r}/n.h5", "--segy and OUT name the same file"),
    ("hard-link", 2, "convert {r}/v.npy {r}/hard.npy --axes ixt", "would overwrite the input INPUT (got"),
    ("segy-out-input", 3, "predict {r}/s.h5 -m {r}/m.pt -o {r}/o.h5 --segy-out {r}/s.h5",
     "--segy-out would overwrite the input SURVEY"),
    ("segy-out-o", 3, "predict {r}/s.h5 -m {r}/m.pt -o {r}/o.sgy --segy-out {r}/o.sgy",
     "--segy-out and -o name the same file"),
    ("png-file", 3, "predict {r}/s.h5 -m {r}/m.pt -o {r}/o.h5 --png {r}/afile", "--png must be a folder"),
    ("o-folder", 3, "predict {r}/s.h5 -m {r}/m.pt -o {r}/dir", "-o is a folder"),
    ("axes-contradict", 8, "convert {r}/vol.h5 {r}/t.h5 --axes ixt", "contradicts the axis order stored in the file"),
    ("amplitude-labels", 9, "evaluate {r}/p.h5 {r}/amp.h5",
     "has no 'labels' dataset and its 'data' is not 0/1 labels"),
    ("nan-pred", 9, "evaluate {r}/nanp.h5 {r}/l.h5", "fault probabilities must be finite"),
    ("pred-range", 9, "evaluate {r}/s.h5 {r}/l.h5", "fault probabilities must lie in [0, 1]"),
    ("threshold-nan", 9, "evaluate {r}/p.h5 {r}/l.h5 --threshold nan", "--threshold must be a probability in [0, 1]"),
    ("complex", 10, "convert {r}/c.npy {r}/t.h5 --axes ixt", "complex samples"),
    ("float64-range", 10, "convert {r}/big.npy {r}/t.h5 --axes ixt --no-progress", "values beyond float32's range"),
    ("train-empty", 11, "train {r}/empty.yaml --run-dir {r}/run", "missing required key 'kind'"),
    ("npy-empty", 12, "convert {r}/empty.npy {r}/t.h5 --axes ixt", "not a readable .npy file"),
    ("info-npy-empty", 12, "info {r}/empty.npy --axes ixt", "not a readable .npy file"),
    ("npy-strings", 12, "convert {r}/str.npy {r}/t.h5 --axes ixt", "samples are not numbers"),
    ("dat-negative", 12, "convert {r}/x.dat {r}/t.h5 --shape -2 -2 2", "every --shape size must be at least 1"),
    ("proc", 12, "convert {r}/v.npy /proc/t.h5 --axes ixt", "cannot be created in '/proc'"),
    ("sys", 12, "synth /sys/t.h5 --shape 16 16 16", "cannot be created in '/sys'"),
    ("long-name", 12, "export {r}/s.h5 --like {r}/s.sgy -o {r}/" + LONG, "longer than the 255 this file system allows"),
    ("predict-long", 12, "predict {r}/s.h5 -m {r}/m.pt -o {r}/" + LONG, "-o has a name of 303 bytes"),
    ("workdir-file", 12, "predict {r}/s.h5 -m {r}/m.pt -o {r}/o.h5 --workdir {r}/afile", "--workdir must be a folder"),
    ("under-file", 12, "predict {r}/s.h5 -m {r}/m.pt -o {r}/afile/x.h5", "which is a regular file, not a folder"),
    ("show-under-file", 12, "show {r}/s.h5 -o {r}/afile/f.png", "-o lies under"),
    ("train-threads", 12, "train " + str(REPO / "configs/train-tiny.yaml") + " --run-dir {r}/run threads=-1",
     "threads must be >= 0"),
    ("train-run-dir-file", 12, "train " + str(REPO / "configs/train-tiny.yaml") + " --run-dir {r}/afile",
     "--run-dir must be a folder"),
    ("synth-huge", 12, "synth {r}/h.h5 --shape 100000 100000 100000", "of disk (got"),
    ("max-blocks", 12, "predict {r}/s.h5 -m {r}/m.pt -o {r}/o.h5 --max-blocks -1", "--max-blocks must be at least 1"),
    ("show-jpg", 12, "show {r}/s.h5 -o {r}/x.jpg", "hpcfault show writes PNG images"),
    ("sgy-folder", 12, "convert {r}/d.sgy {r}/t.h5", "INPUT is a folder, not a file"),
    ("predict-npy-axes", 13, "predict {r}/v.npy -m {r}/m.pt -o {r}/o.h5", "declare its order with --axes"),
]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    import torch

    from hpcfault.io.segy import write_segy
    from hpcfault.io.volume import SurveyGeometry, write_array
    from hpcfault.models import build_model, save_checkpoint

    r = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(0)
    seis = rng.standard_normal((16, 24, 24)).astype(np.float32)
    write_array(r / "s.h5", seis)
    write_segy(r / "s.sgy", seis)
    labels = (rng.random(seis.shape) > 0.9).astype(np.uint8)
    write_array(r / "l.h5", seis, labels=labels)
    write_array(r / "p.h5", rng.random(seis.shape).astype(np.float32))
    nanp = rng.random(seis.shape).astype(np.float32)
    nanp[3, 4, 5] = np.nan
    write_array(r / "nanp.h5", nanp)
    write_array(r / "amp.h5", (seis * 3000).astype(np.int16))
    f3 = SurveyGeometry.regular((75, 23, 18))
    from dataclasses import replace

    write_array(r / "vol.h5", rng.standard_normal((75, 23, 18)).astype(np.float32),
                geometry=replace(f3, inlines=np.arange(111, 134, dtype=np.int32)))
    torch.manual_seed(0)
    save_checkpoint(r / "m.pt", build_model("faultnet"), "faultnet")
    v = rng.standard_normal((8, 6, 16)).astype(np.float32)
    np.save(r / "v.npy", v)
    os.link(r / "v.npy", r / "hard.npy")
    np.save(r / "c.npy", v.astype(np.complex64))
    np.save(r / "big.npy", v.astype(np.float64) * 1e300)
    np.save(r / "str.npy", np.full((3, 3, 3), "a"))
    (r / "empty.npy").write_bytes(b"")
    np.arange(8, dtype=np.float32).tofile(r / "x.dat")
    (r / "afile").write_text("a file")
    (r / "empty.yaml").write_text("")
    (r / "dir").mkdir()
    (r / "d.sgy").mkdir()
    os.mkfifo(r / "fifo.h5")
    return r


def _snapshot(folder: Path) -> dict:
    out = {}
    for p in sorted(folder.rglob("*")):
        st = os.lstat(p)
        out[str(p)] = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_mode)
    return out


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_touches_nothing(root, case, capsys):
    name, item, argv, fragment = case
    before = _snapshot(root)
    null = os.stat("/dev/null")
    rc = main(argv.format(r=root).split())
    out, err = capsys.readouterr()
    assert rc == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"hpcfault {argv.split()[0]}: error: "), err
    assert fragment in lines[0], lines[0]
    assert _snapshot(root) == before                  # no output, no input changed, no temporary left
    assert os.stat("/dev/null").st_rdev == null.st_rdev and not os.path.isfile("/dev/null")


def test_the_table_documents_every_case():
    doc = (REPO / "docs" / "bad-input.md").read_text()
    missing = [name for name, _, _, fragment in CASES if fragment not in doc]
    assert not missing, f"docs/bad-input.md lacks the message of {missing}"
    assert "docs/bad-input.md" in (REPO / "README.md").read_text()


def test_under_mpi_it_is_still_one_line(root):
    proc = run_cli("convert", root / "empty.npy", root / "t.h5", "--axes", "ixt", ranks=2, check=False)
    assert proc.returncode == 2 and not (root / "t.h5").exists()
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "not a readable .npy file" in proc.stderr
    proc = run_cli("predict", root / "s.h5", "-m", root / "m.pt", "-o", root / "fifo.h5", ranks=2, check=False)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "-o names a FIFO" in proc.stderr


def test_a_closed_pipe_ends_quietly(root):
    """`hpcfault info X | head`: the reader goes away; no BrokenPipeError traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "hpcfault", "info", str(root / "s.h5")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and err == ""


def test_predict_takes_the_input_options_its_errors_name(root, tmp_path, capsys):
    """Item 13: the .npy error asks for --axes, and predict has it (one option group with convert)."""
    out = tmp_path / "o.h5"
    rc = main(["predict", str(root / "v.npy"), "--axes", "time,inline,xline", "-m", str(root / "m.pt"), "-o",
               str(out), "--block", "16", "--no-progress", "--threads", "1"])
    assert rc == 0 and "wrote" in capsys.readouterr().out
    with h5py.File(out, "r") as f:
        assert f["data"].shape == (8, 6, 16)
    import argparse

    from hpcfault.cli import predict

    p = argparse.ArgumentParser()
    predict.add_arguments(p)
    args = p.parse_args(["x.dat", "-o", "o.h5", "--shape", "4", "4", "4", "--raw-dtype", "int16", "--endian", "big",
                         "--dataset", "seis", "--min-live", "0.2", "--iline", "9", "--xline", "21"])
    job = predict.build_job(args)
    assert job.source_opts == {"endian": "big", "axes": None, "shape": [4, 4, 4], "dtype": "int16",
                               "dataset": "seis", "min_live": 0.2} and (job.iline, job.xline) == (9, 21)


def test_all_nan_input_records_no_infinite_range(root, tmp_path, capsys):
    """Item 10: a survey without a finite sample no longer records min=inf, max=-inf."""
    np.save(tmp_path / "nan.npy", np.full((4, 4, 4), np.nan, np.float32))
    assert main(["convert", str(tmp_path / "nan.npy"), str(tmp_path / "n.h5"), "--axes", "ixt",
                 "--no-progress"]) == 0
    assert "no finite value" in capsys.readouterr().out
    with h5py.File(tmp_path / "n.h5", "r") as f:
        assert np.isnan(f.attrs["value_min"]) and np.isnan(f.attrs["value_max"]) and f.attrs["nonfinite"] == 64


def test_normalizer_handles_ranges_near_float32_limits():
    """Item 10: amplitudes of +-3e38 no longer overflow to inf (every sample clipped to 0 or 1)."""
    from hpcfault.normalize import compute_stats, normalizer_from

    x = np.array([-3.0e38, -1.0e38, 0.0, 1.0e38, 3.0e38, np.nan], np.float32)
    norm = normalizer_from(compute_stats(lambda s: x, [0], percentiles=False))
    assert norm.wide
    got = norm.apply(x)
    want = (x[:5].astype(np.float64) + 3.0e38) / 6.0e38
    assert np.isfinite(got).all() and np.allclose(got[:5], want, atol=1e-6) and abs(got[5] - 0.5) < 1e-6


def test_a_failed_training_start_does_not_claim_the_run_dir(tmp_path, capsys):
    """Item 11: a start that fails its checks leaves a run dir the corrected command can use."""
    tiny = str(REPO / "configs" / "train-tiny.yaml")
    run = tmp_path / "run"
    bad = "data.sources=[{kind: volume, path: " + str(tmp_path / "missing.h5") + "}]"
    assert main(["train", tiny, "--run-dir", str(run), bad]) == 2
    err = capsys.readouterr().err
    assert "missing.h5" in err and not (run / "config.yaml").exists()
    assert main(["train", tiny, "--run-dir", str(run), "steps=1", "validation.every=0"]) == 0
    assert (run / "config.yaml").exists() and (run / "checkpoints" / "model.pt").exists()


def test_cpu_install_pins_the_cpu_build_and_adds_the_index_only_when_needed(tmp_path):
    """Item 16: requirements-cpu.txt cannot resolve to PyPI's CUDA build on Linux, and the Makefile's
    helper adds PyTorch's CPU index unless pip already finds the pinned wheel locally."""
    reqs = (REPO / "requirements-cpu.txt").read_text().splitlines()
    torch_lines = [r for r in reqs if r.startswith("torch")]
    assert torch_lines[0] == 'torch==2.13.0+cpu; sys_platform == "linux"'
    assert "tools/torch_index.sh" in (REPO / "Makefile").read_text()
    pip = str(Path(sys.executable).parent / "pip")
    script = str(REPO / "tools" / "torch_index.sh")
    index = "https://download.pytorch.org/whl/cpu"
    bare = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    nowhere = subprocess.run(["sh", script, pip, str(REPO / "requirements-cpu.txt")], capture_output=True, text=True,
                             env={**bare, "PIP_CONFIG_FILE": os.devnull, "TORCH_INDEX": index}, timeout=300)
    assert nowhere.returncode == 0 and nowhere.stdout.strip() == f"--extra-index-url {index}"
    off = subprocess.run(["sh", script, pip, str(REPO / "requirements-cpu.txt")], capture_output=True, text=True,
                         env={**os.environ, "TORCH_INDEX": ""}, timeout=300)
    assert off.returncode == 0 and off.stdout == ""
    wheels = sorted(Path(d) for d in os.environ.get("PIP_FIND_LINKS", "").split() if Path(d).is_dir())
    if wheels and list(wheels[0].glob("torch-2.13.0+cpu-*.whl")):   # a machine with the wheel on disk
        local = subprocess.run(["sh", script, pip, str(REPO / "requirements-cpu.txt")], capture_output=True,
                               text=True, env={**os.environ, "TORCH_INDEX": index}, timeout=300)
        assert local.returncode == 0 and local.stdout == ""
