"""What a task is: frozen values that the stages read (no behaviour beyond small pure helpers).

A task says what its models take (input channels) and give (named outputs, each with a kind, unit,
range and merge rule), how each output is trained (loss, weight, mask) and how predictions are
scored. The predict, train and evaluate stages read these values; they never branch on a task's
name. A model for a task emits one channel per probability or value output (probabilities already
through a sigmoid) and two per angle output (the doubled-angle unit vector cos 2a, sin 2a for
period 180, or cos a, sin a for period 360; `decode` turns them into degrees).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KINDS = ("probability", "value", "angle", "label")
MERGES = ("mean", "angle", "affine", "owner")
VALUE_LOSSES = ("l1", "mse", "ssim-l1", "ssim-l1-grad", "angle-l1")     # a target's own loss (not the config's)
LOSSES = ("md", "dice", "bce", "lovasz") + VALUE_LOSSES


@dataclass(frozen=True)
class Output:
    """One named output of a task: a dataset in the output volume file."""

    name: str                                # dataset name ("data" for the fault task, as always)
    kind: str                                # probability | value | angle | label
    unit: str = ""
    range: tuple[float, float] | None = None   # valid values; probabilities (0, 1), angles (0, period)
    merge: str = "mean"                      # mean | angle (doubled-angle vectors) | affine (per-block fit) | owner
    confidence: str | None = None            # angle: the output whose values weigh the blend
    azimuth: bool = False                    # angle measured in the (inline, xline) plane: rotates with it
    colormap: str = "gray"                   # for pictures: a matplotlib name, or "overlay" (probability on seismic)
    description: str = ""
    rises_in_time: bool = False              # never decreases down a trace (RGT): the merge keeps the running maximum

    def __post_init__(self) -> None:
        if self.kind not in KINDS or self.merge not in MERGES:
            raise ValueError(f"output {self.name}: kind {self.kind!r} / merge {self.merge!r} not in {KINDS} / {MERGES}")
        if self.kind == "angle" and (self.range is None or self.range[0] != 0 or self.range[1] not in (180.0, 360.0)):
            raise ValueError(f"output {self.name}: an angle needs range (0, 180) or (0, 360), got {self.range}")
        if (self.merge == "angle") != (self.kind == "angle"):
            raise ValueError(f"output {self.name}: angles merge with 'angle' and only angles do")

    @property
    def channels(self) -> int:
        """Model channels behind this output: 2 for an angle (a unit vector), else 1."""
        return 2 if self.kind == "angle" else 1

    @property
    def activations(self) -> tuple[str, ...]:
        """The final activation of each model channel ("sigmoid" or "none")."""
        return ("sigmoid",) if self.kind == "probability" else ("none",) * self.channels

    @property
    def period(self) -> float:
        return float(self.range[1]) if self.kind == "angle" and self.range else 0.0

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "unit": self.unit, "range": list(self.range) if self.range else None,
                "merge": self.merge, "confidence": self.confidence, "colormap": self.colormap,
                "description": self.description, "rises_in_time": self.rises_in_time}


@dataclass(frozen=True)
class Target:
    """One training loss: output `output` against label `label`, weighed by `weight`, on the voxels
    where `mask` (a label name, e.g. the fault labels for fault angles) is non-zero, and always
    within the label mask of sparse labels."""

    output: str
    label: str
    loss: str
    weight: float = 1.0
    mask: str | None = None
    options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"target {self.output}: loss {self.loss!r} not in {LOSSES}")


@dataclass(frozen=True)
class Task:
    name: str
    summary: str
    outputs: tuple[Output, ...]
    targets: tuple[Target, ...] = ()
    inputs: tuple[str, ...] = ("seismic",)            # model input channels
    labels: tuple[str, ...] = ("labels",)             # datasets a labelled volume holds for this task
    metrics: str = "hpcfault.metrics:evaluate_files"  # module:function behind `hpcfault evaluate`
    sections: tuple[str, ...] = ("inline", "xline")   # default directions for 2D section models
    angle_labels: tuple[str, ...] = field(default=())  # label names holding azimuths (rotate with augmentation)
    default_model: str = ""                           # embedded checkpoint in hpcfault/assets/ ("" = none)
    default_refine: tuple[str, ...] = ()              # embedded refinement checkpoints applied by default
    scaled_labels: tuple[str, ...] = ()     # labels in the input's amplitude units: scaled like the seismic
    smooth_labels: tuple[str, ...] = ()     # continuous labels: interpolated linearly by augmentation
    transform: str | None = None            # "module:function"(arrays, rng) -> arrays, on every training and
                                            # validation cube after augmentation (e.g. building the inputs)
    model_transform: str | None = None      # "module:function"(arrays, rng, model): the transform instead when the
                                            # training config names an upstream model (`refine_from`) ...
    upstream: str | None = None             # ... a checkpoint of this task, whose outputs are this task's inputs
    cube_blocks: bool = False               # outputs are defined per training cube (e.g. RGT scaled per cube):
                                            # predict caps its block edge at the checkpoint's training cube

    def __post_init__(self) -> None:
        names = [o.name for o in self.outputs]
        if len(set(names)) != len(names):
            raise ValueError(f"task {self.name}: output names repeat: {names}")
        for o in self.outputs:
            if o.confidence is not None and o.confidence not in names:
                raise ValueError(f"task {self.name}: output {o.name} is weighed by unknown output {o.confidence}")
        for t in self.targets:
            if t.output not in names:
                raise ValueError(f"task {self.name}: target for unknown output {t.output}")
        for lab in (*self.scaled_labels, *self.smooth_labels, *self.angle_labels):
            if lab not in self.labels:
                raise ValueError(f"task {self.name}: {lab} is not one of its labels {self.labels}")

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.outputs)

    def output(self, name: str) -> Output:
        for o in self.outputs:
            if o.name == name:
                return o
        raise KeyError(name)

    @property
    def channels(self) -> int:
        return sum(o.channels for o in self.outputs)

    @property
    def activations(self) -> tuple[str, ...]:
        return tuple(a for o in self.outputs for a in o.activations)

    def channel_names(self) -> tuple[str, ...]:
        """One name per model channel: the output's name, or NAME.cos / NAME.sin for an angle."""
        return tuple(n for o in self.outputs for n in ((o.name,) if o.channels == 1 else (f"{o.name}.cos", f"{o.name}.sin")))

    def channel_slices(self) -> dict[str, slice]:
        """Model channels of each output."""
        out, k = {}, 0
        for o in self.outputs:
            out[o.name] = slice(k, k + o.channels)
            k += o.channels
        return out
