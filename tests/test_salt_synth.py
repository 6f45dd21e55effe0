"""The synthetic salt generator: bodies render box by box, the salt shows in the seismic (strong
top/base reflections, a quiet interior), faults end at salt, and volumes without salt are the
volumes the generator made before salt existed."""
from __future__ import annotations

import numpy as np
import pytest

from hpcfault.data.synth import SynthModel
from hpcfault.data.synth_config import synth_config


def test_a_sub_box_renders_like_the_same_box_of_the_whole():
    cfg = synth_config("salt", ["salt.count=[2,2]", "salt.none_prob=0", "salt.layer_prob=1"])
    m = SynthModel((48, 40, 36), 5, cfg)
    whole = m.render_volumes()
    box = (slice(9, 40), slice(3, 30), slice(20, 36))
    part = m.render_volumes(*box)
    for k in ("seismic", "salt", "labels"):
        assert np.array_equal(part[k], whole[k][box]), k
    assert 0 < whole["salt"].mean() < 1 and set(np.unique(whole["salt"])) == {0, 1}


@pytest.mark.parametrize("kind", ["dome", "diapir", "sheet"])
def test_salt_reflects_at_its_top_and_is_quiet_inside(kind):
    """With a short wavelet (Ricker 30-40 Hz): salt voxels 8 or more voxels from the boundary are
    quieter than the sediments, the top of salt louder than the sediments' strong reflections."""
    from scipy.ndimage import distance_transform_edt

    cfg = synth_config("salt", [f"salt.kinds=[{kind}]", "salt.count=[1,1]", "salt.none_prob=0", "salt.layer_prob=0",
                                "noise.clean_prob=1", "faults.count=[0,0]", "amplitude.gain_prob=0",
                                "wavelet.kinds=[ricker]", "wavelet.peak_hz=[30,40]", "wavelet.phase_prob=0",
                                "wavelet.decay_prob=0"])
    found = 0
    for seed in range(6):
        v = SynthModel((96, 80, 80), seed, cfg).render_volumes()
        salt = v["salt"] > 0
        amp = np.abs(v["seismic"])
        depth_in, depth_out = distance_transform_edt(salt), distance_transform_edt(~salt)
        inner = depth_in >= 8
        if salt.sum() < 200:
            continue
        found += 1
        outside = depth_out >= 6
        if inner.sum() >= 200:                          # sheets are too thin for an interior this far in
            assert amp[inner].mean() < 0.7 * amp[outside].mean(), (kind, seed)
        top = np.zeros_like(salt)
        top[1:] = salt[1:] & ~salt[:-1]                 # the first salt voxel of each trace
        assert np.percentile(amp[top], 90) > np.percentile(amp[outside], 90), (kind, seed)
    assert found >= 2


def test_faults_end_at_the_salt_and_fault_free_salt_free_volumes_have_no_labels():
    cfg = synth_config("salt", ["salt.count=[1,1]", "salt.none_prob=0", "faults.count=[6,6]", "faults.none_prob=0"])
    v = SynthModel((64, 64, 64), 3, cfg).render_volumes()
    assert v["salt"].any() and v["labels"].any() and not (v["labels"] & v["salt"]).any()
    free = SynthModel((64, 64, 64), 3, synth_config("salt-free")).render_volumes()
    assert not free["salt"].any()


def test_volumes_without_salt_are_unchanged_by_the_salt_code():
    """The salt draws from its own random stream: the train family renders as before, and salt-free
    is the salt family's sediments without the salt."""
    m = SynthModel((32, 32, 32), 11, synth_config("train"))
    assert m._salt is None and m.params["salt"] is None
    v = m.render_volumes()
    assert not v["salt"].any()
    # a salt-free volume of the salt family equals the volume with its salt drawn but absent
    drawn = SynthModel((32, 32, 32), 4, synth_config("salt", ["salt.none_prob=1"]))
    free = SynthModel((32, 32, 32), 4, synth_config("salt-free"))
    assert drawn._salt is None
    assert np.array_equal(drawn.render_volumes()["seismic"], free.render_volumes()["seismic"])
