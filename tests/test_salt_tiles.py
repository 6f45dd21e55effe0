"""Training tiles of 2D section models: augmentation moves image, labels and mask together; the
sources cut sections and fit TGS tiles; the tile stream is a pure function of (seed, index)."""
from __future__ import annotations

import numpy as np
import pytest

from hpcfault.data.augment2d import Augment2DConfig, augment_tile, elastic_coords, optical_coords
from hpcfault.errors import HpcfaultError


def _marked(shape=(40, 40)):
    """An image whose value encodes the label: label = image > 0.5 exactly, before and after warps."""
    rng = np.random.default_rng(0)
    lab = np.zeros(shape, np.float32)
    lab[5:20, 8:30] = 1
    lab[25:35, 2:9] = 1
    img = np.where(lab > 0, 0.9, 0.1).astype(np.float32) + rng.uniform(-0.05, 0.05, shape).astype(np.float32)
    return {"seismic": img, "salt": lab, "mask": np.ones(shape, np.float32)}


@pytest.mark.parametrize("seed", range(6))
def test_every_geometric_transform_moves_image_and_mask_together(seed):
    cfg = Augment2DConfig(hflip=True, vflip=True, rot90=True, transpose=True, optical_prob=1.0, elastic_prob=1.0,
                          scale=(1.0, 1.0), noise_prob=0.0)
    out = augment_tile(_marked(), np.random.default_rng(seed), cfg)
    assert set(np.unique(out["salt"])) <= {0.0, 1.0} and out["seismic"].dtype == np.float32
    agree = (out["seismic"] > 0.5) == (out["salt"] > 0.5)
    assert agree.mean() > 0.97                      # only pixels on the boundary may differ (linear vs nearest)
    assert 0 <= out["seismic"].min() and out["seismic"].max() <= 1


def test_flips_alone_are_exact_and_distortions_move_pixels():
    a = _marked()
    cfg = Augment2DConfig(hflip=True, scale=(1.0, 1.0), noise_prob=0.0)
    seen = set()
    for seed in range(8):
        out = augment_tile(a, np.random.default_rng(seed), cfg)
        flipped = np.array_equal(out["salt"], a["salt"][:, ::-1])
        assert flipped or np.array_equal(out["salt"], a["salt"])
        assert np.array_equal(out["seismic"], a["seismic"][:, ::-1] if flipped else a["seismic"])
        seen.add(flipped)
    assert seen == {True, False}
    ident = optical_coords((9, 9), 0.0)
    assert np.allclose(ident, np.indices((9, 9)))
    barrel = optical_coords((9, 9), 0.3)
    assert np.allclose(barrel[:, 4, 4], [4, 4]) and barrel[1, 4, 8] > 8     # the centre stays, the edge moves out
    field = elastic_coords((30, 30), np.random.default_rng(1), 5.0, 4.0) - np.indices((30, 30))
    assert 4.9 < np.abs(field).max() <= 5.0 + 1e-9


def test_tgs_tiles_are_padded_with_a_zero_loss_mask_or_resized(tmp_path):
    from hpcfault.data.tiles import TgsTiles
    from hpcfault.io.tgs import rle_encode, write_png

    (tmp_path / "train" / "images").mkdir(parents=True)
    rows = ["id,rle_mask"]
    for k in range(20):
        m = np.zeros((101, 101), np.uint8)
        m[60:, : 10 * k // 2] = 1
        write_png(tmp_path / "train" / "images" / f"t{k:02d}.png", (m * 200 + 30).astype(np.uint8))
        rows.append(f"t{k:02d},{rle_encode(m)}")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    pad = TgsTiles(tmp_path, "all", "pad")
    img, lab, keep = pad.fitted(pad.tiles.images[5], pad.tiles.masks[5], (128, 128), None)
    assert img.shape == lab.shape == keep.shape == (128, 128)
    assert keep[:101, :101].all() and not keep[101:].any() and not keep[:, 101:].any()
    assert np.array_equal(lab[:101, :101], pad.tiles.masks[5]) and np.allclose(img[:101, :101] * 255, pad.tiles.images[5])
    assert np.array_equal(img[101:104, :101], img[99:96:-1, :101])            # reflected, not zeros
    big = TgsTiles(tmp_path, "all", "resize")
    img, lab, keep = big.fitted(big.tiles.images[5], big.tiles.masks[5], (128, 128), None)
    assert img.shape == (128, 128) and keep.all() and abs(lab.mean() - pad.tiles.masks[5].mean()) < 0.02
    assert len(TgsTiles(tmp_path, "train").tiles.ids) + len(TgsTiles(tmp_path, "val").tiles.ids) \
        + len(TgsTiles(tmp_path, "test").tiles.ids) == 20
    with pytest.raises(HpcfaultError, match="valid: pad, resize"):
        TgsTiles(tmp_path, "all", "stretch")


def test_the_tile_stream_is_reproducible_and_sharded():
    from hpcfault.data.synth_config import synth_config
    from hpcfault.data.tiles import SyntheticSections, TileSampler

    def sampler(rank=0, world=1):
        src = SyntheticSections((64, 64, 80), seed=4, config=synth_config("salt"))
        return TileSampler([src], tile=(64, 48), seed=9, rank=rank, world_size=world)

    one = sampler().batch(4)
    assert one["seismic"].shape == (4, 1, 64, 48) and set(one) == {"seismic", "salt", "mask"}
    r0, r1 = sampler(0, 2).batch(2), sampler(1, 2).batch(2)
    assert np.array_equal(one["seismic"][0], r0["seismic"][0]) and np.array_equal(one["seismic"][1], r1["seismic"][0])
    assert np.array_equal(one["salt"][3], r1["salt"][1])
    s = sampler()
    s.batch(3)
    state = s.state_dict()
    again = sampler()
    again.load_state_dict(state)
    assert np.array_equal(again.batch(1)["seismic"][0], one["seismic"][3])
    with pytest.raises(HpcfaultError, match="larger than the sections"):
        TileSampler([SyntheticSections((64, 64, 64))], tile=(128, 128))
