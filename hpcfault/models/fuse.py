"""Exact eval-time rewrites: BatchNorm folded into the preceding convolution, fused CPU kernels.

Folding uses the BN running statistics: w' = w * g / sqrt(v + eps), b' = (b - m) * g / sqrt(v + eps) + beta,
computed in float64 and stored in the model's dtype. The rewrite is exact in arithmetic (float64:
folded == unfused to 1e-12); in fp32 only the rounding order changes. For the published Fault-Net
weights that gives output differences of ~1e-4 max on 64^3-128^3 blocks (median ~1e-19, no 0.5-mask
flips measured), the same size as the plain fp32 model's own distance from a float64 evaluation
(~1e-4): that is this network's fp32 rounding floor. The folded model is for inference only.
"""
from __future__ import annotations

import copy
import logging

import torch
from torch import nn

from hpcfault.models.memory import TAIL_SLAB

log = logging.getLogger(__name__)
_BN = (nn.BatchNorm2d, nn.BatchNorm3d)      # 2D section models fold the same way

# (conv attribute, bn attribute) pairs by class name, for blocks that hold them as named attributes
_PAIRS: dict[str, tuple[tuple[str, str], ...]] = {
    "BasicBlock": (("conv1", "bn1"), ("conv2", "bn2")),
    "Bottleneck": (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")),
    "MCFBlock": (("expansion_conv", "bn"),),
    "FaultNet": (("conv1_1", "bn1_1"),),
    "BasicBlock2d": (("conv1", "bn1"), ("conv2", "bn2")),     # the 2D ResNet encoder (resnet.py)
    "ResNetEncoder": (("conv1", "bn1"),),
}
_CONV_BN = ((nn.Conv2d, nn.BatchNorm2d), (nn.Conv3d, nn.BatchNorm3d))


def _foldable(conv: nn.Module, norm: nn.Module) -> bool:
    """A conv followed by a BatchNorm of its dimension, or by an InstanceNorm3d that tracks running
    statistics (in eval mode it normalises by those, as BatchNorm does)."""
    if any(type(conv) is c and type(norm) is b for c, b in _CONV_BN):
        return True
    return type(conv) is nn.Conv3d and type(norm) is nn.InstanceNorm3d and norm.track_running_stats


@torch.no_grad()
def fold_bn(conv: nn.Conv3d | nn.Conv2d, bn: nn.BatchNorm3d | nn.BatchNorm2d) -> None:
    """Fold an eval-mode BatchNorm into `conv` in place (conv gains a bias if it had none)."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("BatchNorm without running statistics cannot be folded")
    w = conv.weight.double()
    scale = bn.running_var.double().add(bn.eps).rsqrt()
    if bn.weight is not None:
        scale = scale * bn.weight.double()
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    bias = (bias - bn.running_mean.double()) * scale
    if bn.bias is not None:
        bias = bias + bn.bias.double()
    conv.weight.copy_((w * scale.view(-1, *([1] * (w.dim() - 1)))).to(conv.weight.dtype))
    if conv.bias is None:
        conv.bias = nn.Parameter(bias.to(conv.weight.dtype), requires_grad=False)
    else:
        conv.bias.copy_(bias.to(conv.bias.dtype))


def fold_all_bn(model: nn.Module) -> int:
    """Fold every conv->BN pair of `model` in place, replacing the BN by nn.Identity; returns the count."""
    count = 0
    for module in list(model.modules()):
        pairs = _PAIRS.get(type(module).__name__, ())
        for conv_name, bn_name in pairs:
            bn = getattr(module, bn_name)
            if isinstance(bn, _BN):
                fold_bn(getattr(module, conv_name), bn)
                setattr(module, bn_name, nn.Identity())
                count += 1
        if isinstance(module, nn.Sequential):
            for k in range(len(module) - 1):
                conv, bn = module[k], module[k + 1]
                if _foldable(conv, bn):
                    fold_bn(conv, bn)
                    module[k + 1] = nn.Identity()
                    count += 1
    left = sum(isinstance(m, _BN) for m in model.modules())
    if left:
        log.warning("%d BatchNorm layers could not be folded (no preceding convolution found)", left)
    return count


def prepare_for_inference(model: nn.Module, *, channels_last: bool | None = None, compile: bool = False,
                          tail_slab: int = TAIL_SLAB) -> nn.Module:
    """A copy of `model` for fast, exact inference: eval mode, BN folded, in-place activations,
    oneDNN for every CPU convolution with ReLU6 and residual adds fused into it (hpcfault/models/fused.py),
    no gradients. Call it under torch.inference_mode(); off the CPU the same modules run F.conv3d.

    `channels_last` stores the conv weights as channels_last_3d (None: only on CPU, where oneDNN
    then runs the convolutions without layout reorders; see tools/bench_model.py for figures).
    `compile` wraps the result in torch.compile (first call compiles; needs a C++ compiler on CPU).
    `tail_slab` (Fault-Net): compute the full-resolution tail in time slabs of that many voxels
    (0: in one piece); same values, a third of the peak memory (see models/memory.py).
    """
    model = copy.deepcopy(model).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    fold_all_bn(model)
    if not compile:  # inductor lowers convolutions itself; the oneDNN ops have no fake-tensor kernels
        from hpcfault.models.fused import fuse_for_cpu

        fuse_for_cpu(model)
    for m in model.modules():
        if isinstance(m, (nn.ReLU, nn.ReLU6)):
            m.inplace = True
    device = next(model.parameters()).device
    if channels_last is None:
        channels_last = device.type == "cpu"
    if channels_last:
        model = model.to(memory_format=torch.channels_last if getattr(model, "dims", 3) == 2
                         else torch.channels_last_3d)
    model.hpcfault_channels_last = bool(channels_last)
    if hasattr(model, "tail_slab"):
        model.tail_slab = int(tail_slab)
    if compile:
        model = torch.compile(model)
    return model
