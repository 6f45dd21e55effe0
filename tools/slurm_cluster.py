#!/usr/bin/env python3
"""Start and stop a real single-node Slurm cluster on this machine, for tests and demos.

    python tools/slurm_cluster.py start --dir /tmp/hpcfault-slurm   # prints `export ...` lines
    eval "$(python tools/slurm_cluster.py env --dir /tmp/hpcfault-slurm)"
    sbatch ...; squeue; sacct
    python tools/slurm_cluster.py stop --dir /tmp/hpcfault-slurm

Everything lives under DIR: its own munge key and socket, a MariaDB data directory, slurmdbd,
slurmctld and slurmd with a generated slurm.conf / slurmdbd.conf, and fresh state on every start
(job ids start again, at a random FirstJobId). Ports are picked free at start, so several clusters
(or a stale one) do not collide. The daemons come from Debian's packages (tools/install_system_deps.sh) and are
started by hand as root; `stop` ends each one by the PID it recorded, after cancelling the jobs
and killing any slurmstepd left behind. Importable: start_cluster(), stop_cluster(), cluster_env().
The generated files and paths are in tools/slurm_conf.py.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))   # tools/ is not a package
from slurm_conf import (CLUSTER_NAME, NODE, NODE_CPUS, Layout,  # noqa: E402,F401 - NODE_CPUS for the tests
                        slurm_conf_text, slurmdbd_conf_text)

DAEMONS = ("munged", "mariadbd", "mariadb-install-db", "slurmdbd", "slurmctld", "slurmd",  # and clients:
           "sinfo", "sacctmgr", "scancel", "squeue")
STOP_ORDER = ("slurmd", "slurmctld", "slurmdbd", "mariadbd", "munged")


class ClusterError(RuntimeError):
    """The cluster could not be started or stopped; the message says which daemon and its log."""


@dataclass(frozen=True)
class ClusterInfo:
    dir: str
    slurm_conf: str
    munge_socket: str
    ports: dict
    pids: dict
    first_job_id: int
    start_seconds: float
    stage_seconds: dict  # how long each daemon took to come up

    def env(self) -> dict[str, str]:
        """Variables a client (sbatch, sinfo, sacct, submitit) needs to talk to this cluster."""
        return {"SLURM_CONF": self.slurm_conf}


def missing_commands() -> list[str]:
    """Daemons and tools this cluster needs that are not installed (see tools/install_system_deps.sh)."""
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/usr/bin:/sbin"
    return [c for c in DAEMONS if shutil.which(c, path=path) is None]


def _which(cmd: str) -> str:
    found = shutil.which(cmd, path=os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/usr/bin:/sbin")
    if found is None:
        raise ClusterError(f"{cmd} is not installed (run tools/install_system_deps.sh as root)")
    return found


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def _mem_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024 * 9 // 10
    return 1024


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is as good as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _tail(path: Path, n: int = 15) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()[-n:]
    except OSError:
        return f"(no log at {path})"
    return "\n".join(lines)


def _wait(what: str, ready, timeout: float, log: Path | None = None, pid_of=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if pid_of is not None and pid_of() is False:
            break
        time.sleep(0.05)
    raise ClusterError(f"{what} did not come up within {timeout:.0f} s; "
                       f"last lines of {log}:\n{_tail(log) if log else ''}")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _run(cmd: list[str], env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise ClusterError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def _start_munge(lay: Layout) -> None:
    key = lay.munge_dir / "munge.key"
    if not key.exists():  # the cluster's own key, kept across restarts
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(1024))
    lay.munge_socket.parent.mkdir(mode=0o755, exist_ok=True)
    os.chmod(lay.munge_socket.parent, 0o755)  # clients must reach the socket: world-executable
    _run([_which("munged"), f"--socket={lay.munge_socket}", f"--key-file={key}",
          f"--pid-file={lay.pidfile('munged')}", f"--log-file={lay.logfile('munged')}",
          f"--seed-file={lay.munge_dir / 'munged.seed'}", "--num-threads=2", "--force"])
    _wait("munged", lambda: lay.munge_socket.exists() and _read_pid(lay.pidfile("munged")) is not None, 10,
          lay.logfile("munged"))


def _start_mariadb(lay: Layout, port: int, db_pass: str) -> None:
    data = lay.mysql_data
    _run([_which("mariadb-install-db"), "--no-defaults", f"--datadir={data}", "--user=root",
          "--auth-root-authentication-method=socket", "--skip-test-db", "--skip-name-resolve"], timeout=120)
    init = lay.etc / "mariadb-init.sql"
    init.write_text(f"CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '{db_pass}';\n"
                    "GRANT ALL ON *.* TO 'slurm'@'127.0.0.1';\n")
    os.chmod(init, 0o600)
    log = lay.logfile("mariadbd")
    cmd = [_which("mariadbd"), "--no-defaults", f"--datadir={data}", "--user=root",
           f"--socket={lay.run / 'mysqld.sock'}", f"--port={port}", "--bind-address=127.0.0.1",
           f"--pid-file={lay.pidfile('mariadbd')}", f"--log-error={log}", f"--init-file={init}",
           "--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=32M",
           "--innodb-log-file-size=16M", "--innodb-flush-log-at-trx-commit=0", "--skip-external-locking"]
    with open(log, "ab") as out:  # mariadbd does not fork: detach it into its own session
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    lay.pidfile("mariadbd").write_text(f"{proc.pid}\n")
    _wait("mariadbd", lambda: _port_open(port), 60, log, pid_of=lambda: proc.poll() is None)


def _start_slurm_daemon(name: str, args: list[str], lay: Layout, env: dict) -> None:
    _run([_which(name), *args], env=env)
    _wait(name, lambda: _alive(_read_pid(lay.pidfile(name))), 20, lay.logfile(name))


def _node_state(env: dict) -> str:
    proc = subprocess.run([_which("sinfo"), "-h", "-N", "-o", "%T"], capture_output=True, text=True, env=env,
                          timeout=20)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def start_cluster(root: str | os.PathLike, *, timeout: float = 60) -> ClusterInfo:
    """Start munge, MariaDB, slurmdbd, slurmctld and slurmd under ROOT; return once the node is idle."""
    if os.geteuid() != 0:
        raise ClusterError("starting the Slurm daemons needs root (got uid %d); run as root" % os.geteuid())
    missing = missing_commands()
    if missing:
        raise ClusterError(f"missing {', '.join(missing)}; run tools/install_system_deps.sh as root")
    lay = Layout(Path(root).resolve())
    if lay.info.exists():
        stop_cluster(lay.root)  # a previous cluster in the same directory: end it first
    t0 = time.monotonic()
    for d in (lay.state, lay.run, lay.slurmd_spool):
        shutil.rmtree(d, ignore_errors=True)
    for d in (lay.root, lay.etc, lay.state, lay.log, lay.run, lay.munge_dir, lay.state / "slurmctld",
              lay.slurmd_spool):
        d.mkdir(parents=True, exist_ok=True)
    os.chmod(lay.munge_dir, 0o755)
    names = ("slurmctld", "slurmd", "slurmdbd", "mariadb")
    ports = dict(zip(names, _free_ports(len(names))))
    db_pass = secrets.token_hex(12)
    control_host = socket.gethostname().split(".")[0]
    first_job_id = 1000 * secrets.randbelow(1000) + 1000
    lay.slurm_conf.write_text(slurm_conf_text(lay, ports, control_host, _mem_mb(), first_job_id))
    (lay.etc / "plugstack.conf").write_text("")
    dbd_conf = lay.etc / "slurmdbd.conf"
    dbd_conf.write_text(slurmdbd_conf_text(lay, ports, db_pass))
    os.chmod(dbd_conf, 0o600)  # slurmdbd refuses a config others can read
    env = {**os.environ, "SLURM_CONF": str(lay.slurm_conf)}
    info = ClusterInfo(str(lay.root), str(lay.slurm_conf), str(lay.munge_socket), ports, {}, first_job_id, 0.0, {})
    lay.info.write_text(json.dumps(asdict(info), indent=1))  # so `stop` can clean up a half-started cluster
    stages: dict[str, float] = {}
    mark = time.monotonic()

    def stage(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        stages[name] = round(now - mark, 2)
        mark = now

    try:
        _start_munge(lay)
        stage("munged")
        _start_mariadb(lay, ports["mariadb"], db_pass)
        stage("mariadb")
        # slurmdbd reads slurmdbd.conf from the directory of SLURM_CONF
        _start_slurm_daemon("slurmdbd", [], lay, env)
        _wait("slurmdbd", lambda: _port_open(ports["slurmdbd"]), 60, lay.logfile("slurmdbd"))
        _run([_which("sacctmgr"), "-i", "add", "cluster", CLUSTER_NAME], env=env)
        stage("slurmdbd")
        _start_slurm_daemon("slurmctld", ["-f", str(lay.slurm_conf)], lay, env)
        _start_slurm_daemon("slurmd", ["-f", str(lay.slurm_conf), "-N", NODE], lay, env)
        _wait("the node (sinfo shows idle)", lambda: _node_state(env) == "idle", timeout, lay.logfile("slurmd"))
        stage("slurmctld+slurmd idle")
    except BaseException:
        stop_cluster(lay.root)
        raise
    pids = {d: _read_pid(lay.pidfile(d)) for d in STOP_ORDER}
    info = ClusterInfo(str(lay.root), str(lay.slurm_conf), str(lay.munge_socket), ports, pids, first_job_id,
                       round(time.monotonic() - t0, 2), stages)
    lay.info.write_text(json.dumps(asdict(info), indent=1))
    return info


def _ppids() -> dict[int, int]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                out[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    return out


def _stepd_trees(lay: Layout) -> list[int]:
    """slurmstepd processes of this cluster (files open under ROOT or its spool) and every process they started."""
    roots = (str(lay.root) + os.sep, str(lay.slurmd_spool) + os.sep)
    stepds = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if not (entry / "cmdline").read_bytes().startswith(b"slurmstepd"):
                continue
            links = [os.readlink(fd) for fd in (entry / "fd").iterdir()] + [os.readlink(entry / "cwd")]
        except OSError:
            continue
        if any((link + os.sep).startswith(roots) for link in links):
            stepds.append(int(entry.name))
    ppids, tree, todo = _ppids(), [], list(stepds)
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(child for child, parent in ppids.items() if parent == pid)
    return tree


def _wait_jobs_gone(env: dict, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = subprocess.run([_which("squeue"), "-h", "-o", "%i"], capture_output=True, text=True, env=env,
                              timeout=20)
        if proc.returncode != 0 or not proc.stdout.strip():
            return
        time.sleep(0.2)


def _terminate(pid: int, timeout: float = 10) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def stop_cluster(root: str | os.PathLike) -> list[str]:
    """Cancel all jobs, stop every daemon by its recorded PID, kill leftover slurmstepd. Returns what it stopped."""
    lay = Layout(Path(root).resolve())
    stopped: list[str] = []
    if lay.slurm_conf.exists() and _alive(_read_pid(lay.pidfile("slurmctld"))):
        env = {**os.environ, "SLURM_CONF": str(lay.slurm_conf)}
        subprocess.run([_which("scancel"), "--user=root", "--full"], capture_output=True, env=env, timeout=20)
        _wait_jobs_gone(env, 10)
    recorded = {}
    if lay.info.exists():
        try:
            recorded = json.loads(lay.info.read_text()).get("pids", {})
        except ValueError:
            recorded = {}
    for name in STOP_ORDER:
        pid = _read_pid(lay.pidfile(name)) or recorded.get(name)
        if pid and _alive(pid):
            _terminate(pid)
            stopped.append(f"{name}[{pid}]")
        if name == "slurmd":
            for spid in _stepd_trees(lay):  # steps slurmd left behind, and their tasks
                try:
                    os.kill(spid, signal.SIGKILL)
                    stopped.append(f"step process[{spid}]")
                except ProcessLookupError:
                    pass
    for d in (lay.run, lay.state, lay.slurmd_spool):
        shutil.rmtree(d, ignore_errors=True)
    lay.info.unlink(missing_ok=True)
    return stopped


def cluster_env(root: str | os.PathLike) -> dict[str, str]:
    """The client environment of a running cluster under ROOT (SLURM_CONF)."""
    lay = Layout(Path(root).resolve())
    if not lay.info.exists():
        raise ClusterError(f"no cluster is running under {lay.root}; start one with "
                           f"'python tools/slurm_cluster.py start --dir {lay.root}'")
    return {"SLURM_CONF": str(lay.slurm_conf)}


def _exports(env: dict[str, str]) -> str:
    return "".join(f"export {k}={v}\n" for k, v in env.items())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("start", "stop", "env", "status"))
    p.add_argument("--dir", required=True, help="directory that holds the cluster (created if absent)")
    p.add_argument("--timeout", type=float, default=60, help="seconds to wait for the node to be idle")
    args = p.parse_args(argv)
    try:
        if args.action == "start":
            info = start_cluster(args.dir, timeout=args.timeout)
            steps = ", ".join(f"{k} {v:.1f} s" for k, v in info.stage_seconds.items())
            print(f"# slurm cluster up in {info.start_seconds:.1f} s under {info.dir} ({steps}); "
                  f"slurmctld port {info.ports['slurmctld']}", file=sys.stderr)
            print(_exports(info.env()), end="")
        elif args.action == "stop":
            stopped = stop_cluster(args.dir)
            print(f"stopped: {' '.join(stopped) or 'nothing was running'}", file=sys.stderr)
        elif args.action == "env":
            print(_exports(cluster_env(args.dir)), end="")
        else:
            env = {**os.environ, **cluster_env(args.dir)}
            print(subprocess.run(["sinfo"], capture_output=True, text=True, env=env).stdout, end="")
    except ClusterError as exc:
        print(f"slurm_cluster: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
