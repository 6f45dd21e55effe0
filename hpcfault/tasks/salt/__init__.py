"""The salt task: salt probability on seismic sections (TGS Salt Identification style).

Models are 2D section models (U-Net with a ResNet-18/34 encoder, hpcfault/models/unet_resnet.py);
on a survey the engine applies them to every inline and every crossline section and averages the
two (`sections`). Training reads the `salt` label (0/1) of synthetic salt surveys (`hpcfault synth
--family salt`), of volume files, or of TGS-layout tile folders (hpcfault/io/tgs.py). The loss
is the training config's (`loss`, or a schedule of `phases`, e.g. BCE then Dice then Lovasz).

Scores (hpcfault/tasks/salt/metrics.py): pixel IoU, Dice, precision, recall, and the TGS metric
over 101-pixel tiles; `evaluate` scores a prediction volume against a labelled survey, or tile
predictions (a submission CSV or a folder of mask PNGs) against a TGS-layout folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from hpcfault.tasks.spec import Output, Target, Task

# the embedded default salt model (trained here on synthetic salt surveys; its record beside it)
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "assets" / "salt-default.pt"

SALT = Task(
    name="salt",
    summary="salt probability on sections (U-Net-ResNet-18/34); synthetic salt surveys or TGS tiles",
    outputs=(Output("salt", "probability", range=(0.0, 1.0), merge="mean", colormap="overlay",
                    description="salt probability in [0, 1]; inline and crossline sections averaged"),),
    targets=(Target("salt", "salt", "bce"),),      # the loss of the first target is the config's `loss`/`phases`
    labels=("salt",),
    metrics="hpcfault.tasks.salt:evaluate",
    sections=("inline", "xline"),
    default_model=DEFAULT_MODEL.name,              # predict --task salt without -m
)



def evaluate(pred_path: str, labels_path: str, **kw: Any) -> dict:
    """See hpcfault/tasks/salt/scoring.py (imported here on first use: importing tasks stays light)."""
    from hpcfault.tasks.salt.scoring import evaluate as run

    return run(pred_path, labels_path, **kw)


__all__ = ["DEFAULT_MODEL", "SALT", "evaluate"]
