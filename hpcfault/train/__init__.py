"""Training: config (TrainConfig), DDP setup (ddp), the loop (trainer), checkpoints and resume
(checkpoint, rundir), stop signals and requeue (signals), validation (validate), metrics log.

Entry point: `hpcfault.train.trainer.train(cfg, run_dir=None)`, or `hpcfault train CONFIG`.
Importing this package is cheap; torch is imported by the modules that need it.
"""
from hpcfault.train.config import TrainConfig

__all__ = ["TrainConfig"]
