"""The CLI: help for every subcommand, cheap import, errors as one line with a non-zero exit."""
from __future__ import annotations

import subprocess
import sys

import pytest

from hpcfault.cli import COMMANDS

from conftest import REPO, run_cli


def test_import_is_cheap():
    code = "import sys, hpcfault, hpcfault.cli; print(sorted(m for m in ('torch', 'mpi4py', 'h5py', 'submitit') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_top_help_lists_every_subcommand():
    out = run_cli("--help").stdout
    for name in COMMANDS:
        assert name in out
    assert run_cli(check=False).returncode == 2


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_subcommand_has_help(name):
    proc = run_cli(name, "--help", check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"hpcfault {name}" in proc.stdout


def test_python_dash_m_and_version():
    out = subprocess.run([sys.executable, "-m", "hpcfault", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("hpcfault ")


@pytest.mark.parametrize("given,expect", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_openmp_threads_sleep_unless_the_user_says_otherwise(given, expect):
    """The command sets OMP_WAIT_POLICY before torch (and its OpenMP runtime) is loaded: spinning
    threads collapse on a shared node; a user's own setting wins."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    code = ("import os, sys\nfrom hpcfault.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n"
            "    pass\nprint('torch' in sys.modules, os.environ.get('OMP_WAIT_POLICY'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split()[-2:] == ["False", expect]


def test_config_subcommand_prints_resolved(tmp_path):
    for cfg in sorted((REPO / "configs").glob("*.yaml")):
        proc = run_cli("config", cfg)
        assert proc.stdout.startswith("kind: ")


def test_config_error_is_one_line(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("kind: nope\n")
    proc = run_cli("config", p, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "unknown config kind (got 'nope')" in proc.stderr


def test_docs_cli_reference_is_current():
    """docs/cli.md holds every subcommand's --help; after adding an option, run tools/cli_reference.py."""
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "cli_reference.py"), "--check"], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr


def test_verbose_flag_before_or_after_the_subcommand():
    code = ("import logging, sys; from hpcfault.cli import main; main(sys.argv[1:]); "
            "print(logging.getLogger('hpcfault').getEffectiveLevel(), file=sys.stderr)")
    levels = {}
    for argv in (["config", "configs/predict.yaml"], ["-v", "config", "configs/predict.yaml"],
                 ["config", "configs/predict.yaml", "-vv"]):
        proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=REPO)
        levels[" ".join(argv)] = int(proc.stderr.split()[-1])
    assert list(levels.values()) == [30, 20, 10], levels   # WARNING by default, -v INFO, -vv DEBUG


def test_every_command_that_reads_or_writes_files_declares_them():
    """The one path rule (hpcfault/io/paths.py) runs for every command: each names its files."""
    import importlib

    for name, (module, _) in COMMANDS.items():
        if name not in ("config", "models"):   # these write nothing
            assert hasattr(importlib.import_module(module), "paths"), f"hpcfault {name} declares no paths(args)"
