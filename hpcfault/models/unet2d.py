"""A plain 2D U-Net for section models: the UNet3D design in 2D (two 3x3 convolutions with
BatchNorm and ReLU per level, max pooling down, nearest x2 up, skips by concatenation), with one
output channel per task channel (`head`). The engine applies it to every section of a survey
along inlines and/or crosslines (hpcfault/infer/plan.py, views). Sizes must be multiples of
2**(levels-1)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hpcfault.errors import HpcfaultError
from hpcfault.models.heads import apply_head, check_head
from hpcfault.models.unet_parts import unet_levels, unet_pass


@dataclass(frozen=True)
class UNet2DConfig:
    filters: tuple[int, ...] = (16, 32, 64, 128)
    head: tuple[str, ...] = ("sigmoid",)


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet2D(nn.Module):
    dims = 2

    def __init__(self, filters=(16, 32, 64, 128), head=("sigmoid",)) -> None:
        super().__init__()
        filters = tuple(int(f) for f in filters)
        self.config = UNet2DConfig(filters, check_head(head))
        self.size_multiple = 2 ** (len(filters) - 1)
        self.down, self.up = unet_levels(filters, _double_conv)
        self.head = nn.Conv2d(filters[0], len(self.config.head), 1)

    def forward(self, x: torch.Tensor, frame=None) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 1 or any(s % self.size_multiple for s in x.shape[2:]):
            raise HpcfaultError(f"2D model input must be (N, 1, H, W) with H, W multiples of {self.size_multiple} "
                                f"(got {tuple(x.shape)}); pad the sections")
        x = unet_pass(x, self.down, self.up, F.max_pool2d)
        return apply_head(self.head(x), self.config.head)
