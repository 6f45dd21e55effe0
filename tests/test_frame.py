"""Survey-grid resampling (hpcfault/models/frame.py): a block resamples as the whole survey does."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hpcfault.models.frame import Frame, resize
from tests.conftest import shared_path


def _whole_up(x: torch.Tensor, factor: int) -> torch.Tensor:
    return F.interpolate(x, scale_factor=float(factor), mode="trilinear", align_corners=True)


def test_identity_frame_rows_equal_interpolate():
    x = torch.rand(1, 8, 8, 16, 16, dtype=torch.float32)
    want = _whole_up(x, 2)
    for rows in [(0, 16), (3, 11), (14, 16)]:
        got = resize(x, (16, 32, 32), rows=rows)
        torch.testing.assert_close(got, want[:, :, rows[0]:rows[1]], rtol=0, atol=2e-6)
    assert resize(x, (16, 32, 32)).equal(want)      # no frame, no rows: F.interpolate itself


@pytest.mark.parametrize("factor", [2, 4])
def test_block_resampling_equals_the_whole_survey_away_from_its_border(factor):
    """A block of a 192x128x160 survey (level 1/(4*factor) -> 1/4) resamples like the whole survey."""
    survey, block, offset = (192, 128, 160), (96, 64, 96), (64, 32, 32)
    coarse_of = lambda shape: tuple(s // 4 // factor for s in shape)  # noqa: E731 - the coarse level
    fine_of = lambda shape: tuple(s // 4 for s in shape)              # noqa: E731
    xc = torch.rand(1, 3, *coarse_of(survey), dtype=torch.float64)
    whole = F.interpolate(xc, size=fine_of(survey), mode="trilinear", align_corners=True)
    c0 = [o // 4 // factor for o in offset]
    part = xc[:, :, c0[0]:c0[0] + block[0] // 4 // factor, c0[1]:c0[1] + block[1] // 4 // factor,
              c0[2]:c0[2] + block[2] // 4 // factor].contiguous()
    got = resize(part, fine_of(block), Frame(offset, block, survey))
    f0 = [o // 4 for o in offset]
    want = whole[:, :, f0[0]:f0[0] + block[0] // 4, f0[1]:f0[1] + block[1] // 4, f0[2]:f0[2] + block[2] // 4]
    inner = (slice(None), slice(None)) + tuple(slice(factor, n - factor) for n in fine_of(block))
    torch.testing.assert_close(got[inner], want[inner], rtol=0, atol=1e-6)   # float32 weights
    plain = F.interpolate(part, size=fine_of(block), mode="trilinear", align_corners=True)
    assert float((plain[inner] - want[inner]).abs().max()) > 1e-3           # what the frame fixes


def test_channels_last_stays_channels_last():
    x = torch.rand(1, 8, 4, 4, 4).contiguous(memory_format=torch.channels_last_3d)
    y = resize(x, (16, 16, 16), Frame((16, 0, 0), (16, 16, 16), (48, 16, 16)))
    assert y.shape == (1, 8, 16, 16, 16) and y.is_contiguous(memory_format=torch.channels_last_3d)


def test_frames_off_the_grid_are_refused():
    with pytest.raises(ValueError, match="16-voxel grid"):
        Frame((8, 0, 0), (32, 32, 32), (64, 32, 32))
    with pytest.raises(ValueError, match="16-voxel grid"):
        Frame((48, 0, 0), (32, 32, 32), (64, 32, 32))


@pytest.mark.shared
@pytest.mark.slow
def test_published_faultnet_block_matches_the_whole_forward(torch_one_thread):
    """Published gamma 0.7 weights: a 192^3 corner block of a 256^3 synthetic against the whole forward.

    Beyond the receptive field (168 voxels from the cut faces) the survey-grid block equals the whole
    forward; 64-127 voxels away it is several times closer than block-local resampling."""
    from hpcfault.data.synth import synthesize
    from hpcfault.data.synth_config import synth_config
    from hpcfault.models.fuse import prepare_for_inference
    from hpcfault.models.published import import_published
    from hpcfault.normalize import normalizer_from, stats_of

    torch.set_num_threads(2)
    model, *_ = import_published(shared_path("weights", "FaultNet_Gamma0.7.pt"), check_shape=None)
    model = prepare_for_inference(model)
    vol = synthesize((256, 256, 256), 5, synth_config("classic"))[0]
    x = torch.from_numpy(normalizer_from(stats_of(vol)).apply(vol))[None, None]
    x = x.contiguous(memory_format=torch.channels_last_3d)
    corner = x[..., :192, :192, :192].contiguous(memory_format=torch.channels_last_3d)
    with torch.inference_mode():
        whole = model(x)[0, 0, :192, :192, :192].numpy()
        framed = model(corner, Frame((0, 0, 0), (192,) * 3, (256,) * 3))[0, 0].numpy()
        local = model(corner)[0, 0].numpy()
    i = np.arange(192)
    dist = np.minimum.outer(np.minimum.outer(191 - i, 191 - i), 191 - i)   # to the nearest cut face
    far, mid = dist >= 168, (dist >= 64) & (dist < 128)
    assert np.abs(framed - whole)[far].max() < 1e-5
    assert np.abs(framed - whole)[mid].mean() < 0.3 * np.abs(local - whole)[mid].mean()
