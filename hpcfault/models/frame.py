"""Where a block sits in the survey, so that a tiled forward resamples on the whole survey's grid.

Fault-Net upsamples with trilinear interpolation and align_corners=True, as published. That mapping,
source = target * (n_in - 1) / (n_out - 1), depends on the tensor sizes: the same voxel is sampled
at a different sub-voxel phase in a 128^3 block than in a whole-survey forward (up to half a coarse
voxel apart, i.e. up to 8 voxels of shift for the 1/16 branch), and this network's output is
nearly binary, so phase differences flip voxels far from any block border. Measured with the
published gamma 0.7 weights (a 192^3 corner block of a 256^3 synthetic against the whole forward):
at 72-79 voxels from the cut faces the mean difference is 1.5e-2 with block-local resampling and
1.6e-3 with the survey's grid; beyond the network's receptive field (168 voxels) the survey-grid
block equals the whole forward to 1e-10.

A `Frame` gives a block's offset in the survey, its input shape and the survey's shape (both padded
to the model's multiple of 16). `resize` computes the align_corners=True trilinear resampling the
whole-survey forward would do, restricted to this block: separable linear interpolation with the
source coordinates computed in the survey's frame (float64, then float32 weights). Sources outside
the block are clamped to its edge: a border effect like the convolutions' zero padding, which the
block overlap absorbs. With no frame, or a frame that is the whole survey, it is F.interpolate.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from hpcfault.models.memory import BLOCK_MULTIPLE as ALIGN   # blocks start and end on this grid


@dataclass(frozen=True)
class Frame:
    offset: tuple[int, int, int]   # the block's first input voxel in the (padded) survey
    block: tuple[int, int, int]    # model input shape of the block
    survey: tuple[int, int, int]   # survey shape rounded up to multiples of 16

    def __post_init__(self) -> None:
        for o, b, s in zip(self.offset, self.block, self.survey):
            if o % ALIGN or b % ALIGN or s % ALIGN or o < 0 or o + b > s:
                raise ValueError(f"block frame must lie on the 16-voxel grid inside the survey (got {self})")

    @property
    def whole(self) -> bool:
        return self.block == self.survey


def _axis_weights(n_out: int, n_in: int, axis: int, frame: Frame, rows: tuple[int, int] | None):
    """Source indices (i0, i1) and weights w of output voxels `rows` (default all) along `axis`."""
    f_out, f_in = frame.block[axis] // n_out, frame.block[axis] // n_in
    g_out, g_in = frame.survey[axis] // f_out, frame.survey[axis] // f_in
    scale = (g_in - 1) / (g_out - 1) if g_out > 1 else 0.0
    lo, hi = rows if rows is not None else (0, n_out)
    src = (np.arange(lo, hi, dtype=np.float64) + frame.offset[axis] // f_out) * scale - frame.offset[axis] // f_in
    src = np.clip(src, 0.0, n_in - 1)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return torch.from_numpy(i0), torch.from_numpy(i1), torch.from_numpy((src - i0).astype(np.float32))


def resize(x: torch.Tensor, size, frame: Frame | None = None, rows: tuple[int, int] | None = None) -> torch.Tensor:
    """Trilinear align_corners=True resize of (N, C, D, H, W) `x` to spatial `size`, on the survey grid.

    `rows` restricts the output to [lo, hi) along the first spatial axis (the slab-wise head); with
    rows and no frame, `size` must be the block's input shape.
    The result keeps the memory format of `x` (channels_last_3d stays channels-last).
    """
    size = tuple(int(s) for s in size)
    if rows is None and (frame is None or frame.whole):
        return F.interpolate(x, size=size, mode="trilinear", align_corners=True)
    if frame is None:   # rows of a whole-block resize: `size` is then the block's input shape
        frame = Frame((0, 0, 0), size, size)
    channels_last = x.is_contiguous(memory_format=torch.channels_last_3d) and x.shape[1] > 1
    y = x.permute(0, 2, 3, 4, 1) if channels_last else x   # index_select keeps (N, D, H, W, C) contiguous
    for axis in (0, 2, 1):   # the (row-restricted) time axis first; xline before inline: measured 1.5x
        dim = 1 + axis if channels_last else 2 + axis
        i0, i1, w = _axis_weights(size[axis], x.shape[2 + axis], axis, frame, rows if axis == 0 else None)
        shape = [1] * y.dim()
        shape[dim] = w.numel()
        device = y.device
        a = y.index_select(dim, i0.to(device))
        a.lerp_(y.index_select(dim, i1.to(device)), w.to(device=device, dtype=y.dtype).reshape(shape))
        y = a
    return y.permute(0, 4, 1, 2, 3) if channels_last else y
