"""Item 3 of issue 19: each task's GPU is among the devices it sees, with or without per-task binding.

Slurm's --gpus-per-task=1, --gpu-bind=single|closest or a site default leave each task one visible
GPU (CUDA_VISIBLE_DEVICES); the device index must then be 0 for every local rank. Training and
predict pick it with the same pure rule (rankenv.gpu_index). No GPU here: torch.cuda's count is
set per case, as the binding would set it.
"""
import pytest
import torch

from hpcfault.cluster.rankenv import RankEnv, gpu_index
from hpcfault.errors import HpcfaultError


@pytest.mark.parametrize("local_rank, visible, index", [
    (0, 4, 0), (3, 4, 3),          # one task per GPU, all 4 visible to every task
    (0, 1, 0), (1, 1, 0), (3, 1, 0),   # per-task binding: each task sees only its own GPU
    (5, 4, 1),                     # 8 tasks on 4 GPUs: two per GPU
    (1, 2, 1), (3, 2, 1),          # --gpus-per-task=2
])
def test_gpu_index(local_rank, visible, index):
    assert gpu_index(local_rank, visible) == index


def test_no_visible_gpu_is_one_line():
    with pytest.raises(HpcfaultError, match=r"no GPU is visible to this task \(got 0\)"):
        gpu_index(0, 0)


@pytest.fixture
def one_visible_gpu(monkeypatch):
    chosen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: chosen.append(d))
    return chosen


@pytest.mark.parametrize("local_rank", [0, 1, 3])
def test_training_takes_the_tasks_own_gpu_under_per_task_binding(one_visible_gpu, local_rank):
    from hpcfault.train.ddp import pick_device

    env = RankEnv(rank=4 + local_rank, world_size=8, local_rank=local_rank, local_world_size=4, launcher="slurm")
    assert pick_device("auto", env) == torch.device("cuda", 0)
    assert one_visible_gpu == [0]


@pytest.mark.parametrize("local_rank", [0, 3])
def test_predict_takes_the_tasks_own_gpu_under_per_task_binding(one_visible_gpu, local_rank):
    from hpcfault.infer.forward import pick_device

    env = RankEnv(rank=local_rank, world_size=4, local_rank=local_rank, local_world_size=4, launcher="slurm")
    device, _ = pick_device(env, threads=1)
    assert device == "cuda:0"
