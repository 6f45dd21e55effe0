"""Tasks by name: an explicit table, like the model registry (see spec.py for what a task holds).

    from hpcfault.tasks import task_spec
    task = task_spec("fault")        # outputs, merge rules, training targets, metrics

Checkpoints name their task; a checkpoint without one is a fault checkpoint. Importing this
package is cheap (no torch).
"""
from __future__ import annotations

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


def resolve(ref: str):
    """The function named "module:function" (a task's metrics or transform)."""
    import importlib

    module, _, name = str(ref).partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise HpcfaultError(f"cannot load {ref!r} ({exc}); a task names functions as 'module:function'") from None


__all__ = ["DEFAULT_TASK", "TASKS", "Output", "Target", "Task", "resolve", "task_spec"]
