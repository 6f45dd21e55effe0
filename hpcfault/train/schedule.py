"""Reduce-on-plateau learning rate (the multitask reference recipe: Adam 5e-5, ReduceLROnPlateau).

The reference lowers the rate when the validation loss of an epoch stops improving. Here an
"epoch" is a window of `plateau_window` optimizer steps and its figure the mean training loss of
the global batches in it (every rank holds the same value: each step's loss is averaged over the
ranks), so the schedule is the same for any process count and is checkpointed as plain numbers:
a window whose mean is not below best x (1 - 1e-4) counts as bad; after more than
`plateau_patience` bad windows in a row the rate is multiplied by `plateau_factor` (never below
`lr_final`) and the count restarts, as torch's ReduceLROnPlateau does (threshold 1e-4, relative).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

THRESHOLD = 1e-4


@dataclass
class Plateau:
    best: float = math.inf
    bad: int = 0
    scale: float = 1.0          # the rate is lr x scale
    total: float = 0.0          # loss summed over the current window
    steps: int = 0              # steps in the current window

    def update(self, loss: float, window: int, patience: int, factor: float) -> bool:
        """Add one step's (global mean) loss; True when the rate just fell."""
        self.total += float(loss)
        self.steps += 1
        if self.steps < window:
            return False
        mean = self.total / self.steps
        self.total, self.steps = 0.0, 0
        if mean < self.best * (1.0 - THRESHOLD):
            self.best, self.bad = mean, 0
            return False
        self.bad += 1
        if self.bad > patience:
            self.scale *= factor
            self.bad = 0
            return True
        return False

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, type(getattr(self, k))(v))
