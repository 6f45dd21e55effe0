"""What `hpcfault models` lists, without importing torch: each registry model's one-line summary,
parameter count and convolution GFLOP per 128^3 block (a 2D section model: 128 sections of 128^2).

The figures are those `hpcfault models --count` measures on the built models (parameters counted,
FLOP with torch's FlopCounterMode on the meta device); tests/test_models.py checks that every
registry model has a row here and that its figures match. A new model adds a row to both tables.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelFacts:
    summary: str
    params: int
    gflop_128: float          # convolution FLOP (2 per multiply-add) of one forward pass on 128^3, / 1e9
    tasks: tuple[str, ...] | None = None   # the tasks it serves (registry ModelSpec.tasks); None = any
    dims: int = 3             # 3: volume model; 2: section model (as registry.ModelSpec.dims)
    overlap: int | None = None   # predict's default block overlap (measured: tools/bench_seams.py); None = edge / 8


def model_dims(name: str) -> int:
    """2 for a section model, 3 for a volume model (without importing torch); one-line error for
    an unknown name."""
    from hpcfault.errors import HpcfaultError

    if name not in CATALOG:
        raise HpcfaultError(f"unknown model (got {name!r}); valid models: {', '.join(CATALOG)}")
    return CATALOG[name].dims


CATALOG: dict[str, ModelFacts] = {
    # Fault-Net reaches ~170 voxels: at 128^3 blocks no overlap keeps tiled = whole within 0.5 % of
    # voxels flipped at 0.5 (1.7 % at the largest, 63); 48 does from 256^3 blocks on (0.05 %;
    # docs/performance.md, tools/bench_seams.py) and leaves 160 of 256 voxels owned per block.
    "faultnet": ModelFacts("Fault-Net (HRNet branches + MCF fusion), as published", 421_597, 31.931, ("fault",),
                           overlap=48),
    "faultnet-nomcf": ModelFacts("Fault-Net ablation: MCF blocks -> 1x1x1 conv", 386_097, 24.628, ("fault",),
                                 overlap=48),
    "unet3d": ModelFacts("UNet3D of FaultSeg3D (4 levels, 16-128 filters); any 3D task", 1_459_585, 271.858),
    "unet2d": ModelFacts("plain 2D U-Net (4 levels, 16-128 filters, BatchNorm); any task, by sections",
                         487_713, 169.785, dims=2),
    "mtl": ModelFacts("multi-task MTI (Gao 2024): shared nested-U encoder, decoders for faults/dip/strike, RGT, DHR",
                      14_481_927, 3363.094, ("multitask",)),
    "mtl-refine": ModelFacts("multi-task MTR: the MTI network on the MTI outputs (per-output stems), applied k times",
                             14_493_091, 3409.751, ("multitask-refine",)),
    "unet-resnet18": ModelFacts("U-Net with a ResNet-18 encoder (1-channel stem; decoder 256-16); any task, by sections",
                                14_321_937, 338.900, dims=2),
    "unet-resnet34": ModelFacts("U-Net with a ResNet-34 encoder (1-channel stem; decoder 256-16); any task, by sections",
                                24_430_097, 493.519, dims=2),
}
