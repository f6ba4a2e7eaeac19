"""The learning-rate schedules: ``plateau`` (lower the rate when validation stops improving),
``inverse-sqrt`` (the Transformer's warm-up), and the two that know how long training will last,
``cosine`` and ``linear``. Each sets ``param_groups[0]["lr"]`` of the optimizer (``adam.py``); they
are ours rather than ``torch.optim.lr_scheduler``'s because those only take a ``torch.optim``
optimizer. Their ``state_dict`` keeps the keys torch's kept, so runs saved with those resume.

The budgeted ones fall from ``train.lr`` to ``train.min_lr`` over the whole run, so the last updates are small
ones that settle the weights. "The whole run" is whichever budget ends first: the steps of
``train.epochs``, or ``train.max_time``. With a time budget a 15-, 30- or 60-minute run each
ends at the floor instead of being cut off at a high rate mid-descent; the price is that the
rate then depends on the clock, so such a run is not bit-for-bit reproducible (a step budget is).
"""

from __future__ import annotations

import math

from seq2seq_cli.config import TrainConfig
from seq2seq_cli.training.scoreboard import Scoreboard

BUDGETED = ("cosine", "linear")


def set_rate(optimizer, rate: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = rate


class Plateau:
    """Multiply the rate by ``train.lr_decay`` (not below ``train.min_lr``) when ``train.lr_patience``
    validations in a row have not improved on the best score. Scores are higher-is-better and a tie is
    no improvement: the Scoreboard's rule, called from there, so ``-loss`` and BLEU behave alike."""

    def __init__(self, optimizer, settings: TrainConfig):
        self.optimizer, self.settings = optimizer, settings
        self.best, self.bad, self.validations = -math.inf, 0, 0

    def step(self, score: float) -> None:
        self.validations += 1
        if Scoreboard.better(score, self.best):
            self.best, self.bad = score, 0
            return
        self.bad += 1
        if self.bad > self.settings.lr_patience:
            self.bad = 0
            for group in self.optimizer.param_groups:
                lowered = max(group["lr"] * self.settings.lr_decay, self.settings.min_lr)
                if group["lr"] - lowered > 1e-8:  # torch's eps: no change too small to matter
                    group["lr"] = lowered

    def state_dict(self) -> dict:
        return {"best": self.best, "num_bad_epochs": self.bad, "last_epoch": self.validations}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.bad, self.validations = state["best"], state["num_bad_epochs"], state["last_epoch"]


def plateau_schedule(optimizer, settings: TrainConfig) -> Plateau | None:
    """The schedule for ``train.lr_schedule: plateau``; None when ``lr_decay`` 1 would never lower it."""
    if settings.lr_decay >= 1.0 or settings.lr_schedule != "plateau":
        return None
    return Plateau(optimizer, settings)


class InverseSqrt:
    """The Transformer schedule: linear warm-up to ``lr`` over ``warmup_steps``, then lr * sqrt(warmup / step)."""

    def __init__(self, optimizer, settings: TrainConfig):
        self.optimizer, self.top = optimizer, settings.lr
        self.warmup, self.steps = settings.warmup_steps or 4000, 0
        set_rate(optimizer, self.rate())

    def rate(self) -> float:
        step = self.steps + 1
        return self.top * min(step / self.warmup, math.sqrt(self.warmup / step))

    def step(self) -> None:
        self.steps += 1
        set_rate(self.optimizer, self.rate())

    def state_dict(self) -> dict:
        return {"base_lrs": [self.top], "last_epoch": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.top, self.steps = state["base_lrs"][0], state["last_epoch"]
        set_rate(self.optimizer, self.rate())


def inverse_sqrt_schedule(optimizer, settings: TrainConfig) -> InverseSqrt | None:
    return InverseSqrt(optimizer, settings) if settings.lr_schedule == "inverse-sqrt" else None


class BudgetSchedule:
    """Sets the optimizer's learning rate after every update from how much of the budget is spent."""

    def __init__(self, optimizer, settings: TrainConfig, total_steps: int, time_budget: float):
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
        set_rate(self.optimizer, self.rate(step, elapsed))


def budget_schedule(optimizer, settings: TrainConfig, total_steps: int,
                    time_budget: float) -> BudgetSchedule | None:
    """The schedule for ``train.lr_schedule: cosine | linear``, at its starting rate; None for the others."""
    if settings.lr_schedule not in BUDGETED:
        return None
    schedule = BudgetSchedule(optimizer, settings, total_steps, time_budget)
    schedule.update(0, 0.0)
    return schedule
