"""Learning-rate schedules that know how long training will last: cosine and linear decay.

They fall from ``train.lr`` to ``train.min_lr`` over the whole run, so the last updates are small
ones that settle the weights. "The whole run" is whichever budget ends first: the steps of
``train.epochs``, or ``train.max_time``. With a time budget a 15-, 30- or 60-minute run each
ends at the floor instead of being cut off at a high rate mid-descent; the price is that the
rate then depends on the clock, so such a run is not bit-for-bit reproducible (a step budget is).
"""

from __future__ import annotations

import math

import torch

from seq2seq_cli.config import TrainConfig

BUDGETED = ("cosine", "linear")


class BudgetSchedule:
    """Sets the optimizer's learning rate after every update from how much of the budget is spent."""

    def __init__(self, optimizer: torch.optim.Optimizer, settings: TrainConfig, total_steps: int, time_budget: float):
        self.optimizer, self.settings = optimizer, settings
        self.total_steps, self.time_budget = max(total_steps, 1), time_budget
        self.warmup = settings.warmup_steps or 0  # none unless asked for

    def progress(self, step: int, elapsed: float) -> float:
        """The share of the budget used, 0 to 1: of the steps, or of the time when that runs out first."""
        spent = step / self.total_steps
        if math.isfinite(self.time_budget):
            spent = max(spent, elapsed / self.time_budget)
        return min(spent, 1.0)

    def rate(self, step: int, elapsed: float) -> float:
        """The learning rate for the update after ``step``."""
        top, floor = self.settings.lr, min(self.settings.min_lr, self.settings.lr)
        if step < self.warmup:
            return top * (step + 1) / self.warmup
        spent = self.progress(step, elapsed)
        shape = 0.5 * (1 + math.cos(math.pi * spent)) if self.settings.lr_schedule == "cosine" else 1 - spent
        return floor + (top - floor) * shape

    def update(self, step: int, elapsed: float) -> None:
        rate = self.rate(step, elapsed)
        for group in self.optimizer.param_groups:
            group["lr"] = rate


def budget_schedule(optimizer: torch.optim.Optimizer, settings: TrainConfig, total_steps: int,
                    time_budget: float) -> BudgetSchedule | None:
    """The schedule for ``train.lr_schedule: cosine | linear``, at its starting rate; None for the others."""
    if settings.lr_schedule not in BUDGETED:
        return None
    schedule = BudgetSchedule(optimizer, settings, total_steps, time_budget)
    schedule.update(0, 0.0)
    return schedule
