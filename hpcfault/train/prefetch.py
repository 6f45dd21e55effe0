"""Training cubes drawn ahead by worker processes, in the stream's own order.

CubeSampler.draw(g) is a pure function of (seed, g), so the cubes of the next steps can be drawn in
parallel by `workers` processes while the GPU runs the current step: the batches are exactly those
the main process would draw (same cubes, same order, same augmentation), and the stream position
the checkpoint stores counts only the cubes handed out, so a resume continues where the training
was, whatever was drawn ahead. Workers are forked (they inherit the sampler and its open files),
use no torch and no GPU, and ignore the job signals (SIGUSR1/USR2/TERM/INT), which are the main
process's to act on.
"""
from __future__ import annotations

import collections
import multiprocessing
import signal
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import numpy as np

_SAMPLER: Any = None   # in each worker: the sampler, inherited through fork


def _init_worker(sampler: Any) -> None:
    global _SAMPLER
    _SAMPLER = sampler
    for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)


def _draw(g: int) -> dict:
    return _SAMPLER.draw(g)


class Prefetcher:
    """The sampler's cubes from `workers` processes, `ahead` cubes in flight. Positions and global
    indices are the sampler's; `take(n)` returns the next n cubes and advances the sampler."""

    def __init__(self, sampler: Any, workers: int, ahead: int) -> None:
        self.sampler = sampler
        self.ahead = max(1, ahead)
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                         initializer=_init_worker, initargs=(sampler,))
        self._queue: collections.deque[tuple[int, Future]] = collections.deque()
        self._next = sampler.position   # the next position to submit

    def _fill(self) -> None:
        while len(self._queue) < self.ahead:
            g = self.sampler.global_index(self._next)
            self._queue.append((self._next, self._pool.submit(_draw, g)))
            self._next += 1

    def take(self, n: int) -> dict:
        self._fill()
        items = []
        for _ in range(n):
            position, fut = self._queue.popleft()
            assert position == self.sampler.position, "prefetch queue out of step with the sampler"
            items.append(fut.result())
            self.sampler.position += 1
            self._fill()
        return {k: np.stack([it[k] for it in items]) for k in items[0]}

    def reset(self) -> None:
        """After the sampler's position was set (resume): drop what was drawn ahead."""
        for _, fut in self._queue:
            fut.cancel()
        self._queue.clear()
        self._next = self.sampler.position

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
