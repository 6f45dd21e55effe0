"""Building blocks of Fault-Net: residual blocks, the HRNet multi-branch module and the MCF block.

Attribute names follow the published TorchScript files (FaultNet_Gamma0.*.pt) so that their
state_dict loads with strict=True: do not rename an attribute without checking the fidelity tests.
Every activation is ReLU6, as in the published files; BatchNorm uses eps 1e-5, momentum 0.1.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hpcfault.models.frame import Frame, resize


def conv3(cin: int, cout: int, stride: int = 1, bias: bool = False) -> nn.Conv3d:
    return nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=bias)


def conv1(cin: int, cout: int, bias: bool = False) -> nn.Conv3d:
    return nn.Conv3d(cin, cout, 1, bias=bias)


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, relu: bool = False) -> nn.Sequential:
    """Conv3d (no bias) -> BatchNorm3d [-> ReLU6], the HRNet transition/fuse unit."""
    conv = conv3(cin, cout, stride) if kernel == 3 else conv1(cin, cout)
    layers: list[nn.Module] = [conv, nn.BatchNorm3d(cout)]
    if relu:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


def upsample_to(x: torch.Tensor, like: torch.Tensor, frame: Frame | None = None) -> torch.Tensor:
    """Trilinear resize of `x` to the spatial size of `like` (align_corners=True, as published), on
    the survey's grid when the block's `frame` is given (see frame.py)."""
    return resize(x, like.shape[2:], frame)


def upsample2(x: torch.Tensor, frame: Frame | None = None) -> torch.Tensor:
    return resize(x, [2 * s for s in x.shape[2:]], frame)


class BasicBlock(nn.Module):
    """Two 3x3x3 conv-BN layers with an identity shortcut: relu6(bn2(conv2(relu6(bn1(conv1 x)))) + x)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = conv3(channels, channels)
        self.bn1 = nn.BatchNorm3d(channels)
        self.relu = nn.ReLU6(inplace=True)
        self.conv2 = conv3(channels, channels)
        self.bn2 = nn.BatchNorm3d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        y += x
        return self.relu(y)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 (x`expansion` channels) with a projected shortcut (HRNet layer1)."""

    def __init__(self, cin: int, planes: int, expansion: int) -> None:
        super().__init__()
        cout = planes * expansion
        self.conv1 = conv1(cin, planes)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = conv3(planes, planes)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = conv1(planes, cout)
        self.bn3 = nn.BatchNorm3d(cout)
        self.relu = nn.ReLU6(inplace=True)
        self.downsample = nn.Sequential(conv1(cin, cout), nn.BatchNorm3d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        y += self.downsample(x)
        return self.relu(y)


def _fuse_unit(widths: Sequence[int], src: int, dst: int) -> nn.Module:
    """The path that brings branch `src` to the resolution and width of branch `dst`.

    Coarser -> finer: 1x1 conv-BN (the upsampling happens in forward). Finer -> coarser: a chain of
    stride-2 3x3 conv-BN, ReLU6 after every step but the last (HRNet's fuse layers).
    """
    if src > dst:
        return conv_bn(widths[src], widths[dst], 1)
    steps = []
    for k in range(dst - src):
        last = k == dst - src - 1
        cout = widths[dst] if last else widths[src]
        steps.append(conv_bn(widths[src], cout, 3, stride=2, relu=not last))
    return nn.Sequential(*steps)


class HighResolutionModule(nn.Module):
    """HRNet stage module: `blocks` BasicBlocks per branch, then every branch gets the sum of all.

    Branch k runs at 1/2**k of branch 0's resolution with widths[k] channels.
    """

    def __init__(self, widths: Sequence[int], blocks: int = 2) -> None:
        super().__init__()
        self.widths = tuple(widths)
        n = len(widths)
        self.branches = nn.ModuleList(
            nn.Sequential(*(BasicBlock(w) for _ in range(blocks))) for w in widths)
        fuse_layers = []
        for dst in range(n):
            row = nn.ModuleList(
                nn.Identity() if src == dst else _fuse_unit(widths, src, dst) for src in range(n))
            fuse_layers.append(row)
        self.fuse_layers = nn.ModuleList(fuse_layers)
        self.relu = nn.ReLU6(inplace=True)

    def forward(self, xs: Sequence[torch.Tensor], frame: Frame | None = None) -> list[torch.Tensor]:
        ys = [branch(x) for branch, x in zip(self.branches, xs)]
        out = []
        for dst, row in enumerate(self.fuse_layers):
            acc = None
            for src, unit in enumerate(row):
                if src == dst:
                    term = ys[src]
                elif src > dst:
                    term = upsample_to(unit(ys[src]), ys[dst], frame)
                else:
                    term = unit(ys[src])
                acc = term if acc is None else acc + term
            out.append(self.relu(acc))
        return out


class SegSEBlock(nn.Module):
    """Spatial attention of the MCF block: sigmoid(1x1(dilated 3x3 (rate 2, width/2)))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.dila_conv = nn.Conv3d(channels, channels // 2, 3, padding=2, dilation=2)
        self.conv1 = nn.Conv3d(channels // 2, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv1(self.dila_conv(x)))


class MCFBlock(nn.Module):
    """Multi-scale Compression Fusion (paper section 2.2): expand, attend, compress, plus a skip.

    out = zoom(n * segse(n)) + skip(x), n = norm_conv(relu6(bn(expansion_conv(x)))).
    """

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.expansion_conv = nn.Conv3d(cin, cin, 1)
        self.bn = nn.BatchNorm3d(cin)
        self.norm_conv = nn.Conv3d(cin, cin, 3, padding=1)
        self.segse_block = SegSEBlock(cin)
        self.zoom_conv = nn.Conv3d(cin, cout, 1)
        self.skip_conv = nn.Conv3d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.norm_conv(F.relu6(self.bn(self.expansion_conv(x)), inplace=True))
        n = n * self.segse_block(n)
        y = self.zoom_conv(n)
        y += self.skip_conv(x)
        return y
