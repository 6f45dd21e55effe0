"""Stop requests: SIGUSR1 / SIGTERM set a flag; the training loop checkpoints, requeues and exits.

Slurm sends SIGUSR1 before the time limit when the job asks for it (`#SBATCH --signal=USR1@120`)
and SIGTERM on preemption or `scancel`. Only SIGUSR1 requeues a plain sbatch job: a SIGTERM is a
plain `scancel` (which must end the job) or a preemption (which Slurm requeues itself when the site
preempts with PreemptMode=REQUEUE, the job having --requeue), so after its checkpoint the run ends. The handler only records the signal; the loop finishes the
step it is in, all ranks agree that one of them was signalled, rank 0 writes a checkpoint, and then:

- in a plain sbatch job (SLURM_JOB_ID set, not submitit), on SIGUSR1: rank 0 runs `scontrol requeue
  $SLURM_JOB_ID` and every rank exits 0; the requeued job runs the same command, which resumes the run directory;
- under submitit (SUBMITIT_EXECUTOR set): the signal handler submitit had installed is called, so
  submitit's own checkpoint protocol requeues the job (its preemption signal, USR2 by default, is
  caught here too, so the training state is saved first);
- otherwise (a terminal, torchrun): the process exits 0 after the checkpoint; rerunning resumes.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
from typing import Any, Callable

log = logging.getLogger(__name__)


def under_submitit(env: dict | None = None) -> bool:
    return bool((os.environ if env is None else env).get("SUBMITIT_EXECUTOR"))


def stop_signals(env: dict | None = None) -> list[int]:
    env = os.environ if env is None else env
    sigs = [signal.SIGUSR1, signal.SIGTERM]
    if under_submitit(env):
        name = "SIG" + env.get("SUBMITIT_PREEMPT_SIGNAL", "USR2").upper().removeprefix("SIG")
        extra = getattr(signal, name, None)
        if extra is not None and extra not in sigs:
            sigs.append(extra)
    return sigs


class StopFlag:
    """Installs handlers that record the last stop signal; `restore()` puts the old ones back."""

    def __init__(self, signals: list[int] | None = None) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}
        for s in stop_signals() if signals is None else signals:
            try:
                self._previous[s] = signal.signal(s, self._handle)
            except ValueError:  # not the main thread: signals cannot be caught here
                log.warning("cannot install a handler for %s outside the main thread", signal.Signals(s).name)

    def _handle(self, signum: int, frame: Any) -> None:
        self.signum = signum
        log.warning("received %s: will checkpoint after this step and stop", signal.Signals(signum).name)

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def previous_handler(self, signum: int) -> Callable | None:
        h = self._previous.get(signum)
        return h if callable(h) else None

    def restore(self) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
        self._previous.clear()


def requeue_command(env: dict | None = None, signum: int | None = signal.SIGUSR1) -> list[str] | None:
    """`scontrol requeue JOBID` for a plain sbatch job stopped by SIGUSR1 (the time limit), None
    otherwise (submitit requeues itself; SIGTERM is scancel or a preemption Slurm requeues itself)."""
    env = os.environ if env is None else env
    job = env.get("SLURM_JOB_ID")
    if not job or under_submitit(env) or signum != signal.SIGUSR1:
        return None
    return ["scontrol", "requeue", job]


def after_checkpoint(flag: StopFlag, is_main: bool) -> str:
    """Hand the stop over to the scheduler once the checkpoint is written; returns what was done."""
    signum = flag.signum
    handler = flag.previous_handler(signum) if signum is not None else None
    flag.restore()
    if under_submitit():
        if handler is not None:
            handler(signum, None)  # submitit: checkpoint() + requeue on rank 0 (it may exit the process)
            return "submitit"
        return "stopped"
    cmd = requeue_command(signum=signum)
    if cmd and is_main:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            log.error("%s failed (%d): %s", " ".join(cmd), proc.returncode, proc.stderr.strip())
            return "requeue-failed"
        log.info("requeued Slurm job %s", cmd[-1])
        return "requeued"
    return "requeued" if cmd else ("stopped (SIGTERM: not requeued)" if signum == signal.SIGTERM else "stopped")
