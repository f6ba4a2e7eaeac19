"""Which validation is best, and whether training still improves: one rule, kept in one place.

The rule: scores are higher-is-better (``-loss`` for ``train.best_metric: loss``), and a
validation improves on the best so far only when its score is strictly higher. A tie is not an
improvement: the earlier validation stays best. ``Scoreboard`` applies it to ``best.pt``, to the
``best-step<N>.pt`` files kept, to the closing "best at step" line and to early stopping's count of
validations without improvement; the plateau learning-rate schedule (``schedules.py``) asks it too,
through ``Scoreboard.better``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
