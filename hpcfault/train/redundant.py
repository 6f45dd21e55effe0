"""Parameters with an exactly zero gradient, frozen before training.

A convolution bias that feeds a BatchNorm is redundant: BN subtracts the per-channel mean, so
BN(conv(x) + b) = BN(conv(x)) in training mode (and in eval mode the running mean absorbs b). Its
true gradient is 0, but the computed one is float32 rounding noise (~1e-9), and Adam divides by the
noise's own scale, turning it into steps of up to lr: such a bias random-walks, differently for
every summation order (1 vs 2 processes, another BLAS). Freezing it changes nothing in the model's
function and makes runs reproducible across process counts.

Found numerically, for any architecture: one float64 forward/backward in training mode on a small
random batch (its own generator: the global RNG is untouched); parameters whose gradient is below
1e-9 of the largest are redundant. Fault-Net has three (the stem's first conv bias and the two MCF
expansion conv biases); UNet3D and the 2D U-Nets none (their convolutions before BatchNorm have no bias).
"""
from __future__ import annotations

import copy

import torch

RELATIVE = 1e-9


def zero_gradient_parameters(model: torch.nn.Module, size: int = 32) -> list[str]:
    probe = copy.deepcopy(model).to("cpu", torch.float64).train()
    gen = torch.Generator().manual_seed(12345)
    dims = getattr(model, "dims", 3)                  # a section model takes (N, C, H, W)
    channels = getattr(model, "in_channels", 1)
    shape = (2, channels, 2 * size, 2 * size) if dims == 2 else (2, channels, size, size, size)
    x = torch.rand(*shape, generator=gen, dtype=torch.float64)
    y = probe(x)
    (y * torch.rand(y.shape, generator=gen, dtype=torch.float64)).sum().backward()
    grads = {n: (p.grad.abs().max().item() if p.grad is not None else 0.0) for n, p in probe.named_parameters()}
    scale = max(grads.values(), default=0.0)
    return [n for n, g in grads.items() if g <= RELATIVE * scale]


def freeze(model: torch.nn.Module, names: list[str]) -> None:
    params = dict(model.named_parameters())
    for n in names:
        params[n].requires_grad_(False)


def train_only(model: torch.nn.Module, prefixes: list[str]) -> list[str]:
    """Fine-tune part of a network (config `train_only`): freeze every parameter outside the modules
    named by `prefixes` (e.g. ["rgt"], the multitask RGT decoder) and keep the running normalization
    statistics of the frozen modules as they are (momentum 0: they still normalize by the cube's
    own statistics in training, and in inference by what they had learned), so the frozen part of
    the network computes exactly what it computed before. Returns the frozen parameter names; a
    prefix that names no module is a one-line error."""
    from hpcfault.errors import HpcfaultError

    modules = dict(model.named_modules())

    def inside(name: str) -> bool:
        return any(name == p or name.startswith(p + ".") for p in prefixes)

    missing = [p for p in prefixes if p not in modules]
    if missing:
        tops = sorted({n.split(".")[0] for n in modules if n})
        raise HpcfaultError(f"train_only names no module of this model (got {missing}); use one of {tops}")
    frozen = []
    for name, p in model.named_parameters():
        if not inside(name):
            p.requires_grad_(False)
            frozen.append(name)
    for name, m in modules.items():
        if not inside(name) and isinstance(m, torch.nn.modules.batchnorm._NormBase) and m.track_running_stats:
            m.momentum = 0.0
    return frozen
