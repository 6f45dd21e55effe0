"""UNet3D baseline as in FaultSeg3D (Wu et al. 2019): 4 levels, 16-32-64-128 filters.

Each level is two 3x3x3 convolutions with bias and ReLU (no BatchNorm, as in the Keras original);
2x max-pooling down, nearest-neighbour 2x upsampling up, skip connections by concatenation, a 1x1x1
convolution and a sigmoid at the end: 1,459,585 parameters with the default filters.
Inputs need sizes that are multiples of 2**(levels-1) (8 by default). `head` gives one activation
per output channel (default one sigmoid channel, the fault task; other tasks build it with their
own head, see hpcfault/models/heads.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hpcfault.models.faultnet import check_input
from hpcfault.models.heads import apply_head, check_head
from hpcfault.models.unet_parts import unet_levels, unet_pass


@dataclass(frozen=True)
class UNet3DConfig:
    filters: tuple[int, ...] = (16, 32, 64, 128)
    head: tuple[str, ...] = ("sigmoid",)


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv3d(cout, cout, 3, padding=1), nn.ReLU(inplace=True))


class UNet3D(nn.Module):
    def __init__(self, filters=(16, 32, 64, 128), head=("sigmoid",)) -> None:
        super().__init__()
        filters = tuple(int(f) for f in filters)
        self.config = UNet3DConfig(filters, check_head(head))
        self.size_multiple = 2 ** (len(filters) - 1)
        self.down, self.up = unet_levels(filters, _double_conv)
        self.head = nn.Conv3d(filters[0], len(self.config.head), 1)

    def forward(self, x: torch.Tensor, frame=None) -> torch.Tensor:
        """`frame` (a block's place in the survey) is accepted and not needed: max pooling and
        nearest-neighbour x2 upsampling commute with shifts by multiples of 8."""
        check_input(x, self.size_multiple)
        x = unet_pass(x, self.down, self.up, F.max_pool3d)
        return apply_head(self.head(x), self.config.head)
