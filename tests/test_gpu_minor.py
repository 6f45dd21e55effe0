"""Item 11 of issue 19, the minor GPU points, as pure rules or checked behaviour:
probabilities leave the model in float32 under autocast; the elementwise 1x1 replacement only on
CPU; channels-last only for half precision on GPUs; bf16 only on Ampere and newer; CPU threads not
divided twice under srun binding; the GPU chosen before MPI starts; SIGTERM (scancel) not requeued.
"""
import signal

import pytest
import torch

from hpcfault.infer.forward import default_threads
from hpcfault.models.precision import channels_last, gpu_has_bf16, pointwise_replacement
from hpcfault.train.signals import requeue_command


def test_training_probabilities_are_float32_under_bf16_autocast():
    from hpcfault.models.registry import build_model

    torch.manual_seed(0)
    model = build_model("faultnet", widths=[4, 8, 8], expansion=4, blocks=1).train()
    x = torch.randn(2, 1, 32, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(x)
    assert y.dtype == torch.float32   # the sigmoid ran on float32 logits, not bf16 ones
    y.mean().backward()               # and the gradient flows through the cast


@pytest.mark.parametrize("cap, ok", [((7, 0), False), ((7, 5), False), ((8, 0), True), ((9, 0), True), ((12, 0), True)])
def test_bf16_only_in_hardware(cap, ok):
    assert gpu_has_bf16(cap) == ok


@pytest.mark.parametrize("device, dtype, deterministic, last, pointwise", [
    ("cpu", "fp32", True, False, True), ("cpu", "bf16", True, False, True), ("cpu", "fp32", False, False, False),
    ("cuda", "fp32", True, False, False), ("cuda", "bf16", True, True, False), ("cuda", "fp16", False, True, False),
])
def test_device_rules(device, dtype, deterministic, last, pointwise):
    assert channels_last(device, dtype) == last
    assert pointwise_replacement(device, deterministic) == pointwise


@pytest.mark.parametrize("usable, ranks, per_task, threads", [
    (8, 4, 8, 8),      # srun --cpus-per-task=8 with binding: the mask already holds this task's 8 cores
    (64, 4, 8, 8),     # no binding (task/none): all cores visible, Slurm's 8 per task
    (64, 4, None, 16), # mpiexec: the node's cores shared by its ranks
    (2, 4, None, 1),
    (4, 1, 16, 4),     # never more threads than usable cores
])
def test_default_threads(usable, ranks, per_task, threads):
    assert default_threads(usable, ranks, per_task) == threads


def test_bf16_on_a_pre_ampere_gpu_is_refused(monkeypatch):
    from hpcfault.errors import HpcfaultError
    from hpcfault.infer.forward import check_dtype

    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (7, 0))
    with pytest.raises(HpcfaultError, match=r"--dtype bf16 needs an Ampere or newer GPU \(got compute capability 7.0"):
        check_dtype("cuda:0", "bf16")
    check_dtype("cuda:0", "fp16")


def test_the_gpu_is_chosen_before_mpi_starts(monkeypatch, tmp_path):
    import hpcfault.cluster.mpi as mpi
    import hpcfault.infer.forward as forward
    from hpcfault.infer.runner import PredictJob, run_predict

    order = []

    def fake_pick(env, threads=0):
        order.append("device")
        return "cpu", 1

    def fake_comm():
        order.append("mpi")
        raise RuntimeError("stop here")

    monkeypatch.setattr(forward, "pick_device", fake_pick)
    monkeypatch.setattr(mpi, "get_comm", fake_comm)
    with pytest.raises(RuntimeError, match="stop here"):
        run_predict(PredictJob(str(tmp_path / "s.h5"), str(tmp_path / "o.h5")))
    assert order == ["device", "mpi"]


@pytest.mark.parametrize("env, sig, cmd", [
    ({"SLURM_JOB_ID": "42"}, signal.SIGUSR1, ["scontrol", "requeue", "42"]),   # the time limit: requeue
    ({"SLURM_JOB_ID": "42"}, signal.SIGTERM, None),                            # scancel / preemption: end
    ({"SLURM_JOB_ID": "42", "SUBMITIT_EXECUTOR": "slurm"}, signal.SIGUSR1, None),
    ({}, signal.SIGUSR1, None),
])
def test_only_the_time_limit_signal_requeues(env, sig, cmd):
    assert requeue_command(env, sig) == cmd
