"""U-Net with a ResNet-18 or ResNet-34 encoder for 2D sections (salt segmentation, TGS style).

The encoder (resnet.py) gives maps at strides 2 ... 32; the decoder has five blocks of `decoder`
channels (default 256, 128, 64, 32, 16), each a nearest x2 upsampling, a concatenation with the
encoder map of that stride (none for the last block, at full resolution) and two 3x3 convolutions
with BatchNorm and ReLU; a 3x3 convolution maps the last 16 channels to one channel per task
channel, through the task's activations (heads.py). With one input channel this is the
architecture segmentation_models_pytorch builds as Unet("resnet18"/"resnet34", in_channels=1):
14,321,937 and 24,430,097 parameters; module names follow the same pattern (encoder.layer1.0.conv1,
decoder.blocks.0.conv1.0, segmentation_head.0), so such a state dict loads by name.

Any section size works: the input is reflect-padded to a multiple of 32 and the output cropped
back (`size_multiple` says which sizes need no padding). With `flip_tta` an eval-mode forward
averages the prediction of the section and the mirrored prediction of the mirrored section
(left-right, i.e. along the section's lateral axis); training is unaffected.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hpcfault.errors import HpcfaultError
from hpcfault.models.heads import apply_head, check_head
from hpcfault.models.resnet import STAGES, ResNetEncoder

SIZE_MULTIPLE = 32


@dataclass(frozen=True)
class UNetResNetConfig:
    encoder: str = "resnet18"                              # resnet18 | resnet34 (fixed by the model name)
    width: int = 64                                        # encoder channels of the first stage (ResNet: 64)
    decoder: tuple[int, ...] = (256, 128, 64, 32, 16)      # channels of the five decoder blocks
    head: tuple[str, ...] = ("sigmoid",)
    flip_tta: bool = False                                 # eval: average with the left-right mirrored section


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DecoderBlock(nn.Module):
    def __init__(self, cin: int, skip: int, cout: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn_relu(cin + skip, cout)
        self.conv2 = _conv_bn_relu(cout, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], 1)
        return self.conv2(self.conv1(x))


class UNetDecoder(nn.Module):
    def __init__(self, encoder_channels: tuple[int, ...], channels: tuple[int, ...]) -> None:
        super().__init__()
        if len(channels) != 5:
            raise HpcfaultError(f"the U-Net decoder has 5 blocks (got decoder {list(channels)}); "
                                "e.g. decoder: [256, 128, 64, 32, 16]")
        skips = list(encoder_channels[1:-1][::-1]) + [0]          # strides 16, 8, 4, 2, then none
        ins = [encoder_channels[-1]] + list(channels[:-1])
        self.blocks = nn.ModuleList(DecoderBlock(i, s, o) for i, s, o in zip(ins, skips, channels))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[-1]
        skips = features[1:-1][::-1] + [None]
        for block, skip in zip(self.blocks, skips):
            x = block(x, skip)
        return x


class UNetResNet(nn.Module):
    dims = 2
    size_multiple = SIZE_MULTIPLE

    def __init__(self, encoder: str = "resnet18", width: int = 64, decoder=(256, 128, 64, 32, 16),
                 head=("sigmoid",), flip_tta: bool = False) -> None:
        super().__init__()
        if encoder not in STAGES:
            raise HpcfaultError(f"unknown ResNet encoder (got {encoder!r}); valid: {', '.join(STAGES)}")
        head = check_head(head)
        if flip_tta and any(a != "sigmoid" for a in head):
            raise HpcfaultError(f"flip_tta averages probabilities only (got head {list(head)}); "
                                "set flip_tta: false for tasks with value or angle outputs")
        self.config = UNetResNetConfig(encoder, int(width), tuple(int(c) for c in decoder), head, bool(flip_tta))
        self.encoder = ResNetEncoder(STAGES[encoder], int(width))
        self.decoder = UNetDecoder(self.encoder.channels, self.config.decoder)
        self.segmentation_head = nn.Sequential(nn.Conv2d(self.config.decoder[-1], len(head), 3, padding=1))

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.segmentation_head(self.decoder(self.encoder.features(x)))
        return apply_head(y, self.config.head)

    def forward(self, x: torch.Tensor, frame=None) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 1:
            raise HpcfaultError(f"2D model input must be (N, 1, H, W) sections (got {tuple(x.shape)}); "
                                "pass a batch of one-channel sections")
        h, w = x.shape[2:]
        ph, pw = (-h) % SIZE_MULTIPLE, (-w) % SIZE_MULTIPLE
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        y = self._forward(x)
        if self.config.flip_tta and not self.training:
            y = 0.5 * (y + torch.flip(self._forward(torch.flip(x, (3,))), (3,)))
        return y[:, :, :h, :w] if (ph or pw) else y
