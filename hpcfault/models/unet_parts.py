"""The encoder-decoder skeleton the plain U-Nets share (3D: UNet3D, 2D: UNet2D): levels of a
double convolution, max pooling down, nearest-neighbour x2 upsampling up, skips by concatenation."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


def unet_levels(filters: tuple[int, ...], double_conv: Callable[[int, int], nn.Module],
                cin: int = 1) -> tuple[nn.ModuleList, nn.ModuleList]:
    """(down, up) levels for `filters` channels per level."""
    down = nn.ModuleList()
    for f in filters:
        down.append(double_conv(cin, f))
        cin = f
    up = nn.ModuleList(double_conv(filters[k + 1] + filters[k], filters[k]) for k in reversed(range(len(filters) - 1)))
    return down, up


def unet_pass(x: torch.Tensor, down: nn.ModuleList, up: nn.ModuleList, pool: Callable) -> torch.Tensor:
    """Run the levels: features at full resolution with `filters[0]` channels."""
    skips = []
    for k, level in enumerate(down):
        if k:
            x = pool(x, 2)
        x = level(x)
        skips.append(x)
    skips.pop()
    for level in up:
        x = level(torch.cat([F.interpolate(x, scale_factor=2.0, mode="nearest"), skips.pop()], 1))
    return x
