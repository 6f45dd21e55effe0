"""Item 1 of issue 19: the torch floor the code needs, in setup.py and checked at start-up."""
import re
from pathlib import Path

import pytest
import torch

from hpcfault.errors import HpcfaultError
from hpcfault.requirements import TORCH_MIN, check_torch, torch_problem, version_tuple

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("text, expected", [
    ("2.1.2+cu121", (2, 1)), ("2.3.0", (2, 3)), ("2.13.0+cpu", (2, 13)), ("2.6.0a0+git1234", (2, 6)),
    ("10.0", (10, 0)),
])
def test_version_tuple(text, expected):
    assert version_tuple(text) == expected


@pytest.mark.parametrize("version, too_old", [
    ("2.1.2+cu121", True), ("2.2.2", True), ("1.13.1", True), ("2.3.0", False), ("2.3.1+cu118", False),
    ("2.13.0+cpu", False),
])
def test_torch_problem(version, too_old):
    problem = torch_problem(version)
    assert (problem is not None) == too_old
    if too_old:
        assert f"(got torch {version})" in problem and "torch>=2.3" in problem and "\n" not in problem


def test_setup_py_requires_the_same_floor():
    text = (ROOT / "setup.py").read_text()
    floor = re.search(r'"torch>=([\d.]+)"', text).group(1)
    assert version_tuple(floor) == TORCH_MIN, "setup.py's torch floor and hpcfault.requirements.TORCH_MIN differ"


def test_installed_torch_passes_and_old_torch_is_refused(monkeypatch):
    check_torch()   # the torch of this environment
    # GradScaler(device, ...) is what needs the floor: the installed torch must have it
    assert hasattr(torch.amp, "GradScaler")
    monkeypatch.setattr(torch, "__version__", "2.1.2+cu121")
    with pytest.raises(HpcfaultError, match=r"needs torch>=2.3 \(got torch 2.1.2\+cu121\)"):
        check_torch()


def test_train_and_predict_refuse_old_torch_before_any_work(monkeypatch, tmp_path):
    from hpcfault.infer.runner import PredictJob, run_predict
    from hpcfault.train.config import TrainConfig
    from hpcfault.train.trainer import train

    monkeypatch.setattr(torch, "__version__", "2.2.0")
    with pytest.raises(HpcfaultError, match="needs torch>=2.3"):
        train(TrainConfig(), run_dir=str(tmp_path / "run"))
    with pytest.raises(HpcfaultError, match="needs torch>=2.3"):
        run_predict(PredictJob(str(tmp_path / "missing.sgy"), str(tmp_path / "out.h5")))
    assert list(tmp_path.iterdir()) == []
