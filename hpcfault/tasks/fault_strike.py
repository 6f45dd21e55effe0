"""The worked example of a task with two outputs: fault probability and fault strike.

How to add a task (this file is the whole of it for a task whose labels the synthetic generator
already makes):

1. describe the outputs: a name (the dataset in the output file), a kind, unit, range, merge rule
   and colormap; an angle says which output weighs its blend (`confidence`) and whether it is an
   azimuth that turns with the survey (augmentation rotates such labels);
2. describe the training targets: which label trains which output, with which loss, weight and
   mask (strike exists only on fault voxels: mask="labels");
3. name the labels a training volume holds and the function behind `hpcfault evaluate`;
4. add the value to TASKS in hpcfault/tasks/__init__.py.

A model for it emits 1 + 2 channels (a sigmoid probability, then cos 2a, sin 2a of the strike a),
e.g. `unet3d` built with `task: fault-strike` in the training config. predict, train and evaluate
then need no change.
"""
from __future__ import annotations

from typing import Any

from hpcfault.tasks.spec import Output, Target, Task

FAULT_STRIKE = Task(
    name="fault-strike",
    summary="fault probability and strike (degrees, modulo 180) from one network; a worked example",
    outputs=(Output("fault", "probability", range=(0.0, 1.0), merge="mean", colormap="overlay",
                    description="fault probability in [0, 1]"),
             Output("fault_strike", "angle", unit="degrees", range=(0.0, 180.0), merge="angle", confidence="fault",
                    azimuth=True, colormap="twilight",
                    description="strike: azimuth of the fault trace from the inline-number axis towards the "
                                "crossline-number axis, modulo 180; meaningful where fault is high")),
    targets=(Target("fault", "labels", "md"),         # the loss of the first target is the config's `loss`
             Target("fault_strike", "fault_strike", "angle-l1", weight=1.0, mask="labels")),
    labels=("labels", "fault_strike"),
    angle_labels=("fault_strike",),
    metrics="hpcfault.tasks.fault_strike:evaluate",
)


def evaluate(pred_path: str, labels_path: str, **kw: Any) -> dict:
    """Fault scores of `fault` (as the fault task) and the strike's mean absolute error in degrees
    (modulo 180) on the true fault voxels, in inline slabs."""
    from hpcfault.metrics import angle_error_files, evaluate_files

    rep = evaluate_files(pred_path, labels_path, dataset="fault", **kw)
    strike = angle_error_files(pred_path, labels_path, "fault_strike", "fault_strike", 180.0, on="labels",
                               slab=kw.get("slab"), comm=kw.get("comm"))
    rep["fault_strike"] = strike
    share = strike["within_5_10_20_deg"]
    rep["rows"] = [("strike error", f"{strike['mean_abs_error_deg']:.2f} deg mean on {strike['voxels']} true "
                                    f"fault voxels; within 5/10/20 deg: {share[0]:.2f}/{share[1]:.2f}/{share[2]:.2f}")]
    return rep
