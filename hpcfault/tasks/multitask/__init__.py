"""Multi-task interpretation (Gao 2024): a denoised higher-resolution image (DHR), relative
geologic time (RGT), fault probability, dip and strike from one network (MTI), and a second
network that refines those outputs, applied several times (MTR).

Outputs, in model-channel order (hpcfault/models/mtl.py emits them so):

    fault          probability in [0, 1]                                merge mean
    fault_dip      degrees from horizontal, 0-90, on faults             merge angle (weighed by fault)
    fault_strike   degrees, azimuth modulo 180, on faults               merge angle (weighed by fault)
    rgt            relative geologic time, in [0, 1] within a block     merge affine (per-block fit)
    dhr            the clean image at 1.25 x the input's band, in the   merge mean
                   input's normalized amplitude units

Dip is an angle of period 360 although it only spans 0-90: its two channels are the unit vector at
the dip (a quarter circle, far from any wrap; doubled angles, period 180, would put vertical on top
of horizontal). As an angle it merges as vectors and decodes independently of the vector's length,
which matters because the network multiplies dip and strike by the fault probability (reference
design); a value output would come out scaled by the probability.

Training targets (the reference's losses and weights): fault MD (the config's `loss`), dip and
strike 10 x the L1 distance of their unit vectors on fault voxels (`angle-l1`), RGT 5 x (1 - SSIM
+ L1) (`ssim-l1`, 3D SSIM), DHR 10 x MSE. Each cube's RGT is scaled to [0, 1] over the cube and the
DHR target is scaled like the cube's input (data.py), so a block's RGT is defined up to the affine
map the engine fits when it merges blocks.

`multitask-refine` (MTR) takes the MTI model's raw channels as its input channels (named
`mti.<channel>`), so the engine can chain y = mti(x); y = mtr(y) k times; then decode. It is
trained on corrupted labels made by `data.corrupt` (faults removed and added, RGT and DHR noise).
Evaluation: metrics.py (`hpcfault evaluate`); horizons from RGT: horizons.py (`hpcfault horizons`).
"""
from __future__ import annotations

from dataclasses import replace

from hpcfault.tasks.spec import Output, Target, Task

_OUTPUTS = (
    Output("fault", "probability", range=(0.0, 1.0), merge="mean", colormap="overlay",
           description="fault probability in [0, 1]"),
    Output("fault_dip", "angle", unit="degrees", range=(0.0, 360.0), merge="angle", confidence="fault",
           colormap="viridis", description="fault dip from horizontal (0-90); meaningful where fault is high"),
    Output("fault_strike", "angle", unit="degrees", range=(0.0, 180.0), merge="angle", confidence="fault",
           azimuth=True, colormap="twilight",
           description="fault strike: azimuth of the fault trace from the inline-number axis towards the "
                       "crossline-number axis, modulo 180; meaningful where fault is high"),
    Output("rgt", "value", range=(0.0, 1.0), merge="affine", colormap="turbo", rises_in_time=True,
           description="relative geologic time, increasing with depth, in [0, 1] after the merge"),
    Output("dhr", "value", merge="mean", colormap="gray",
           description="denoised higher-resolution image, in the input's normalized amplitude units"),
)
_TARGETS = (
    Target("fault", "labels", "md"),                  # the loss of the first target is the config's `loss`
    Target("fault_dip", "fault_dip", "angle-l1", weight=10.0, mask="labels"),
    Target("fault_strike", "fault_strike", "angle-l1", weight=10.0, mask="labels"),
    Target("rgt", "rgt", "ssim-l1", weight=5.0),
    Target("dhr", "dhr", "mse", weight=10.0),
)
_LABELS = ("labels", "fault_dip", "fault_strike", "rgt", "dhr")

MULTITASK = Task(
    name="multitask",
    summary="DHR image, RGT, fault probability, dip and strike from one network (MTI, Gao 2024)",
    outputs=_OUTPUTS,
    targets=_TARGETS,
    labels=_LABELS,
    metrics="hpcfault.tasks.multitask.metrics:evaluate",
    angle_labels=("fault_strike",),
    scaled_labels=("dhr",),
    smooth_labels=("rgt", "dhr"),
    transform="hpcfault.tasks.multitask.data:prepare",
    cube_blocks=True,
    # small, CPU-trained (docs/multitask.md#the-embedded-models); the MTR trained on its outputs
    # (assets/multitask-refine-cpu.pt) is only level with it after one iteration, so it is not applied by default
    default_model="multitask-default.pt",
)

# the same outputs, targets and merge rules; fed the MTI's output channels and trained on
# deliberately corrupted labels (data.corrupt) or, with `refine_from: MTI.pt` in the training
# config, on that MTI's own outputs for each cube (data.from_model); no embedded default of its own
MULTITASK_REFINE = replace(
    MULTITASK,
    name="multitask-refine",
    summary="refines multitask outputs (MTR, Gao 2024): its input is the MTI model's output channels",
    inputs=tuple(f"mti.{c}" for c in MULTITASK.channel_names()),
    labels=(*_LABELS, "fault_ids"),
    transform="hpcfault.tasks.multitask.data:corrupt",
    model_transform="hpcfault.tasks.multitask.data:from_model",
    upstream="multitask",
    default_model="",
)
