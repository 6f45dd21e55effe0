"""The fault task: one fault probability per voxel (Fault-Net, the UNet3D baseline).

Its output keeps the dataset name `data`, so files and scripts made before tasks existed read the
same; it is trained with the loss named in the training config (MD by default, see
hpcfault/losses.py) on the `labels` of a volume (sparse labels add a `mask`).
"""
from __future__ import annotations

from hpcfault.tasks.spec import Output, Target, Task

FAULT = Task(
    name="fault",
    summary="fault probability (Fault-Net, UNet3D); sparse or dense fault labels",
    outputs=(Output("data", "probability", unit="", range=(0.0, 1.0), merge="mean", colormap="overlay",
                    description="fault probability in [0, 1]; 0 on dead traces"),),
    targets=(Target("data", "labels", "md"),),     # the loss is the training config's `loss`
    labels=("labels",),
    metrics="hpcfault.metrics:evaluate_files",
    default_model="faultnet-default.pt",
)
