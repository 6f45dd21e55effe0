"""The shared mechanisms behind every output (issue 15 items 1, 2, 6, 14): the one path rule, the
atomic writer (fsync, non-regular targets, stale temporaries) and the directory lock. Real files,
a real FIFO, real hard and symbolic links, real processes that die."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from hpcfault.errors import HpcfaultError
from hpcfault.io import atomic
from hpcfault.io.lock import DirLock, pid_alive, stale_reason
from hpcfault.io.paths import PathArg, arg, check_paths


def _out(path, label="-o", folder=False):
    return PathArg(label, str(path), folder)


def test_outputs_never_replace_special_files(tmp_path):
    fifo = tmp_path / "pipe.h5"
    os.mkfifo(fifo)
    with pytest.raises(HpcfaultError, match=r"-o names a FIFO \(got .*pipe.h5'\); writing there would replace it"):
        check_paths([], [_out(fifo)])
    with pytest.raises(HpcfaultError, match="names a character device"):
        check_paths([], [_out("/dev/null")])
    link = tmp_path / "null.h5"
    link.symlink_to("/dev/null")                       # through a symbolic link too
    with pytest.raises(HpcfaultError, match="names a character device"):
        check_paths([], [_out(link)])
    with pytest.raises(HpcfaultError, match=r"-o is a folder \(got"):
        check_paths([], [_out(tmp_path)])
    # and the writer itself refuses, before and after the work, for library callers
    with pytest.raises(HpcfaultError, match="names a FIFO"):
        atomic.write_text_atomic(fifo, "x")
    assert os.path.exists(fifo) and not os.path.isfile(fifo)


def test_an_output_may_not_be_an_input_through_any_link(tmp_path):
    src = tmp_path / "w.pt"
    src.write_bytes(b"weights")
    hard = tmp_path / "hard.pt"
    os.link(src, hard)
    soft = tmp_path / "soft.pt"
    soft.symlink_to(src)
    for out, how in ((src, "the same file as"), (hard, "a link to"), (soft, "a link to")):
        with pytest.raises(HpcfaultError, match=f"-o would overwrite the input SOURCE .*{how}"):
            check_paths([arg("SOURCE", src)], [_out(out)])
    with pytest.raises(HpcfaultError, match="--segy and OUT name the same file"):
        check_paths([], [_out(tmp_path / "x.h5", "OUT"), _out(tmp_path / "x.h5", "--segy")])
    with pytest.raises(HpcfaultError, match="--json and -o name the same file"):
        check_paths([], [_out(tmp_path / "a" / ".." / "r.json"), _out(tmp_path / "r.json", "--json")])
    check_paths([arg("SOURCE", src)], [_out(tmp_path / "new.pt"), None])   # fine


def test_outputs_must_be_creatable(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(HpcfaultError, match="lies under .*afile', which is a regular file, not a folder"):
        check_paths([], [_out(afile / "x.h5")])
    with pytest.raises(HpcfaultError, match="--workdir must be a folder"):
        check_paths([], [_out(afile, "--workdir", folder=True)])
    with pytest.raises(HpcfaultError, match="has a name of 303 bytes, longer than the 255"):
        check_paths([], [_out(tmp_path / ("a" * 300 + ".h5"))])
    with pytest.raises(HpcfaultError, match=r"cannot be created in '/proc'"):
        check_paths([], [_out("/proc/x.h5")])
    if os.geteuid() == 0:   # root may write almost anywhere, but not into /sys
        with pytest.raises(HpcfaultError, match=r"cannot be created in '/sys'"):
            check_paths([], [_out("/sys/x.h5")])
    deep = tmp_path / "new" / "deeper" / "o.h5"
    check_paths([], [_out(deep)])
    assert not (tmp_path / "new").exists() and not list(tmp_path.glob(".*tmp-*"))  # the probe leaves nothing


def test_a_folder_given_as_an_input_file_is_named(tmp_path):
    (tmp_path / "x.sgy").mkdir()
    with pytest.raises(HpcfaultError, match=r"SURVEY is a folder, not a file \(got"):
        check_paths([arg("SURVEY", tmp_path / "x.sgy")], [])


def test_atomic_writer_fsyncs_the_file_and_its_folder(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def record(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", record)
    atomic.write_text_atomic(tmp_path / "out.json", "{}")
    tmp = atomic.temp_name(tmp_path / "out.json")
    assert synced == [str(tmp), str(tmp_path)]   # the complete file, then the rename in its folder
    assert (tmp_path / "out.json").read_text() == "{}" and not tmp.exists()


def test_long_names_get_a_short_temporary_name(tmp_path):
    name = "b" * 250 + ".h5"
    atomic.write_text_atomic(tmp_path / name, "ok")
    assert (tmp_path / name).read_text() == "ok"
    assert len(atomic.temp_name(tmp_path / name).name) < 150
    assert atomic.temp_stem(name) != atomic.temp_stem("b" * 250 + ".h6")


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    """A killed writer leaves .NAME.tmp-PID; the next write of NAME removes it, not a live one's."""
    code = ("import os, signal, sys; p = sys.argv[1]; "
            "open(os.path.join(p, f'.out.h5.tmp-{os.getpid()}'), 'w').write('partial'); "
            "os.kill(os.getpid(), signal.SIGKILL)")
    dead = subprocess.run([sys.executable, "-c", code, str(tmp_path)])
    assert dead.returncode == -9
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / f".out.h5.tmp-{live.pid}").write_text("being written")
        (tmp_path / ".other.h5.tmp-999999999").write_text("another output's")
        assert len(list(tmp_path.glob(".out.h5.tmp-*"))) == 2
        atomic._swept.clear()   # a fresh process would list the folder again
        atomic.write_text_atomic(tmp_path / "out.h5", "complete")
        left = sorted(p.name for p in tmp_path.iterdir())
        assert left == [".other.h5.tmp-999999999", f".out.h5.tmp-{live.pid}", "out.h5"]
    finally:
        live.kill()
        live.wait()


def test_lock_refuses_other_hosts_and_takes_over_earlier_runs_of_the_same_job(tmp_path, monkeypatch):
    lock = DirLock(tmp_path / "lock", "hpcfault predict", "pass --wait")
    me = {"host": socket.gethostname(), "slurm_job": "77", "slurm_restart": 1}
    elsewhere = {"host": "node-b", "pid": 4321, "start": 1, "slurm_job": "55", "slurm_restart": 0,
                 "since": "2026-01-01 10:00:00"}
    assert stale_reason(elsewhere, me) is None
    assert "earlier run of Slurm job 77" in stale_reason({**elsewhere, "slurm_job": "77"}, me)
    (tmp_path / "lock").write_text(json.dumps(elsewhere))
    with pytest.raises(HpcfaultError, match=r"is in use by another hpcfault predict \(got host node-b, PID 4321, "
                                            r"Slurm job 55, since 2026-01-01 10:00:00\); pass --wait"):
        lock.acquire()
    monkeypatch.setenv("SLURM_JOB_ID", "55")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")   # this is the requeued run of job 55
    lock.acquire()
    assert json.loads((tmp_path / "lock").read_text())["pid"] == os.getpid()
    lock.release()
    assert not (tmp_path / "lock").exists()
    (tmp_path / "lock").write_text("not json")
    with pytest.raises(HpcfaultError, match="holds no readable lock record"):
        lock.acquire()


def test_pid_alive_sees_reused_pids_and_zombies():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child_pid = child.pid
    import time

    for _ in range(200):   # exited but not reaped: a zombie is not alive
        if not pid_alive(child_pid):
            break
        time.sleep(0.05)
    assert not pid_alive(child_pid)
    child.wait()
    assert not pid_alive(child_pid)
    from hpcfault.io.lock import process_start

    assert pid_alive(os.getpid(), process_start(os.getpid())[1])
    assert not pid_alive(os.getpid(), process_start(os.getpid())[1] + 1)   # same PID, another process
