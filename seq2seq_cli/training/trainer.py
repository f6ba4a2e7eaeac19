"""The training loop: mini-batch updates, when to validate and checkpoint, Ctrl-C and resume.

``train`` and ``resume`` are the front doors; ``Trainer`` walks the epochs and decides when to
validate and when to stop. Its parts live beside it: setting up (or reopening) the run folder in
``run_setup.py``, one optimizer update in ``updates.py``, the stopping rules (time budget, signals,
non-finite losses) in ``stopping.py``, what each validation leaves in the run folder in
``logbook.py``; preparing the data in ``data/prepare.py``, validation scores in ``validation.py``,
which validation is best (and when to stop early) in ``scoreboard.py``, and what is printed and
drawn in ``report.py``.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
from rich.console import Console

from seq2seq_cli import runs
from seq2seq_cli.config import Config, check_trackers, load_run_config, save_config
from seq2seq_cli.data.batches import Batch, BatchOrder, bucketed_order
from seq2seq_cli.data.dataset import TokenPairs
from seq2seq_cli.data.prepare import TrainingData
from seq2seq_cli.models.seq2seq import Seq2Seq
from seq2seq_cli.system import SINGLE, Context
from seq2seq_cli.training import report, tracking
from seq2seq_cli.training.distributed import is_main_process, setup, teardown
from seq2seq_cli.training.logbook import Logbook, as_rng_state, restore_rng, shared_state
from seq2seq_cli.training.precision import resolve_precision
from seq2seq_cli.training.run_setup import held, new_run, removed_on_error, reopened_run, resumable_checkpoint, threads
from seq2seq_cli.training.sharing import FairShare
from seq2seq_cli.training.stopping import Clock, NothingTrained, Signals, agreed, check_enough_batches, skip_or_stop
from seq2seq_cli.training.updates import LossWindow, Updater, wrapped
from seq2seq_cli.training.validation import validation_scores

__all__ = ["NothingTrained", "Trainer", "resume", "train"]


def train(config: Config, name: str, console: Console) -> Path:
    """Train the model ``config`` describes into a new run folder, and return that folder."""
    with threads(config.train.threads):
        return _train(config, name, console)


def _train(config: Config, name: str, console: Console) -> Path:
    context = setup(config.train.device)
    try:
        torch.manual_seed(config.train.seed)
        console = console if context.is_main else Console(quiet=True)
        start = new_run(config, name, console, context)
        # held: a resume of this run while it trains is refused; an untrained model is no run to keep
        with held(start.run_dir, context.is_main), removed_on_error(start.run_dir, context, NothingTrained):
            return _run(Trainer(config, start.data, start.model, start.run_dir, console, context, start.data_files))
    finally:
        teardown(context)


def resume(run_dir: Path, console: Console) -> Path:
    """Continue an interrupted run from its ``last`` checkpoint: same data order, RNG and optimizer state.

    On a CPU the result is the very weights an uninterrupted run would have reached.
    """
    config = load_run_config(run_dir)
    check_trackers(config.train.log_to, str(run_dir / runs.CONFIG_FILE))
    with held(run_dir, is_main_process()):  # before last.pt is read: a second trainer never resumes a stale one
        checkpoint = resumable_checkpoint(run_dir)
        # the thread count the run started with: sums split across threads round differently otherwise
        with threads(checkpoint["trainer"].get("threads") or config.train.threads):
            return _resume(run_dir, config, checkpoint, console)


def _resume(run_dir: Path, config: Config, checkpoint: dict, console: Console) -> Path:
    context = setup(config.train.device)
    try:
        console = console if context.is_main else Console(quiet=True)
        start = reopened_run(run_dir, config, checkpoint, console, context)
        trainer = Trainer(config, start.data, start.model, run_dir, console, context, start.data_files)
        trainer.load_state_dict(checkpoint)
        console.print(f"resuming {run_dir} at step {trainer.step} (epoch {trainer.epoch})")
        return _run(trainer)
    finally:
        teardown(context)


def _run(trainer: Trainer) -> Path:
    records = trainer.fit()
    if trainer.context.is_main:
        report.plot_curves_or_warn(records, trainer.run_dir / runs.CURVES, trainer.console)
    best = trainer.logbook.scoreboard.best
    trainer.console.print(report.done_line(records[-1]["elapsed"], trainer.stop_reason, best, trainer.run_dir))
    trainer.context.barrier()  # processes leave together: one tearing down while rank 0 still works can abort
    return trainer.run_dir


class Trainer:
    """One training run: the epochs, which batches form each update, when to validate, when to stop.

    Everything needed to continue exactly where it stopped (``state_dict``) goes into
    ``last.pt``: at every validation, and when Ctrl-C or SIGTERM arrives.
    """

    def __init__(
        self, config: Config, data: TrainingData, model: Seq2Seq, run_dir: Path, console: Console, context: Context = SINGLE,
        data_files: dict | None = None,
    ):
        self.config, self.settings, self.data = config, config.train, data
        self.run_dir, self.console, self.context = run_dir, console, context
        # the training pairs as arrays (memory-mapped from the cache, or made from a list of examples)
        self.train = data.train if isinstance(data.train, TokenPairs) else TokenPairs.from_examples(data.train)
        # an epoch's batch order changes with the seed, its batch count does not: counted once here
        self.batches_per_epoch = len(self._batches(None))
        check_enough_batches(self.batches_per_epoch, data, config, context.world)
        self.model = model.to(context.device)  # what is saved; the updater's ``forward`` is what trains
        forward = wrapped(self.model, context, self.settings.compile, console)
        self._resolve_precision()  # before the updater, which reads it (autocast; fp16's loss scaler)
        self.batch_rng = random.Random(self.settings.seed)
        self.epoch_rng_state = self.batch_rng.getstate()  # replaying it rebuilds the epoch's batch order
        self.step, self.epoch, self.batch_in_epoch = 0, 1, 0
        self.logbook = Logbook(config, data, self.model, run_dir, context)
        self.model.train()
        self.data_files = data_files  # size and sha256 of data.train and data.val, checked by --resume
        self.skipped = 0  # batches skipped for a non-finite loss or gradient (train.on_nonfinite: skip)
        self.stop_reason = ""
        self.signals = Signals()
        self.clock = Clock(self.settings.max_time)
        total_steps = self.batches_per_epoch // self._group_size * self.settings.epochs
        self.updates = Updater(self.model, forward, self.settings, context, console, total_steps, self.clock.budget)
        self.window = LossWindow(context.device)
        # train.threads: 0 on one CPU process: fewer threads while other processes use the cores (sharing.py)
        alone_on_cpu = self.settings.threads == 0 and context.device.type == "cpu" and context.world == 1
        self.share = FairShare(torch.get_num_threads(), alone_on_cpu, lambda text: console.print(text, style="dim"))

    def _resolve_precision(self) -> None:
        """train.precision: auto becomes fp32 or bf16 here, and the run's config.yaml says which (for --resume)."""
        if self.settings.precision != "auto":
            return
        sizes = (len(self.data.src_vocab), len(self.data.tgt_vocab))
        self.settings.precision = resolve_precision(self.config, self.model, sizes, self.context, self.console)
        if self.context.is_main:
            save_config(self.config, self.run_dir / runs.CONFIG_FILE)

    def fit(self) -> list[dict]:
        """Train to the end (or an early stop) and return every validation's record."""
        self.model.train()
        total = self.batches_per_epoch // self._group_size * self.settings.epochs
        log_to = self.settings.log_to if self.context.is_main else []
        with (
            report.progress_bar(self.console) as self.progress,
            self.signals.caught(),
            tracking.opened(log_to, self.run_dir, self.step) as self.logbook.tracker,
        ):
            done = min(total, self.step)
            self.task = self.progress.add_task("training", total=total, completed=done, loss=float("nan"), speed=0.0)
            while self.epoch <= self.settings.epochs and not self._train_epoch():
                self.epoch, self.batch_in_epoch = self.epoch + 1, 0
                self.epoch_rng_state = self.batch_rng.getstate()
        self.stop_reason = self.stop_reason or "all epochs done"
        if self.step == 0:
            why = f"; all {self.skipped} batches had a non-finite loss or gradient: try a lower train.lr" if self.skipped else ""
            raise NothingTrained(f"training ended after 0 updates ({self.stop_reason}): nothing was trained{why}")
        self._save_last(finished=True)
        return self.logbook.records

    @property
    def _group_size(self) -> int:
        """Batches one update reads: each process's share, ``accumulate`` batches each."""
        return self.context.world * self.settings.accumulate

    def _batches(self, rng: random.Random | None) -> BatchOrder:
        train = self.train
        batches = bucketed_order(train.src.lengths, train.tgt.lengths, self.settings.batch_size, rng, self.settings.batch_tokens)
        train.release()  # every length was read: those pages need not stay in this process
        return batches

    def _train_epoch(self) -> bool:
        """The rest of the current epoch, validating as configured; True when training should stop.

        One update reads ``world × accumulate`` batches: each process its share, ``accumulate``
        batches one after another. A last group too small to share out is left for the next epoch.
        """
        every = self.settings.validate_every
        self.batch_rng.setstate(self.epoch_rng_state)
        batches = self._batches(self.batch_rng)
        group_size = self._group_size
        while self.batch_in_epoch + group_size <= len(batches):
            group_ids = batches[self.batch_in_epoch : self.batch_in_epoch + group_size]
            own = [self.train.collate(ids) for ids in group_ids[self.context.rank :: self.context.world]]  # this process's share
            updated = self._update(own, sum(self.train.target_tokens(ids) for ids in group_ids))
            self.batch_in_epoch += group_size
            signalled, out_of_time = agreed(self.context, self.signals.received is not None, self.clock.out_of_time())
            if signalled:
                self._save_last(finished=False)
                raise self.signals.interrupted(self.step, self.run_dir)
            due = updated and every and self.step % every == 0  # a skipped batch leaves the step: no second look
            if (due or out_of_time) and not self.logbook.validated_at(self.step) and self._validate():
                return True
            if out_of_time:
                self.stop_reason = f"time budget of {self.settings.max_time} used"
                return True
        if (not every or self.epoch == self.settings.epochs) and not self.logbook.validated_at(self.step):
            return self._validate()
        return False

    def _update(self, batches: list[Batch], group_tokens: int) -> bool:
        """One optimizer step on this process's batches (``updates.py``); False when a non-finite loss
        or gradient skipped it (``train.on_nonfinite: skip``)."""
        loss_sum, stepped = self.updates.step(batches, group_tokens)
        if not stepped:
            where = f"step {self.step + 1} (epoch {self.epoch}, batch {self.batch_in_epoch + 1})"
            skip_or_stop(loss_sum, where, self.settings.on_nonfinite, self.run_dir, self.progress.console)
            self.skipped += 1
            return False
        self.step += 1
        if self.step == 1 and self.context.is_main:  # after the first update: its own imports are done by then
            report.import_plotting_meanwhile()
        self.updates.after_step(self.step, self.clock)
        self.share.poll()
        self.window.add(loss_sum, group_tokens)
        self.progress.update(self.task, advance=1, speed=self.window.speed())
        return True

    def _validate(self) -> bool:
        """Score the model, log it, checkpoint it; True when early stopping says stop."""
        record = {
            "epoch": self.epoch,
            "step": self.step,
            "train_loss": round(self.window.mean_loss(self.context), 6),
            "tokens_per_s": round(self.window.speed(), 1),
        }
        record.update(validation_scores(self.model, self.data, self.config, self.context))
        record["lr"] = self.updates.lr
        record["elapsed"] = round(self.clock.elapsed(), 3)
        record["peak_memory_mib"] = report.peak_memory_mib()
        verdict = self.logbook.add(record)
        self.updates.after_validation(self.logbook.scoreboard.score(record))
        self.window.reset()
        if self.logbook.scoreboard.out_of_patience:
            self.stop_reason = f"no better {self.settings.best_metric} in {self.logbook.scoreboard.stalled} validations"
        if self.context.is_main:
            self.logbook.save(record, verdict)
        self._save_last(finished=False)  # ``last``: the commit point
        self.progress.update(self.task, loss=record["train_loss"])
        self.progress.console.print(report.validation_line(record))
        return bool(self.stop_reason)

    def _save_last(self, finished: bool) -> None:
        """Every process calls this (it gathers each one's share of the state); rank 0 writes."""
        shared = shared_state(self.context, self.window)
        if not self.context.is_main:
            return
        payload = {"model": self.model.state_dict(), "epoch": self.epoch, "step": self.step}
        trainer = self.state_dict(finished, shared)
        runs.save_checkpoint({**payload, "trainer": trainer}, self.run_dir / runs.LAST)
        runs.write_state(self.run_dir, trainer)

    def state_dict(self, finished: bool = False, shared: dict | None = None) -> dict:
        """Where training stands: position in the data, RNG states (one per process), optimizer,
        schedule, stopping counters."""
        return {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "epoch_rng_state": self.epoch_rng_state,
            **(shared or shared_state(self.context, self.window)),  # torch_rng_states, window_losses, window_tokens
            **self.updates.state_dict(),  # optimizer, scheduler, warmup, scaler
            **self.logbook.scoreboard.state_dict(),  # kept, stalled
            "data_files": self.data_files,
            "elapsed": self.clock.elapsed(),
            "threads": 0 if self.share.enabled else torch.get_num_threads(),  # 0: sharing the cores, as it did
            "finished": finished,
            "stop_reason": self.stop_reason,
        }

    def load_state_dict(self, checkpoint: dict) -> None:
        """Continue from ``last.pt``'s state, as ``state_dict`` wrote it."""
        state = checkpoint["trainer"]
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.epoch_rng_state = as_rng_state(state["epoch_rng_state"])
        restore_rng(state, self.context, self.console)
        self.updates.load_state_dict(state)
        self.window.restore(state, self.context)
        self.clock.resume_at(state["elapsed"])
        self.logbook.restore(state, self.step)
