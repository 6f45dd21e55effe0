"""Tasks by name: an explicit table, like the model registry (see spec.py for what a task holds).

    from hpcfault.tasks import task_spec
    task = task_spec("fault")        # outputs, merge rules, training targets, metrics

Checkpoints name their task; a checkpoint without one is a fault checkpoint. Importing this
package is cheap (no torch).
"""
from __future__ import annotations

import functools
from pathlib import Path

from hpcfault.errors import HpcfaultError
from hpcfault.tasks.fault import FAULT
from hpcfault.tasks.fault_strike import FAULT_STRIKE
from hpcfault.tasks.multitask import MULTITASK, MULTITASK_REFINE
from hpcfault.tasks.salt import SALT
from hpcfault.tasks.spec import Output, Target, Task

DEFAULT_TASK = "fault"
TASKS: dict[str, Task] = {t.name: t for t in (FAULT, FAULT_STRIKE, SALT, MULTITASK, MULTITASK_REFINE)}


def task_spec(name: str | None) -> Task:
    """The task `name` (None: the default, fault), or a one-line error listing the valid ones."""
    key = DEFAULT_TASK if name is None else str(name)
    if key not in TASKS:
        raise HpcfaultError(f"unknown task (got {name!r}); valid tasks: {', '.join(TASKS)}")
    return TASKS[key]


def cube_transform(task: Task, upstream: str | None = None):
    """The callable(arrays, rng) that finishes each training and validation cube of `task`: its
    `transform`, or with an `upstream` checkpoint (the training config's `refine_from`) its
    `model_transform` bound to that model (eval, normalization folded, CPU), read once per process
    while the file is unchanged, so the sampler and validation share it. None when the task has neither."""
    if upstream:
        if not task.model_transform:
            raise HpcfaultError(f"task {task.name!r} does not train on another model's outputs (got refine_from "
                                f"{upstream!r}); remove refine_from, or use task multitask-refine")
        stat = Path(upstream).stat()
        kind, model = _upstream_model(str(Path(upstream).resolve()), stat.st_mtime_ns, stat.st_size)
        if kind != task.upstream:
            raise HpcfaultError(f"refine_from must be a {task.upstream} checkpoint (got {upstream!r}, a "
                                f"{kind} checkpoint); train one with task: {task.upstream}")
        return functools.partial(resolve(task.model_transform), model=model)
    return resolve(task.transform) if task.transform else None


@functools.lru_cache(maxsize=2)
def _upstream_model(path: str, mtime_ns: int, size: int):
    """(task, model) of the checkpoint at `path`, read once per process while the file's
    modification time and size stay the same (the sampler and validation share it)."""
    from hpcfault.models import model_from_checkpoint, prepare_for_inference, read_checkpoint

    payload = read_checkpoint(path)
    return payload.get("task") or "fault", prepare_for_inference(model_from_checkpoint(payload, path)).eval()


def resolve(ref: str):
    """The function named "module:function" (a task's metrics or transform)."""
    import importlib

    module, _, name = str(ref).partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise HpcfaultError(f"cannot load {ref!r} ({exc}); a task names functions as 'module:function'") from None


__all__ = ["DEFAULT_TASK", "TASKS", "Output", "Target", "Task", "resolve", "task_spec"]
