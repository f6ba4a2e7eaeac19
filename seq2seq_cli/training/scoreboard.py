"""Which validation is best, and whether training still improves: one rule, kept in one place.

The rule: scores are higher-is-better (``-loss`` for ``train.best_metric: loss``), and a
validation improves on the best so far only when its score is strictly higher. A tie is not an
improvement: the earlier validation stays best. ``Scoreboard`` applies it to ``best.pt``, to the
``best-step<N>.pt`` files kept, to the closing "best at step" line and to early stopping's count of
validations without improvement; ``plateau_scheduler`` configures the learning-rate schedule to
compare the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from seq2seq_cli.config import TrainConfig


@dataclass
class Verdict:
    """What one validation means for the checkpoints and for stopping."""

    improved: bool  # strictly better than every earlier validation: the new best.pt; patience starts again
    keep: bool = False  # among the train.keep_best best so far: save best-step<N>.pt
    dropped: list[int] = field(default_factory=list)  # steps whose best-step<N>.pt fell out of the best N


class Scoreboard:
    def __init__(self, metric: str, keep_best: int = 1, patience: int = 0):
        self.metric, self.keep_best, self.patience = metric, keep_best, patience
        self.best: dict | None = None  # the best validation record so far
        self.kept: list[tuple[float, int]] = []  # (score, step) of the best-N files, best first (keep_best > 1)
        self.stalled = 0  # validations since the best one, for early stopping

    def score(self, record: dict) -> float:
        """Higher is better, whatever the metric; training loss stands in without a validation set."""
        if record.get(f"val_{self.metric}") is None:
            return -record["train_loss"]
        return -record["val_loss"] if self.metric == "loss" else record[f"val_{self.metric}"]

    @staticmethod
    def better(score: float, than: float) -> bool:
        """The rule: strictly higher (a tie keeps the earlier validation)."""
        return score > than

    def add(self, record: dict) -> Verdict:
        """Count one validation in, and say what it means."""
        score = self.score(record)
        verdict = Verdict(improved=self.best is None or self.better(score, self.score(self.best)))
        if verdict.improved:
            self.best = record
        self.stalled = 0 if verdict.improved else self.stalled + 1
        if self.keep_best > 1:
            entry = (score, record["step"])
            # a stable sort with the newest last: among equal scores the earlier ranks first (the rule)
            ranked = sorted(self.kept + [entry], key=lambda kept: -kept[0])
            verdict.keep = entry in ranked[: self.keep_best]
            verdict.dropped = [step for _, step in ranked[self.keep_best :]]
            self.kept = ranked[: self.keep_best]
        return verdict

    @property
    def out_of_patience(self) -> bool:
        """Early stopping: ``patience`` validations in a row without an improvement (0: never)."""
        return bool(self.patience) and self.stalled >= self.patience

    def state_dict(self) -> dict:
        return {"kept": self.kept, "stalled": self.stalled}

    def load_state_dict(self, state: dict, records: list[dict]) -> None:
        """Continue from a checkpoint; the best so far is replayed from the metrics log it matches."""
        self.kept = [tuple(k) for k in state["kept"]]
        self.stalled = state["stalled"]
        self.best = None
        for record in records:
            if self.best is None or self.better(self.score(record), self.score(self.best)):
                self.best = record


def plateau_scheduler(optimizer: torch.optim.Optimizer, settings: TrainConfig):
    """Lower the learning rate when the chosen metric stops improving (scores: higher is better).

    ReduceLROnPlateau's default test in mode ``max`` is relative, ``score > best * (1 + 1e-4)``;
    with a negative score (``-loss``) that threshold lies *below* the best, so a tie, or a loss up
    to 0.01% worse, counted as an improvement. ``threshold_mode="abs"`` with ``threshold=0`` makes
    its test ``score > best``: the Scoreboard's rule, a tie is no improvement.
    """
    if settings.lr_decay >= 1.0 or settings.lr_schedule != "plateau":
        return None
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=settings.lr_decay, patience=settings.lr_patience, min_lr=settings.min_lr,
        threshold=0.0, threshold_mode="abs",
    )
