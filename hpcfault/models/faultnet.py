"""Fault-Net (Dou et al. 2021, arXiv 2110.05319), written to match the published TorchScript files.

Data flow for an input (N, 1, T, I, X), sizes multiples of 16 (w = widths):

    stem     conv s2 -> BasicBlock (kept as the 1/2 skip) -> conv s2 -> Bottleneck   1/4, 8*w0 ch
    stage2   two HRNet modules on branches (1/4: w0, 1/8: w1)
    stage3   two HRNet modules on branches (1/4: w0, 1/8: w1, 1/16: w2)
    head     1x1 convs bring every branch to w0, upsample to 1/4, concat (3*w0)
             -> MCF (-> w0) -> x2 -> concat with the 1/2 skip (2*w0) -> MCF (-> w0)
             -> 2 BasicBlocks -> x2 -> BasicBlock -> 1x1 conv -> sigmoid

The published configuration is widths (8, 16, 24) and 421,597 parameters (the paper's text says
8/16/32). With `mcf=False` (the paper's ablation) each MCF block is replaced by one 1x1x1
convolution with bias from the concatenated features to w0 channels: plain concatenation fusion,
no expansion, attention or skip path (386,097 parameters with the published widths).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hpcfault.errors import HpcfaultError
from hpcfault.models.blocks import (BasicBlock, Bottleneck, HighResolutionModule, MCFBlock, conv3,
                                    conv_bn, upsample2, upsample_to)
from hpcfault.models.frame import Frame, resize
from hpcfault.models.memory import TAIL_HALO   # last_layer = BasicBlock (two 3x3x3 convs) + 1x1x1 conv

SIZE_MULTIPLE = 16


def check_input(x: torch.Tensor, multiple: int) -> None:
    """Raise a one-line error unless `x` is (N, 1, T, I, X) with T, I, X multiples of `multiple`."""
    if x.dim() != 5 or x.shape[1] != 1:
        raise HpcfaultError(
            f"model input must be (N, 1, time, inline, xline) (got shape {tuple(x.shape)}); "
            "add the batch and channel axes, e.g. x[None, None]")
    spatial = tuple(x.shape[2:])
    if any(s % multiple or s == 0 for s in spatial):
        raise HpcfaultError(
            f"model input sizes must be multiples of {multiple} (got {spatial}); "
            f"pad or crop each of time, inline, xline to a multiple of {multiple}")


@dataclass(frozen=True)
class FaultNetConfig:
    widths: tuple[int, int, int] = (8, 16, 24)
    expansion: int = 8      # Bottleneck output = widths[0] * expansion (64 when published)
    blocks: int = 2         # BasicBlocks per branch in each HRNet module
    mcf: bool = True


class FaultNet(nn.Module):
    """Fault-Net; output are fault probabilities of the same spatial size as the input."""

    size_multiple = SIZE_MULTIPLE
    tail_slab = 0   # > 0 (set for inference by prepare_for_inference): full-resolution tail in time slabs

    def __init__(self, widths=(8, 16, 24), expansion: int = 8, blocks: int = 2, mcf: bool = True) -> None:
        super().__init__()
        w0, w1, w2 = (int(w) for w in widths)
        self.config = FaultNetConfig((w0, w1, w2), int(expansion), int(blocks), bool(mcf))
        wide = w0 * expansion
        # stem: 1/2 (kept for the skip connection), then 1/4
        self.conv1 = nn.Sequential(conv3(1, w0, stride=2, bias=True), nn.BatchNorm3d(w0), nn.ReLU6(inplace=True))
        self.conv1_0 = BasicBlock(w0)
        self.conv1_1 = conv3(w0, w0, stride=2)
        self.bn1_1 = nn.BatchNorm3d(w0)
        self.relu = nn.ReLU6(inplace=True)
        self.layer1 = nn.Sequential(Bottleneck(w0, w0, expansion))
        # HRNet stages
        self.transition1 = nn.ModuleList([conv_bn(wide, w0, 3, relu=True),
                                          nn.Sequential(conv_bn(wide, w1, 3, stride=2, relu=True))])
        self.stage2 = nn.Sequential(*(HighResolutionModule((w0, w1), blocks) for _ in range(2)))
        self.transition2 = nn.ModuleList([nn.Identity(), nn.Identity(),
                                          nn.Sequential(conv_bn(w1, w2, 3, stride=2, relu=True))])
        self.stage3 = nn.Sequential(*(HighResolutionModule((w0, w1, w2), blocks) for _ in range(2)))
        # head
        self.fuse1 = nn.Conv3d(w0, w0, 1)
        self.fuse2 = nn.Conv3d(w1, w0, 1)
        self.fuse3 = nn.Conv3d(w2, w0, 1)
        self.fuse_layer1 = MCFBlock(3 * w0, w0) if mcf else nn.Conv3d(3 * w0, w0, 1)
        self.fuse_layer2 = MCFBlock(2 * w0, w0) if mcf else nn.Conv3d(2 * w0, w0, 1)
        self.layer2 = nn.Sequential(BasicBlock(w0), BasicBlock(w0))
        self.last_layer = nn.Sequential(BasicBlock(w0), nn.Conv3d(w0, 1, 1))

    def forward(self, x: torch.Tensor, frame: Frame | None = None) -> torch.Tensor:
        """Fault probabilities of `x` (N, 1, T, I, X); `frame` places x in a survey (see frame.py)."""
        check_input(x, SIZE_MULTIPLE)
        half = self.conv1_0(self.conv1(x))
        y = self.layer1(self.relu(self.bn1_1(self.conv1_1(half))))
        ys = [t(y) for t in self.transition1]
        for module in self.stage2:
            ys = module(ys, frame)
        ys = [t(v) for t, v in zip(self.transition2, ys + [ys[-1]])]
        for module in self.stage3:
            ys = module(ys, frame)
        x1 = self.fuse1(ys[0])
        x2 = upsample_to(self.fuse2(ys[1]), x1, frame)
        x3 = upsample_to(self.fuse3(ys[2]), x1, frame)
        del ys
        y = upsample2(self.fuse_layer1(torch.cat([x1, x2, x3], 1)), frame)
        del x1, x2, x3
        z = torch.cat([y, half], 1)
        del y, half
        y = self.layer2(self.fuse_layer2(z))
        del z
        if self.tail_slab and not torch.is_grad_enabled():
            return self._tail_in_slabs(y, tuple(x.shape[2:]), frame)
        # training: the sigmoid on float32 logits (under autocast they arrive in half precision, and
        # probabilities rounded to bf16 would feed the float32 loss); a no-op in float32. Inference
        # keeps the model's dtype (the memory planner counts it so)
        z = self.last_layer(upsample2(y, frame))
        return torch.sigmoid(z.float() if torch.is_grad_enabled() else z)

    def _tail_in_slabs(self, y: torch.Tensor, size: tuple[int, int, int], frame: Frame | None) -> torch.Tensor:
        """The full-resolution tail (x2 upsampling, BasicBlock, 1x1 conv, sigmoid) over time slabs of
        `tail_slab` voxels, each computed with a halo of `TAIL_HALO` voxels and cropped: the same
        values as the whole tail, without its w0-channel full-resolution tensors (3/4 of the peak)."""
        out = y.new_empty((y.shape[0], 1, *size))
        for a in range(0, size[0], self.tail_slab):
            b = min(size[0], a + self.tail_slab)
            lo, hi = max(0, a - TAIL_HALO), min(size[0], b + TAIL_HALO)
            z = self.last_layer(resize(y, size, frame, rows=(lo, hi)))
            torch.sigmoid(z[:, :, a - lo:b - lo], out=out[:, :, a:b])
        return out
