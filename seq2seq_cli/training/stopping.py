"""When training stops before its last epoch, and the checks that it can train at all.

Besides ``train.epochs`` running out, a run stops when the chosen score stalls for ``train.patience``
validations (``scoreboard.py`` counts them), when ``train.max_time`` is spent (``Clock``), when Ctrl-C
or SIGTERM arrives (``Signals``: saved at the next step boundary, resumable), or at a non-finite loss
or gradient (``skip_or_stop``). Under DDP every process takes each decision together (``agreed``),
so all stop at the same step. A run that cannot make one update, or made none, is ``NothingTrained``.
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from rich.console import Console

from seq2seq_cli import runs
from seq2seq_cli.config import Config, parse_duration
from seq2seq_cli.data.prepare import TrainingData
from seq2seq_cli.errors import TrainingError, TrainingInterrupted
from seq2seq_cli.system import Context


class NothingTrained(TrainingError):
    """Training ended without a single update: never a successful run."""


def check_enough_batches(have: int, data: TrainingData, config: Config, world: int) -> None:
    """One update reads ``world × accumulate`` batches; an epoch of fewer than that (``have``) would train nothing."""
    settings = config.train
    needed = world * settings.accumulate
    if have >= needed:
        return
    pairs = len(data.train)
    if pairs < needed:
        remedy = f"fewer pairs than that: lower train.accumulate or start fewer processes (at most {pairs} in all)"
    elif settings.batch_tokens:
        remedy = "lower train.batch_tokens (or train.batch_size), or train.accumulate"
    else:  # ceil(pairs / size) batches: at least ``needed`` while size < pairs / (needed - 1)
        remedy = f"lower train.batch_size to at most {math.ceil(pairs / (needed - 1)) - 1}"
    size = f"train.batch_tokens {settings.batch_tokens}" if settings.batch_tokens else f"train.batch_size {settings.batch_size}"
    raise NothingTrained(
        f"data.train ({config.data.train}) has {pairs} training pairs = {have} batch{'es' * (have != 1)} of {size} "
        f"per epoch, but one update needs {needed} batches ({world} process{'es' * (world != 1)} × train.accumulate "
        f"{settings.accumulate}): {remedy}"
    )


def agreed(context: Context, *flags: bool) -> list[bool]:
    """Stop decisions every process agrees on (one tiny all-reduce a step under DDP)."""
    if not context.distributed:
        return list(flags)
    return [value > 0 for value in context.sum([float(f) for f in flags])]


class Clock:
    """Time spent training, continued across ``--resume``, against the ``train.max_time`` budget."""

    def __init__(self, max_time: str | None):
        self.start = time.perf_counter()
        self.timed = bool(max_time)
        self.budget = parse_duration(max_time) if max_time else float("inf")

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def out_of_time(self) -> bool:
        return self.elapsed() > self.budget

    def resume_at(self, elapsed: float) -> None:
        """A resumed run continues the interrupted run's clock (and so its time budget)."""
        self.start = time.perf_counter() - elapsed

    def agreed_elapsed(self, context: Context) -> float:
        """The time spent, the same in every process (their mean), so all set the same learning rate;
        without a time budget no schedule reads it, and no process waits for the others."""
        if not context.world > 1 or not self.timed:
            return self.elapsed()
        return context.sum([self.elapsed()])[0] / context.world


class Signals:
    """Ctrl-C and SIGTERM only set a flag; the loop saves at the next step boundary and stops."""

    def __init__(self) -> None:
        self.received: int | None = None

    @contextlib.contextmanager
    def caught(self) -> Iterator[None]:
        """Note SIGINT and SIGTERM while training (in the main thread); the previous handlers come back after."""
        def note(signal_number, _frame):
            self.received = signal_number

        previous = {}
        try:
            for number in (signal.SIGINT, signal.SIGTERM):
                previous[number] = signal.signal(number, note)
        except ValueError:  # not the main thread: leave signals alone
            pass
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def interrupted(self, step: int, run_dir: Path) -> TrainingInterrupted:
        """The error that ends an interrupted run (raised after ``last.pt`` is saved), saying how to resume."""
        number = self.received or signal.SIGTERM
        return TrainingInterrupted(
            f"{signal.Signals(number).name} at step {step}; saved {run_dir / runs.LAST}. "
            f"Resume with: s2s train --resume -r {run_dir}",
            number,
        )


def skip_or_stop(loss: torch.Tensor, where: str, on_nonfinite: str, run_dir: Path, console: Console) -> None:
    """A non-finite loss or gradient at ``where``: stop (default), or skip the batch with a warning
    (``train.on_nonfinite: skip``). The weights were not touched, and nothing is saved."""
    if on_nonfinite == "skip":
        console.print(f"[yellow]warning:[/] non-finite loss or gradient at {where}: batch skipped")
        return
    raise TrainingError(
        f"non-finite loss ({float(loss.detach())}) or gradient at {where}; stopped without saving. "
        f"The checkpoints in {run_dir} are from before it; try a lower train.lr, "
        "or train.on_nonfinite=skip"
    )
