"""Multi-task networks after Gao (2024): one shared 3D encoder, a decoder per task (MTI), and a
refinement network that takes the MTI outputs instead of the seismic (MTR).

The building unit is a nested residual U-block (the RSU of U^2-Net): an input convolution to n
channels, a small U-Net on its output whose innermost convolution is dilated and `bottleneck`
channels wide, and a residual sum with the input convolution's output. Its levels have n, 2n, 4n
channels (pooled, 2x max pooling between levels, trilinear 2x upsampling back) or n, 2n, 2n
(dilated: the same size throughout, dilations 1, 2, 4, ...). Every convolution is 3x3x3 and is
followed by a normalization and a ReLU. `norm`: "instance" (the reference: every cube normalized by
its own statistics, in training and inference, so a block's output depends on the whole block),
"instance-running" (instance statistics in training, running averages of them in inference, like
BatchNorm with one cube per pass: a block's output depends only on its receptive field, and
training passes may hold several cubes without coupling them), "batch" or "none".

Encoder: three U-blocks of widths (w1, w2, w3) = (16, 32, 64) and depths (3, 2, 3), the first two
pooled, the third dilated, with 2x max pooling between them (full, 1/2, 1/4 resolution); all three
with 256-channel bottlenecks. Decoder (one per task): the 1/4-resolution features upsampled and
concatenated with the 1/2-resolution ones into a pooled U-block of width w2, the same again with the
full-resolution features into one of width w1, then three plain convolutions. The fault decoder
ends in w1 features that three sub-heads share (probability, dip, strike; each a residual stack of
convolutions at 2 w1 channels), and dip and strike are multiplied by the probability. With the
reference widths the MTI network has 14.5 M parameters, like the reference's.

Outputs: the channels of the `multitask` task (hpcfault/tasks/multitask/) in its order: fault
probability (sigmoid), fault dip (two channels, the unit vector at the dip, times the probability),
fault strike (two channels, the doubled-angle unit vector, times the probability), RGT (sigmoid,
as in the reference; or, with `rgt="cumulative"`, the running sum of positive increments down each
trace, so monotonic in time by construction: `cumulative_rgt`; or, with `rgt="integrated"`, that
running sum plus a value per trace integrated from predicted lateral gradients: `integrated_rgt`)
and DHR (linear).

MTR (`refine=True`): the input is those seven channels (e.g. an MTI output); each output's
channels get a stem of two convolutions to `stem` channels, concatenated before the same encoder.
Inputs need sizes that are multiples of `size_multiple` (8 with the default depths).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hpcfault.errors import HpcfaultError

NORMS = ("instance", "instance-running", "batch", "none")
RGT_MODES = ("sigmoid", "cumulative", "integrated")
RESIDUAL_INIT = 1e-3    # residual MTR: its last layers' initial weights, x their default initialization


@dataclass(frozen=True)
class MTLConfig:
    widths: tuple[int, int, int] = (16, 32, 64)     # encoder stages at full, 1/2 and 1/4 resolution
    bottleneck: int = 256                           # channels of each U-block's innermost (dilated) conv
    depths: tuple[int, int, int] = (3, 2, 3)        # levels inside the stages' U-blocks
    norm: str = "instance"                          # instance | instance-running | batch | none
    refine: bool = False                            # MTR: the input is the MTI outputs
    stem: int = 4                                   # MTR: channels of each input output's stem
    head_depth: int = 4                             # convolutions in each fault sub-head's residual stack
    head_width: int = 2                             # their width, x widths[0] (the last one: x 1)
    rgt: str = "sigmoid"                            # RGT output: sigmoid (the reference) | cumulative | integrated
    residual: bool = False                          # MTR: each output = its input's + a correction (starts as identity)


def output_groups() -> tuple[int, ...]:
    """Model channels of each output of the multitask task, in order (the MTR's input groups)."""
    from hpcfault.tasks import task_spec

    return tuple(o.channels for o in task_spec("multitask").outputs)


def unit(cin: int, cout: int, norm: str, dilation: int = 1) -> nn.Sequential:
    """3x3x3 convolution -> normalization -> ReLU."""
    layers: list[nn.Module] = [nn.Conv3d(cin, cout, 3, padding=dilation, dilation=dilation)]
    if norm in ("instance", "instance-running"):
        layers.append(nn.InstanceNorm3d(cout, track_running_stats=norm == "instance-running"))
    elif norm == "batch":
        layers.append(nn.BatchNorm3d(cout))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a + b, in place into a when no gradient is recorded (inference saves a full-size tensor)."""
    return a.add_(b) if not torch.is_grad_enabled() else a + b


def _mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a.mul_(b) if not torch.is_grad_enabled() else a * b


def up2(x: torch.Tensor) -> torch.Tensor:
    """Trilinear 2x upsampling (half-pixel centres: equivariant to even shifts of the block)."""
    return F.interpolate(x, scale_factor=2.0, mode="trilinear", align_corners=False)


class UBlock(nn.Module):
    """Nested residual U-block: out = U(h) + h, h = unit(x) (see the module doc)."""

    def __init__(self, cin: int, n: int, depth: int, bottleneck: int, norm: str, pooled: bool) -> None:
        super().__init__()
        self.pooled = pooled
        chans = [n * 2 ** min(k, 2 if pooled else 1) for k in range(depth)]
        dil = [1] * depth if pooled else [2 ** k for k in range(depth)]
        self.inp = unit(cin, n, norm)
        self.down = nn.ModuleList(unit(n if k == 0 else chans[k - 1], chans[k], norm, dil[k]) for k in range(depth))
        self.mid = unit(chans[-1], bottleneck, norm, 2 if pooled else 2 ** depth)
        deeper = [chans[k + 1] for k in range(depth - 1)] + [bottleneck]
        self.up = nn.ModuleList(unit(chans[k] + deeper[k], chans[k], norm, dil[k]) for k in range(depth))
        self.out = unit(chans[0], n, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        skips = []
        y = h
        for k, conv in enumerate(self.down):
            if k and self.pooled:
                y = F.max_pool3d(y, 2)
            y = conv(y)
            skips.append(y)
        y = self.mid(F.max_pool3d(y, 2) if self.pooled else y)
        for k in reversed(range(len(self.up))):
            if self.pooled:
                y = up2(y)
            y = self.up[k](torch.cat([y, skips.pop()], 1))
        return _add(self.out(y), h)


class SubHead(nn.Module):
    """A fault sub-head: out(x + stack(x)), the stack `depth` convolutions of `width` x c channels
    (the last back to c; the reference: 4 convolutions, 2c)."""

    def __init__(self, c: int, cout: int, norm: str, depth: int = 4, width: int = 2) -> None:
        super().__init__()
        chans = [c] + [width * c] * (depth - 1) + [c]
        self.stack = nn.Sequential(*(unit(a, b, norm) for a, b in zip(chans[:-1], chans[1:])))
        self.out = nn.Conv3d(c, cout, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(_add(self.stack(x), x))


class Decoder(nn.Module):
    def __init__(self, cfg: MTLConfig, cout: int, last_kernel: int) -> None:
        super().__init__()
        w1, w2, w3 = cfg.widths
        self.block2 = UBlock(w2 + w3, w2, cfg.depths[1], cfg.bottleneck, cfg.norm, pooled=True)
        self.block1 = UBlock(w1 + w2, w1, cfg.depths[0], cfg.bottleneck, cfg.norm, pooled=True)
        self.head = nn.Sequential(nn.Conv3d(w1, w1, 3, padding=1), nn.Conv3d(w1, w1, 3, padding=1),
                                  nn.Conv3d(w1, cout, last_kernel, padding=last_kernel // 2))

    def trunk(self, e1: torch.Tensor, e2: torch.Tensor, e3: torch.Tensor) -> torch.Tensor:
        """The full-resolution features (w1 channels) before the head."""
        y = self.block2(torch.cat([up2(e3), e2], 1))
        return self.block1(torch.cat([up2(y), e1], 1))

    def forward(self, e1: torch.Tensor, e2: torch.Tensor, e3: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(e1, e2, e3))


class MTLNet(nn.Module):
    """MTI (refine=False: seismic in) or MTR (refine=True: the multitask outputs in); see the module doc."""

    def __init__(self, widths=(16, 32, 64), bottleneck: int = 256, depths=(3, 2, 3), norm: str = "instance",
                 refine: bool = False, stem: int = 4, head_depth: int = 4, head_width: int = 2,
                 rgt: str = "sigmoid", residual: bool = False) -> None:
        super().__init__()
        widths, depths = tuple(int(w) for w in widths), tuple(int(d) for d in depths)
        if norm not in NORMS:
            raise HpcfaultError(f"model norm must be one of {', '.join(NORMS)} (got {norm!r}); the reference uses instance")
        if rgt not in RGT_MODES:
            raise HpcfaultError(f"model rgt must be one of {', '.join(RGT_MODES)} (got {rgt!r}); the reference uses "
                                "sigmoid")
        if residual and (not refine or rgt != "sigmoid"):
            raise HpcfaultError(f"model residual is for the refinement network with rgt sigmoid (got refine {refine}, "
                                f"rgt {rgt!r}); use model mtl-refine without an rgt option")
        if len(depths) != 3 or min(depths) < 1 or max(depths) > 5:
            raise HpcfaultError(f"model depths must be three levels in 1..5 (got {list(depths)}); e.g. [3, 2, 3]")
        self.config = cfg = MTLConfig(widths, int(bottleneck), depths, norm, bool(refine), int(stem),
                                      int(head_depth), int(head_width), rgt, bool(residual))
        w1, w2, w3 = widths
        self.groups = output_groups()
        self.in_channels = sum(self.groups) if refine else 1
        self.size_multiple = max(2 ** depths[0], 2 ** (depths[1] + 1), 4)
        if refine:
            self.stems = nn.ModuleList(nn.Sequential(unit(g, stem, norm), unit(stem, stem, norm)) for g in self.groups)
        cin = stem * len(self.groups) if refine else 1
        self.enc1 = UBlock(cin, w1, depths[0], bottleneck, norm, pooled=True)
        self.enc2 = UBlock(w1, w2, depths[1], bottleneck, norm, pooled=True)
        self.enc3 = UBlock(w2, w3, depths[2], bottleneck, norm, pooled=False)
        self.fault = Decoder(cfg, w1, 3)
        sub = (int(head_depth), int(head_width))
        self.fault_prob = SubHead(w1, 1, "none", *sub)
        self.fault_dip = SubHead(w1, 2, norm, *sub)
        self.fault_strike = SubHead(w1, 2, norm, *sub)
        self.rgt = Decoder(cfg, 1, 1)
        if rgt == "integrated":      # lateral gradients of RGT (inline, xline) from the RGT decoder's features
            self.rgt_slope = SubHead(w1, 2, norm, *sub)
        self.dhr = Decoder(cfg, 1, 1)
        if residual:        # the last layers start near zero: the network starts near the identity of its input
            with torch.no_grad():   # (not at zero: every other layer's first gradient would be exactly 0)
                for conv in (self.fault_prob.out, self.fault_dip.out, self.fault_strike.out, self.rgt.head[-1],
                             self.dhr.head[-1]):
                    conv.weight.mul_(RESIDUAL_INIT)
                    conv.bias.zero_()

    def check(self, x: torch.Tensor) -> None:
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise HpcfaultError(f"model input must be (N, {self.in_channels}, time, inline, xline) (got shape "
                                f"{tuple(x.shape)}); " + ("give the multitask outputs' channels" if self.config.refine
                                                          else "add the batch and channel axes, e.g. x[None, None]"))
        if any(s % self.size_multiple or s == 0 for s in x.shape[2:]):
            raise HpcfaultError(f"model input sizes must be multiples of {self.size_multiple} (got {tuple(x.shape[2:])}); "
                                f"pad or crop each of time, inline, xline to a multiple of {self.size_multiple}")

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.config.refine:
            parts, k = [], 0
            for g, stem in zip(self.groups, self.stems):
                parts.append(stem(x[:, k:k + g]))
                k += g
            x = torch.cat(parts, 1)
            del parts
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool3d(e1, 2))
        e3 = self.enc3(F.max_pool3d(e2, 2))
        return e1, e2, e3

    def forward(self, x: torch.Tensor, frame=None) -> torch.Tensor:
        """`frame` (a block's place in the survey) is accepted and not needed: pooling and half-pixel
        trilinear 2x upsampling commute with shifts by multiples of `size_multiple`."""
        self.check(x)
        e1, e2, e3 = self.encode(x)
        feat = self.fault(e1, e2, e3)
        logit = self.fault_prob(feat)
        prev = self.split_input(x) if self.config.residual else None
        if prev is not None:
            logit = _add(logit, _logit(prev[0]))
        prob = torch.sigmoid(logit)
        del logit                   # a full-size channel the decoders' peak need not hold
        dip = _mul(self.fault_dip(feat), prob)
        strike = _mul(self.fault_strike(feat), prob)
        del feat
        rgt = self.rgt_output(e1, e2, e3, None if prev is None else prev[3])
        dhr = self.dhr(e1, e2, e3)
        if prev is not None:
            dip, strike, dhr = _add(dip, prev[1]), _add(strike, prev[2]), _add(dhr, prev[4])
        return torch.cat([prob, dip, strike, rgt, dhr], 1)

    def split_input(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The MTR's input split into the outputs' channel groups (fault, dip, strike, rgt, dhr)."""
        return list(torch.split(x, list(self.groups), dim=1))

    def rgt_output(self, e1: torch.Tensor, e2: torch.Tensor, e3: torch.Tensor,
                   prior: torch.Tensor | None = None) -> torch.Tensor:
        """RGT in the configured form; with a `prior` (a residual MTR's input RGT) sigmoid(raw + logit(prior))."""
        mode = self.config.rgt
        if prior is not None:
            return torch.sigmoid(_add(self.rgt(e1, e2, e3), _logit(prior)))
        if mode == "integrated":
            y = self.rgt.trunk(e1, e2, e3)
            return integrated_rgt(self.rgt.head(y), self.rgt_slope(y))
        raw = self.rgt(e1, e2, e3)
        return torch.sigmoid(raw) if mode == "sigmoid" else cumulative_rgt(raw)


def _logit(p: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """The inverse of the sigmoid, for probabilities and RGT in [0, 1] (clamped to [eps, 1 - eps])."""
    p = p.clamp(eps, 1.0 - eps)
    return torch.log(p) - torch.log1p(-p)


def cumulative_rgt(raw: torch.Tensor) -> torch.Tensor:
    """RGT that increases down every trace by construction: the running sum along time of positive
    increments softplus(raw) (the first sample's is the trace's value at the top of the block, so
    dipping layers start at different values), divided by its largest value in each block. RGT is
    relative and scaled over each training cube, and the engine fits a scale and an offset per block,
    so only the shape matters; the division makes the output scale-free, in (0, 1]."""
    r = torch.cumsum(F.softplus(raw), dim=2)
    return r / r.amax(dim=(2, 3, 4), keepdim=True).clamp_min(1e-6)


def _dct_basis(n: int, like: torch.Tensor) -> torch.Tensor:
    """The orthonormal DCT-II matrix of size n (rows: frequencies), float64 on `like`'s device."""
    k = torch.arange(n, dtype=torch.float64, device=like.device)
    m = torch.cos(torch.pi * (k[None, :] + 0.5) * k[:, None] / n) * (2.0 / n) ** 0.5
    m[0] /= 2.0 ** 0.5
    return m


def integrate_lateral(gi: torch.Tensor, gx: torch.Tensor) -> torch.Tensor:
    """The field u (N, I, X) whose forward differences best match gi (N, I-1, X) along inline and gx
    (N, I, X-1) along crossline in the least-squares sense, with zero mean: the normal equations are
    the Neumann Laplacian, diagonal in the DCT-II basis (exact, differentiable, O(I X (I + X)))."""
    n, ni, nx = gi.shape[0], gi.shape[1] + 1, gx.shape[2] + 1
    z = gi.new_zeros((n, 1, nx))
    rhs = torch.cat([z, gi], 1) - torch.cat([gi, z], 1)            # D_i^T gi
    z = gx.new_zeros((n, ni, 1))
    rhs = rhs + torch.cat([z, gx], 2) - torch.cat([gx, z], 2)      # + D_x^T gx
    ci, cx = _dct_basis(ni, gi), _dct_basis(nx, gx)
    lam_i = 2.0 - 2.0 * torch.cos(torch.pi * torch.arange(ni, dtype=torch.float64, device=gi.device) / ni)
    lam_x = 2.0 - 2.0 * torch.cos(torch.pi * torch.arange(nx, dtype=torch.float64, device=gx.device) / nx)
    lam = lam_i[:, None] + lam_x[None, :]
    lam[0, 0] = 1.0                                                # the constant: set to zero below
    spec = ci @ rhs.double() @ cx.T / lam
    spec[:, 0, 0] = 0.0
    return (ci.T @ spec @ cx).to(gi.dtype)


def integrated_rgt(raw: torch.Tensor, slope: torch.Tensor) -> torch.Tensor:
    """RGT from local quantities only: C, the running sum down each trace of positive increments
    softplus(raw) (N, 1, T, I, X), plus one value u per trace, u chosen so that the lateral
    differences of u + C best match the predicted lateral gradients `slope` (N, 2, T, I, X: d/d inline,
    d/d crossline, per trace) over the whole block in the least-squares sense (integrate_lateral);
    scaled to [0, 1] over the block. Still monotonic down every trace; the offsets of dipping and
    faulted layers between traces, which no voxel sees, come out of local slopes."""
    c = torch.cumsum(F.softplus(raw[:, 0]), dim=1)                  # (N, T, I, X)
    g = slope.float()
    gi = 0.5 * (g[:, 0, :, 1:, :] + g[:, 0, :, :-1, :]) - (c[:, :, 1:, :] - c[:, :, :-1, :])
    gx = 0.5 * (g[:, 1, :, :, 1:] + g[:, 1, :, :, :-1]) - (c[:, :, :, 1:] - c[:, :, :, :-1])
    u = integrate_lateral(gi.mean(1), gx.mean(1))                   # (N, I, X)
    r = c + u[:, None]
    lo = r.amin(dim=(1, 2, 3), keepdim=True)
    hi = r.amax(dim=(1, 2, 3), keepdim=True)
    return ((r - lo) / (hi - lo).clamp_min(1e-6))[:, None]


def refine_chain(mti: nn.Module, mtr: nn.Module, x: torch.Tensor, iterations: int) -> list[torch.Tensor]:
    """The MTI output of `x` and its refinements: [mti(x), mtr(mti(x)), mtr(mtr(mti(x))), ...]
    (iterations + 1 tensors of the multitask channels, each decodable with hpcfault.tasks.decode)."""
    ys = [mti(x)]
    for _ in range(int(iterations)):
        ys.append(mtr(ys[-1]))
    return ys
