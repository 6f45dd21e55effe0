"""Training losses for fault segmentation from sparse, partly wrong labels.

All losses take `pred` = probabilities (the models end in a sigmoid), `target` in {0, 1} and a label
mask `mask` (1 = this voxel is labelled, 0 = unknown, e.g. every inline but the labelled ones), all
of the same shape, and return a scalar tensor. Voxels with mask = 0 contribute nothing, and their
gradient is exactly zero.

MD loss (Mask Dice, Dou et al. 2021, eq. 12), with gamma in [0.5, 1):

    L_MD = 1 - sum(M * p * y) / sum(M * ((1 - gamma) * p + gamma * y))

gamma = 0.5 is the plain masked Dice loss (1 - 2 sum(Mpy) / sum(M(p + y))). Write I = sum(Mpy) and
D = sum(M((1 - gamma)p + gamma y)). On a labelled background voxel (y = 0)

    dL/dp = (1 - gamma) * I / D**2        and, through p = sigmoid(z),
    dL/dz = (1 - gamma) * I / D**2 * p * (1 - p)

so the push towards "no fault" on a background voxel carries the factor (1 - gamma), and on a
false-negative label (a real fault labelled 0, where the network says p -> 1) it vanishes with
p(1 - p). Binary cross-entropy instead has dL/dz = p - y per voxel, i.e. about p -> 1 on such a
voxel: a wrong label keeps pulling at full strength. This is the argument of the paper (its eqs. 3
and 14), checked numerically in tests/test_losses.py.

lambda-BCE: the class-balanced cross-entropy of FaultSeg3D (Wu et al. 2019), restricted to labelled
voxels. With lambda = (labelled background voxels) / (labelled voxels),

    L = mean over labelled voxels of [ -lambda * y * log p - (1 - lambda) * (1 - y) * log(1 - p) ]

so the rare fault class weighs lambda and the background 1 - lambda. Probabilities are clamped to
[eps, 1 - eps]. A batch without labelled faults has lambda = 1 and loss 0 (as in FaultSeg3D).
"""
from __future__ import annotations

from typing import Any, Callable

from hpcfault.errors import HpcfaultError

EPS = 1e-7          # added to MD / Dice denominators
PROB_EPS = 1e-7     # BCE clamps probabilities to [PROB_EPS, 1 - PROB_EPS]
LOSSES = ("md", "bce", "dice", "lovasz")


def _as_float32(pred: Any) -> Any:
    """Half-precision predictions (autocast) are summed in float32: fp16 sums overflow at 65504."""
    import torch

    return pred.float() if pred.dtype in (torch.float16, torch.bfloat16) else pred


def _check(pred: Any, target: Any, mask: Any) -> None:
    if target.shape != pred.shape or (mask is not None and mask.shape != pred.shape):
        raise HpcfaultError(
            f"loss inputs differ in shape (got pred {tuple(pred.shape)}, target {tuple(target.shape)}, "
            f"mask {None if mask is None else tuple(mask.shape)}); pass arrays of one shape")


def check_gamma(gamma: float) -> float:
    gamma = float(gamma)
    if not 0.5 <= gamma < 1.0:
        raise HpcfaultError(
            f"MD loss gamma must lie in [0.5, 1) (got {gamma}); 0.5 is plain masked Dice, "
            "the paper uses 0.5, 0.6 and 0.7")
    return gamma


def md_loss(pred: Any, target: Any, mask: Any = None, gamma: float = 0.7, eps: float = EPS) -> Any:
    """Mask Dice loss (paper eq. 12). `mask=None` means every voxel is labelled."""
    gamma = check_gamma(gamma)
    _check(pred, target, mask)
    pred = _as_float32(pred)
    target = target.to(pred.dtype)
    m = 1.0 if mask is None else mask.to(pred.dtype)
    inter = (m * pred * target).sum()
    denom = (m * ((1.0 - gamma) * pred + gamma * target)).sum()
    return 1.0 - inter / (denom + eps)


def dice_loss(pred: Any, target: Any, mask: Any = None, eps: float = EPS) -> Any:
    """Soft Dice loss 1 - 2 sum(Mpy) / sum(M(p + y)); the same as md_loss with gamma = 0.5."""
    return md_loss(pred, target, mask, gamma=0.5, eps=eps)


def bce_loss(pred: Any, target: Any, mask: Any = None, balanced: bool = True,
             eps: float = PROB_EPS, pos_weight: float = 1.0) -> Any:
    """Masked binary cross-entropy, class-balanced (lambda-BCE) unless `balanced=False`.

    The mean runs over labelled voxels only; with no labelled voxel the loss is 0 (and so are the
    gradients). With `balanced=False` every labelled background voxel weighs 1 and every labelled
    fault voxel `pos_weight`, so dL/dz = (p - y) / n_labelled when pos_weight is 1.
    """
    import torch

    _check(pred, target, mask)
    pred = _as_float32(pred)
    target = target.to(pred.dtype)
    m = torch.ones_like(pred) if mask is None else mask.to(pred.dtype)
    p = pred.clamp(eps, 1.0 - eps)
    n = m.sum()
    pos = -target * torch.log(p)
    neg = -(1.0 - target) * torch.log1p(-p)
    if balanced:
        lam = ((m * (1.0 - target)).sum() / n.clamp_min(1.0)).detach()
        per_voxel = lam * pos + (1.0 - lam) * neg
    else:
        per_voxel = (pos if pos_weight == 1.0 else pos_weight * pos) + neg
    return (m * per_voxel).sum() / n.clamp_min(1.0)


def lovasz_hinge(pred: Any, target: Any, mask: Any = None, eps: float = 1e-6) -> Any:
    """Lovasz hinge loss (Berman et al. 2018) of one image or cube: the Lovasz extension of the
    Jaccard loss applied to the hinge errors 1 - z s of the logits z (s = +1 on salt, -1 off it),
    over the masked voxels. It optimises IoU directly, as the TGS winners did after BCE/Dice.

    The models end in a sigmoid, so z = logit(p) with p clamped to [eps, 1 - eps] (|z| <= 13.8);
    voxels wrong beyond that clamp get no gradient. The errors are sorted in decreasing order and
    weighed by the increments of the Jaccard loss along that order (`lovasz_grad`); an image with
    no salt pays its largest error only."""
    import torch

    _check(pred, target, mask)
    pred = _as_float32(pred)
    p = pred.clamp(eps, 1.0 - eps)
    z = torch.log(p) - torch.log1p(-p)
    y = target.to(pred.dtype)
    if mask is not None:
        keep = mask.reshape(-1) > 0
        z, y = z.reshape(-1)[keep], y.reshape(-1)[keep]
    z, y = z.reshape(-1), y.reshape(-1)
    if z.numel() == 0:
        return pred.sum() * 0.0
    errors = 1.0 - z * (2.0 * y - 1.0)
    errors, order = torch.sort(errors, descending=True)
    return torch.dot(torch.relu(errors), lovasz_grad(y[order]))


def lovasz_grad(sorted_truth: Any) -> Any:
    """Increments of the Jaccard loss 1 - |y n p| / |y u p| as the predicted set grows along the
    sorted order (the gradient of its Lovasz extension)."""
    import torch

    total = sorted_truth.sum()
    inter = total - sorted_truth.cumsum(0)
    union = total + (1.0 - sorted_truth).cumsum(0)
    jaccard = 1.0 - inter / union
    return torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])


def build_loss(name: str, **kw: Any) -> Callable[..., Any]:
    """A loss by name: 'md' (keyword gamma), 'bce' (keyword balanced), 'dice' or 'lovasz'; md and dice also take
    `bce_weight` (adds that times the masked BCE with fault voxels weighed `pos_weight`, which still
    teaches on cubes without faults).

    Returns a callable `loss(pred, target, mask)` -> scalar tensor.
    """
    key = str(name).lower().replace("-", "").replace("_", "")
    bce_weight = float(kw.pop("bce_weight", 0.0)) if key in ("md", "maskdice", "dice") else 0.0
    pos_weight = float(kw.pop("pos_weight", 1.0)) if key in ("md", "maskdice", "dice") else 1.0
    if bce_weight:
        base = build_loss(name, **kw)
        return lambda pred, target, mask=None: (base(pred, target, mask) + bce_weight * bce_loss(
            pred, target, mask, balanced=False, pos_weight=pos_weight))
    if key in ("md", "maskdice"):
        gamma = check_gamma(kw.pop("gamma", 0.7))
        _no_extra(name, kw)
        return lambda pred, target, mask=None: md_loss(pred, target, mask, gamma=gamma)
    if key in ("bce", "lambdabce", "balancedbce"):
        balanced = bool(kw.pop("balanced", True))
        _no_extra(name, kw)
        return lambda pred, target, mask=None: bce_loss(pred, target, mask, balanced=balanced)
    if key == "dice":
        _no_extra(name, kw)
        return lambda pred, target, mask=None: dice_loss(pred, target, mask)
    if key in ("lovasz", "lovaszhinge"):
        _no_extra(name, kw)
        return lovasz_hinge
    raise HpcfaultError(f"unknown loss (got {name!r}); valid losses: {', '.join(LOSSES)}")


def _no_extra(name: str, kw: dict) -> None:
    if kw:
        raise HpcfaultError(
            f"loss {name!r} takes no option(s) {sorted(kw)}; md takes gamma and bce_weight, bce takes balanced, "
        "dice bce_weight, lovasz nothing")


# -- losses of other output kinds (tasks beyond faults) ------------------------------------------------
def masked_mean(per_voxel: Any, mask: Any) -> Any:
    """Mean of `per_voxel` over the voxels where mask = 1 (0 when there is none)."""
    if mask is None:
        return per_voxel.mean()
    m = mask.to(per_voxel.dtype)
    return (per_voxel * m).sum() / m.sum().clamp_min(1.0)


def l1_loss(pred: Any, target: Any, mask: Any = None) -> Any:
    _check(pred, target, mask)
    return masked_mean((_as_float32(pred) - target).abs(), mask)


def mse_loss(pred: Any, target: Any, mask: Any = None) -> Any:
    _check(pred, target, mask)
    return masked_mean((_as_float32(pred) - target) ** 2, mask)


def angle_l1_loss(pred: Any, degrees: Any, mask: Any = None, period: float = 180.0) -> Any:
    """L1 distance between a model's two angle channels pred (N, 2, ...) and the unit vector of the
    angle `degrees` (N, 1, ...) at 2 pi a / period, averaged over the masked voxels. Smooth across
    the wrap (179 and 1 degree are close), unlike an L1 on degrees."""
    from hpcfault.tasks.decode import encode_angle

    pred = _as_float32(pred)
    c, s = encode_angle(degrees.to(pred.dtype), period)
    per_voxel = (pred[:, 0:1] - c).abs() + (pred[:, 1:2] - s).abs()
    return masked_mean(per_voxel, mask)


SSIM_SIGMA = 1.5       # gaussian window of SSIM (as in Wang et al. 2004), truncated at SSIM_RADIUS
SSIM_RADIUS = 5
SSIM_K = (0.01, 0.03)


def ssim_window(sigma: float = SSIM_SIGMA, radius: int = SSIM_RADIUS):
    """The normalized 1D gaussian of the SSIM window (numpy, float64)."""
    import numpy as np

    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def ssim_map(pred: Any, target: Any, data_range: float = 1.0) -> Any:
    """Local SSIM of two (N, 1, T, I, X) tensors with the separable gaussian window, on the voxels
    whose whole window lies inside (each size shrinks by 2 * SSIM_RADIUS)."""
    import torch
    import torch.nn.functional as F

    w = torch.as_tensor(ssim_window(), dtype=pred.dtype, device=pred.device)
    k = w.numel()
    stack = torch.cat([pred, target, pred * pred, target * target, pred * target], 1)
    for axis in range(3):
        shape = [1, 1, 1]
        shape[axis] = k
        stack = F.conv3d(stack, w.view(1, 1, *shape).expand(5, 1, *shape), groups=5)
    mx, my, mxx, myy, mxy = stack.unbind(1)
    c1, c2 = (SSIM_K[0] * data_range) ** 2, (SSIM_K[1] * data_range) ** 2
    sxx, syy, sxy = mxx - mx * mx, myy - my * my, mxy - mx * my
    out = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return out[:, None]


def ssim_l1_loss(pred: Any, target: Any, mask: Any = None, data_range: float = 1.0) -> Any:
    """(1 - SSIM) + L1 (the RGT loss of Gao 2024, there weighed 5): the SSIM map's mean over the
    voxels whose window lies inside the cube (and inside the mask at its centre), plus the masked L1."""
    _check(pred, target, mask)
    pred = _as_float32(pred)
    target = target.to(pred.dtype)
    if min(pred.shape[2:]) <= 2 * SSIM_RADIUS:
        raise HpcfaultError(f"ssim-l1 needs cubes larger than {2 * SSIM_RADIUS} voxels (got {tuple(pred.shape[2:])}); "
                            "use a larger data.cube")
    r = SSIM_RADIUS
    inner = None if mask is None else mask[:, :, r:-r, r:-r, r:-r]
    return 1.0 - masked_mean(ssim_map(pred, target, data_range), inner) + l1_loss(pred, target, mask)


def gradient_l1_loss(pred: Any, target: Any, mask: Any = None) -> Any:
    """L1 distance of the finite differences of pred and target along time, inline and crossline,
    each in units of the cube's edge along that axis (a difference times the size: values in [0, 1]
    that span the cube differ by about 1 per cube), averaged over the three axes, on the pairs of
    voxels both inside the mask. Local and shift-invariant: for RGT it asks for the layers' slope
    and spacing voxel by voxel, which the value terms only ask for through the whole cube."""
    _check(pred, target, mask)
    pred = _as_float32(pred)
    target = target.to(pred.dtype)
    total = 0.0
    for axis in (2, 3, 4):
        n = pred.shape[axis]
        dp, dt = pred.diff(dim=axis), target.diff(dim=axis)
        m = None
        if mask is not None:
            m = mask.narrow(axis, 0, n - 1) * mask.narrow(axis, 1, n - 1)
        total = total + masked_mean((dp - dt).abs(), m) * float(n)
    return total / 3.0


def ssim_l1_grad_loss(pred: Any, target: Any, mask: Any = None, data_range: float = 1.0) -> Any:
    """ssim-l1 plus gradient_l1_loss (`ssim-l1-grad`)."""
    return ssim_l1_loss(pred, target, mask, data_range) + gradient_l1_loss(pred, target, mask)


def target_loss(name: str, period: float = 0.0, **options: Any) -> Callable[..., Any]:
    """The loss `name` of a task target as `loss(pred_channels, label, mask)`; probability losses
    (md, dice, bce) take their options, angle-l1 the angle's period; ssim-l1 is (1 - 3D SSIM) + L1
    for values in [0, 1] (RGT), ssim-l1-grad adds the L1 of their finite differences."""
    if name in ("md", "dice", "bce", "lovasz"):
        return build_loss(name, **options)
    if options:
        _no_extra(name, options)
    if name == "l1":
        return l1_loss
    if name == "mse":
        return mse_loss
    if name == "angle-l1":
        return lambda pred, target, mask=None: angle_l1_loss(pred, target, mask, period)
    if name == "ssim-l1":
        return ssim_l1_loss
    if name == "ssim-l1-grad":
        return ssim_l1_grad_loss
    raise HpcfaultError(f"unknown target loss (got {name!r}); valid: md, dice, bce, l1, mse, ssim-l1, ssim-l1-grad, "
                        "angle-l1")
