"""ResNet encoders for 2D section models (He et al. 2016): BasicBlock stages of [2, 2, 2, 2]
(ResNet-18) or [3, 4, 6, 3] (ResNet-34) blocks with a 1-channel stem.

The layout is the classic one - a 7x7 stride-2 convolution, BatchNorm, ReLU, a 3x3 stride-2 max
pool, then four stages of `width`, 2 `width`, 4 `width` and 8 `width` channels, the last three
starting with a stride-2 block whose shortcut is a 1x1 stride-2 convolution with BatchNorm - and
the attribute names are the usual ones (conv1, bn1, layer1.0.conv1, layer2.0.downsample.0, ...), so
a ResNet state dict from elsewhere loads by name (hpcfault/models/init.py). There is no pooling
head: `features` returns the maps a U-Net decoder needs, at strides 1 (the input), 2, 4, 8, 16
and 32.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

STAGES = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}


class BasicBlock2d(nn.Module):
    """Two 3x3 convolutions with BatchNorm, added to the (projected) input, then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + skip)


class ResNetEncoder(nn.Module):
    def __init__(self, stages: Sequence[int] = STAGES["resnet18"], width: int = 64, in_channels: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        cin = width
        for k, blocks in enumerate(stages):
            cout = width * 2 ** k
            layer = nn.Sequential(*[BasicBlock2d(cin if b == 0 else cout, cout, stride=2 if (k and b == 0) else 1)
                                    for b in range(blocks)])
            setattr(self, f"layer{k + 1}", layer)
            cin = cout
        self.channels = (in_channels, width, width, 2 * width, 4 * width, 8 * width)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[x, stride 2, 4, 8, 16, 32] feature maps (channels: self.channels)."""
        f1 = self.relu(self.bn1(self.conv1(x)))
        f2 = self.layer1(self.maxpool(f1))
        f3 = self.layer2(f2)
        f4 = self.layer3(f3)
        f5 = self.layer4(f4)
        return [x, f1, f2, f3, f4, f5]
