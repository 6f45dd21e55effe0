"""CPU inference kernels: every convolution on oneDNN, with its activation and residual add fused.

Used by prepare_for_inference after BatchNorm folding. Two things make the CPU forward faster:

- PyTorch sends small 3D convolutions (N*C*D*H <= 20480, e.g. 8 channels at 32^3: most of
  Fault-Net's 1/4-resolution branch in a 128^3 block) to its im2col fallback `slow_conv3d`, tens of
  times slower there than oneDNN; FusedConv3d always calls oneDNN.
- conv -> ReLU6 and conv -> (+ residual) run as one oneDNN primitive with post-ops, which saves a
  full pass over the output per fused op (ReLU6 and adds were ~25% of the time after folding).

Off the CPU, in float64, under CPU autocast or with autograd on, FusedConv3d computes the same thing
with F.conv3d (so autocast still applies; for bf16 on CPU, casting the model and input is faster).
bf16 inputs take oneDNN only where the CPU runs bf16 convolutions (cpu_features.bf16_support:
AVX-512 BW/VL/DQ or AVX-NE-CONVERT); elsewhere F.conv3d, said once in the log.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_ACTS = (None, "relu", "relu6")


class FusedConv3d(nn.Module):
    """conv3d(x) [+ add] then activation `act` (None, "relu" or "relu6"), on oneDNN when it can."""

    def __init__(self, conv: nn.Conv3d, act: str | None = None) -> None:
        super().__init__()
        if act not in _ACTS or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError(f"cannot fuse {conv} with activation {act!r}")
        self.weight = conv.weight
        self.bias = conv.bias
        self.stride, self.padding, self.dilation = list(conv.stride), list(conv.padding), list(conv.dilation)
        self.groups = conv.groups
        self.act = act

    def extra_repr(self) -> str:
        return f"{tuple(self.weight.shape)}, stride={self.stride}, act={self.act}"

    def _onednn(self, x: torch.Tensor) -> bool:
        ok = (x.device.type == "cpu" and x.dtype in (torch.float32, torch.bfloat16) and not torch.is_grad_enabled()
              and not torch.is_autocast_enabled("cpu"))  # autocast only reaches F.conv3d
        if ok and x.dtype == torch.bfloat16:
            from hpcfault.models.cpu_features import bf16_support, warn_bf16_fallback

            if not bf16_support().ok:
                warn_bf16_fallback()
                return False
        return ok

    def forward(self, x: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
        args = (self.weight, self.bias, self.padding, self.stride, self.dilation, self.groups)
        if self._onednn(x):
            if add is None:
                if self.act is None:
                    return torch.ops.aten.mkldnn_convolution(x, *args)
                attr, scalars = ("hardtanh", [0.0, 6.0]) if self.act == "relu6" else ("relu", [])
                return torch.ops.mkldnn._convolution_pointwise(x, *args, attr, scalars, None)
            unary = "relu" if self.act == "relu" else None
            y = torch.ops.mkldnn._convolution_pointwise.binary(x, add, *args, "add", None, unary, [], None)
            return F.hardtanh_(y, 0.0, 6.0) if self.act == "relu6" else y
        y = F.conv3d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        if add is not None:
            y = y + add
        if self.act == "relu6":
            return F.hardtanh_(y, 0.0, 6.0)
        return F.relu_(y) if self.act == "relu" else y


class FusedBasicBlock(nn.Module):
    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.conv1 = FusedConv3d(block.conv1, "relu6")
        self.conv2 = FusedConv3d(block.conv2, "relu6")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x), add=x)


class FusedBottleneck(nn.Module):
    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.conv1 = FusedConv3d(block.conv1, "relu6")
        self.conv2 = FusedConv3d(block.conv2, "relu6")
        self.conv3 = FusedConv3d(block.conv3, "relu6")
        self.downsample = FusedConv3d(block.downsample[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(self.conv2(self.conv1(x)), add=self.downsample(x))


class FusedMCFBlock(nn.Module):
    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.expansion_conv = FusedConv3d(block.expansion_conv, "relu6")
        self.norm_conv = FusedConv3d(block.norm_conv)
        self.segse_block = block.segse_block
        self.zoom_conv = FusedConv3d(block.zoom_conv)
        self.skip_conv = FusedConv3d(block.skip_conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.norm_conv(self.expansion_conv(x))
        if torch.is_grad_enabled():
            a = n * self.segse_block(n)
        else:   # inference: the attention map is computed and applied in place (one tensor fewer at the peak)
            se = self.segse_block
            a = torch.sigmoid_(se.conv1(se.dila_conv(n))).mul_(n)
        del n
        return self.zoom_conv(a, add=self.skip_conv(x))


_BLOCKS = {"BasicBlock": FusedBasicBlock, "Bottleneck": FusedBottleneck, "MCFBlock": FusedMCFBlock}


def _fuse_sequential(seq: nn.Sequential) -> None:
    """conv [Identity (folded BN)] [ReLU/ReLU6] -> FusedConv3d(act), the rest -> Identity."""
    items = list(seq)
    for k, item in enumerate(items):
        if type(item) is not nn.Conv3d:
            continue
        j = k + 1
        while j < len(items) and isinstance(items[j], nn.Identity):
            j += 1
        act = None
        if j < len(items) and isinstance(items[j], (nn.ReLU, nn.ReLU6)):
            act = "relu6" if isinstance(items[j], nn.ReLU6) else "relu"
            seq[j] = nn.Identity()
        seq[k] = FusedConv3d(item, act)


def fuse_for_cpu(model: nn.Module) -> nn.Module:
    """Rewrite a BN-folded model in place with fused oneDNN convolutions; returns it."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            fused = _BLOCKS.get(type(child).__name__)
            if fused is not None and not any(isinstance(m, nn.BatchNorm3d) for m in child.modules()):
                setattr(parent, name, fused(child))
    for module in list(model.modules()):
        if isinstance(module, nn.Sequential):
            _fuse_sequential(module)
    if type(model).__name__ == "FaultNet" and isinstance(model.bn1_1, nn.Identity):
        model.conv1_1 = FusedConv3d(model.conv1_1, "relu6")
        model.relu = nn.Identity()
    for parent in list(model.modules()):  # any convolution left (1x1 heads, SegSE) still gets oneDNN
        for name, child in list(parent.named_children()):
            if type(child) is nn.Conv3d:
                setattr(parent, name, FusedConv3d(child))
    return model
