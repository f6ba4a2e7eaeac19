"""The training loop: mini-batch updates, when to validate and checkpoint, Ctrl-C and resume.

The rest of training lives beside it: preparing the data in ``prepare.py``, validation scores in
``validation.py``, which validation is best (and when to stop early) in ``scoreboard.py``, and what
is printed and drawn in ``report.py``.
"""

from __future__ import annotations

import contextlib
import math
import random
import shutil
import signal
import time
from pathlib import Path

import torch
from rich.console import Console

from seq2seq_cli import runs
from seq2seq_cli.config import Config, TrainConfig, check_trackers, load_run_config, parse_duration, save_config
from seq2seq_cli.data import cache
from seq2seq_cli.data.batches import Batch, BatchOrder, bucketed_order
from seq2seq_cli.data.dataset import TokenPairs
from seq2seq_cli.data.prepare import TrainingData, check_fingerprints
from seq2seq_cli.data.text import load_vocabs
from seq2seq_cli.decoding.translator import Translator
from seq2seq_cli.errors import RunError, S2SError, TrainingError, TrainingInterrupted
from seq2seq_cli.models.seq2seq import Seq2Seq, build_model
from seq2seq_cli.system import SINGLE, Context
from seq2seq_cli.training import finetune, report, tracking
from seq2seq_cli.training.distributed import setup, teardown
from seq2seq_cli.training.precision import resolve_precision
from seq2seq_cli.training.schedules import budget_schedule
from seq2seq_cli.training.scoreboard import Scoreboard, Verdict, plateau_scheduler
from seq2seq_cli.training.validation import batch_loss, validation_scores
from seq2seq_cli.viz.probes import append_probes, choose_probes, probe_record, read_probes


def train(config: Config, name: str, console: Console) -> Path:
    """Train the model ``config`` describes into a new run folder, and return that folder."""
    with _threads(config.train.threads):
        return _train(config, name, console)


def _train(config: Config, name: str, console: Console) -> Path:
    context = setup(config.train.device)
    try:
        torch.manual_seed(config.train.seed)
        console = console if context.is_main else Console(quiet=True)
        parent = finetune.load_parent(config, console) if config.train.init_from else None  # checked before any folder
        given = cache.Given(parent.vocabs, parent.run_dir) if parent else None  # fine-tuning: the parent's words
        prepared = cache.prepare(config, console, context, given)  # once, cached: a bad line stops it before any folder
        data_files = prepared.data_files(config)
        run_dir = context.from_main(runs.create_run_dir(config.train.runs_dir, name) if context.is_main else None)
        with _removed_on_error(run_dir, context):  # a run that never started leaves no folder behind
            if context.is_main:
                prepared.copy_tokenizers(run_dir)  # the run folder translates without the cache
            data = prepared.training_data()
            model = build_model(config.model, len(data.src_vocab), len(data.tgt_vocab), config.data.max_len)
            if parent:
                parent.start(model)
            frozen = finetune.freeze(model, config.train.freeze)
        if context.is_main:
            save_config(config, run_dir / runs.CONFIG_FILE)
            data.src_vocab.save(run_dir / runs.SOURCE_VOCAB)
            data.tgt_vocab.save(run_dir / runs.TARGET_VOCAB)
        console.print(report.summary_table(data, model, run_dir))
        if parent:
            parent.report(console, prepared.meta["unknown"])
        if frozen:
            console.print(frozen, markup=False)
        with _removed_on_error(run_dir, context, NothingTrained):  # an untrained model is no run to keep
            return _run(Trainer(config, data, model, run_dir, console, context, data_files))
    finally:
        teardown(context)


def resume(run_dir: Path, console: Console) -> Path:
    """Continue an interrupted run from its ``last`` checkpoint: same data order, RNG and optimizer state.

    On a CPU the result is the very weights an uninterrupted run would have reached.
    """
    config = load_run_config(run_dir)
    check_trackers(config.train.log_to, str(run_dir / runs.CONFIG_FILE))
    checkpoint = runs.load_checkpoint(run_dir / runs.LAST)
    if "trainer" not in checkpoint:
        raise RunError(f"{run_dir / runs.LAST}: holds no training state to resume from")
    if checkpoint["trainer"]["finished"]:
        raise RunError(f"{run_dir}: training already finished ({checkpoint['trainer']['stop_reason']})")
    # the thread count the run started with: sums split across threads round differently otherwise
    with _threads(checkpoint["trainer"].get("threads") or config.train.threads):
        return _resume(run_dir, config, checkpoint, console)


def _resume(run_dir: Path, config: Config, checkpoint: dict, console: Console) -> Path:
    context = setup(config.train.device)
    try:
        console = console if context.is_main else Console(quiet=True)
        data_files = checkpoint["trainer"].get("data_files")
        if data_files is None:
            console.print(
                f"[yellow]warning:[/] {run_dir} was saved without a fingerprint of its data files: "
                "cannot check that data.train and data.val are the ones the run started with"
            )
        else:
            check_fingerprints(data_files, config)
        given = cache.Given(load_vocabs(run_dir), run_dir, resuming=True)  # the run's own words and tokenisers
        data = cache.prepare(config, console, context, given).training_data()
        model = build_model(config.model, len(data.src_vocab), len(data.tgt_vocab), config.data.max_len)
        model.load_state_dict(checkpoint["model"])
        finetune.freeze(model, config.train.freeze)  # before the optimizer: its saved state covers the trained ones
        trainer = Trainer(config, data, model, run_dir, console, context, data_files)
        trainer.load_state_dict(checkpoint)
        console.print(f"resuming {run_dir} at step {trainer.step} (epoch {trainer.epoch})")
        return _run(trainer)
    finally:
        teardown(context)


class NothingTrained(TrainingError):
    """Training ended without a single update: never a successful run."""


def _check_enough_batches(have: int, data: TrainingData, config: Config, world: int) -> None:
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


@contextlib.contextmanager
def _removed_on_error(run_dir: Path, context: Context, errors: type[S2SError] = S2SError):
    """A run that never started (or trained nothing) leaves no folder behind."""
    try:
        yield
    except errors:
        if context.is_main:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


@contextlib.contextmanager
def _threads(count: int):
    """torch's intra-op thread count for one run (0: leave torch's default), restored afterwards.

    A reduction split over 2 threads rounds differently from one over 1, so the count is part
    of what makes a run reproducible; a library call must not leave it changed for its caller.
    """
    previous = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _run(trainer: Trainer) -> Path:
    records = trainer.fit()
    if trainer.context.is_main:
        report.plot_curves_or_warn(records, trainer.run_dir / runs.CURVES, trainer.console)
    best = trainer.scoreboard.best
    trainer.console.print(report.done_line(records[-1]["elapsed"], trainer.stop_reason, best, trainer.run_dir))
    trainer.context.barrier()  # processes leave together: one tearing down while rank 0 still works can abort
    return trainer.run_dir


class Trainer:
    """One training run: the optimisation loop, validation, checkpoints and when to stop.

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
        _check_enough_batches(self.batches_per_epoch, data, config, context.world)
        self.model = model.to(context.device)  # what is saved; ``forward`` is what trains
        self.forward = _wrapped(self.model, context, self.settings.compile, console)
        self._resolve_precision()
        # fused: one kernel for every parameter; on a CPU it more than doubled training speed here
        trained = [p for p in model.parameters() if p.requires_grad]  # train.freeze: the frozen ones are left out
        self.optimizer = torch.optim.Adam(trained, lr=self.settings.lr, fused=True)
        self.scaler = torch.amp.GradScaler(context.device.type) if self.settings.precision == "fp16" else None
        self.scheduler = plateau_scheduler(self.optimizer, self.settings)
        self.warmup = _inverse_sqrt_scheduler(self.optimizer, self.settings)
        self.batch_rng = random.Random(self.settings.seed)
        self.epoch_rng_state = self.batch_rng.getstate()  # replaying it rebuilds the epoch's batch order
        self.step, self.epoch, self.batch_in_epoch = 0, 1, 0
        self.records: list[dict] = []
        self.scoreboard = Scoreboard(self.settings.best_metric, self.settings.keep_best, self.settings.patience)
        self.probes = choose_probes(config, data, self._translator()) if context.is_main else []
        self.tracker = tracking.NOTHING  # train.log_to's writers, opened by ``fit``
        self.model.train()
        self.data_files = data_files  # size and sha256 of data.train and data.val, checked by --resume
        self.skipped = 0  # batches skipped for a non-finite loss or gradient (train.on_nonfinite: skip)
        self.stop_reason = ""
        self.signal_received: int | None = None
        self.start = time.perf_counter()
        budget = self.settings.max_time
        self.budget = parse_duration(budget) if budget else float("inf")
        total_steps = self.batches_per_epoch // self._group_size * self.settings.epochs
        self.budget_lr = budget_schedule(self.optimizer, self.settings, total_steps, self.budget)  # cosine, linear
        self._reset_window()

    def _resolve_precision(self) -> None:
        """train.precision: auto becomes fp32 or bf16 here, and the run's config.yaml says which (for --resume)."""
        if self.settings.precision != "auto":
            return
        sizes = (len(self.data.src_vocab), len(self.data.tgt_vocab))
        self.settings.precision = resolve_precision(self.config, self.model, sizes, self.context, self.console)
        if self.context.is_main:
            save_config(self.config, self.run_dir / runs.CONFIG_FILE)

    def fit(self) -> list[dict]:
        self.model.train()
        total = self.batches_per_epoch // self._group_size * self.settings.epochs
        log_to = self.settings.log_to if self.context.is_main else []
        with (
            report.progress_bar(self.console) as self.progress,
            _signals_caught(self),
            tracking.opened(log_to, self.run_dir, self.step) as self.tracker,
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
        return self.records

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
            signalled, out_of_time = self._agreed(self.signal_received is not None, self._elapsed() > self.budget)
            self._stop_if_signalled(signalled)
            due = updated and every and self.step % every == 0  # a skipped batch leaves the step: no second look
            if (due or out_of_time) and not self._validated_now() and self._validate():
                return True
            if out_of_time:
                self.stop_reason = f"time budget of {self.settings.max_time} used"
                return True
        if (not every or self.epoch == self.settings.epochs) and not self._validated_now():
            return self._validate()
        return False

    def _validated_now(self) -> bool:
        """Each step is validated at most once."""
        return bool(self.records) and self.records[-1]["step"] == self.step

    def _update(self, batches: list[Batch], group_tokens: int) -> bool:
        """One optimizer step on this process's batches; the loss is normalised by the whole group's
        target tokens, so N processes (or N accumulated batches) give the gradient of one big batch.
        False when a non-finite loss or gradient skipped it (``train.on_nonfinite: skip``)."""
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum = torch.zeros((), device=self.context.device)
        for index, batch in enumerate(batches):
            with self._gradient_sync(index == len(batches) - 1):
                with self._autocast():
                    loss, _ = self._batch_loss(batch.to(self.context.device))
                scaled = loss.float() / group_tokens * self.context.world  # DDP averages over processes
                (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            loss_sum += loss.detach().float()
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.clip_grad or float("inf"))
        finite = torch.isfinite(loss_sum) & (torch.isfinite(norm) | (self.scaler is not None))  # fp16: the scaler skips
        (broken,) = self._agreed(not bool(finite))  # one host sync a step, cheap on a CPU
        if broken:
            self._non_finite(loss_sum)
            return False
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.step += 1
        if self.warmup is not None:
            self.warmup.step()
        if self.budget_lr is not None:
            self.budget_lr.update(self.step, self._agreed_elapsed())
        self.window_loss += loss_sum  # stays on the device: no host sync
        self.window_tokens += group_tokens
        speed = self.window_tokens / max(time.perf_counter() - self.window_start, 1e-9)
        self.progress.update(self.task, advance=1, speed=speed)
        return True

    def _non_finite(self, loss: torch.Tensor) -> None:
        """Stop (default) or skip the batch; the weights were not touched, and nothing is saved."""
        where = f"step {self.step + 1} (epoch {self.epoch}, batch {self.batch_in_epoch + 1})"
        if self.settings.on_nonfinite == "skip":
            self.skipped += 1
            self.progress.console.print(f"[yellow]warning:[/] non-finite loss or gradient at {where}: batch skipped")
            return
        raise TrainingError(
            f"non-finite loss ({float(loss.detach())}) or gradient at {where}; stopped without saving. "
            f"The checkpoints in {self.run_dir} are from before it; try a lower train.lr, "
            "or train.on_nonfinite=skip"
        )

    def _batch_loss(self, batch: Batch) -> tuple[torch.Tensor, int]:
        settings = self.settings
        try:
            return batch_loss(self.model, batch, settings.teacher_forcing, settings.label_smoothing, self.forward)
        except Exception as exc:  # noqa: BLE001 - torch.compile fails at the first call, in many ways
            if self.forward is self.model or not self.settings.compile or self.context.distributed:
                raise
            self.console.print(f"[yellow]warning:[/] torch.compile failed ({type(exc).__name__}); training without it")
            self.forward = self.model
            return batch_loss(self.model, batch, settings.teacher_forcing, settings.label_smoothing)

    def _gradient_sync(self, last: bool):
        """Under DDP, gradients are averaged across processes once, after the last accumulated batch."""
        if self.context.distributed and not last:
            return self.forward.no_sync()
        return contextlib.nullcontext()

    def _autocast(self):
        precision = self.settings.precision
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        return torch.autocast(self.context.device.type, dtype=dtype, enabled=dtype is not None)

    def _agreed(self, *flags: bool) -> list[bool]:
        """Stop decisions every process agrees on (one tiny all-reduce a step under DDP)."""
        if not self.context.distributed:
            return list(flags)
        return [value > 0 for value in self.context.sum([float(f) for f in flags])]

    def _stop_if_signalled(self, signalled: bool) -> None:
        if not signalled:
            return
        self._save_last(finished=False)
        name = signal.Signals(self.signal_received or signal.SIGTERM).name
        raise TrainingInterrupted(
            f"{name} at step {self.step}; saved {self.run_dir / runs.LAST}. "
            f"Resume with: s2s train --resume {self.run_dir}",
            self.signal_received or signal.SIGTERM,
        )

    def _elapsed(self) -> float:
        return time.perf_counter() - self.start

    def _agreed_elapsed(self) -> float:
        """The time spent, the same in every process (their mean), so all set the same learning rate;
        without a time budget no schedule reads it, and no process waits for the others."""
        if not self.context.world > 1 or not self.settings.max_time:
            return self._elapsed()
        return self.context.sum([self._elapsed()])[0] / self.context.world

    def _reset_window(self) -> None:
        """Training loss and speed are reported per stretch between validations."""
        self.window_loss = torch.zeros((), device=self.context.device)
        self.window_tokens, self.window_start = 0, time.perf_counter()

    def _validate(self) -> bool:
        """Score the model, log it, checkpoint it; True when early stopping says stop."""
        record = {
            "epoch": self.epoch,
            "step": self.step,
            "train_loss": round(self.context.sum([float(self.window_loss)])[0] / max(self.window_tokens, 1), 6),
            "tokens_per_s": round(self.window_tokens / max(time.perf_counter() - self.window_start, 1e-9), 1),
        }
        record.update(validation_scores(self.model, self.data, self.config, self.context))
        record["lr"] = self.optimizer.param_groups[0]["lr"]
        record["elapsed"] = round(self._elapsed(), 3)
        record["peak_memory_mib"] = report.peak_memory_mib()
        verdict = self.scoreboard.add(record)
        self.records.append(record)
        if self.scheduler is not None:
            self.scheduler.step(self.scoreboard.score(record))
        self._reset_window()
        if self.scoreboard.out_of_patience:
            self.stop_reason = f"no better {self.settings.best_metric} in {self.scoreboard.stalled} validations"
        self._checkpoint(record, verdict)
        self.progress.update(self.task, loss=record["train_loss"])
        self.progress.console.print(report.validation_line(record))
        return bool(self.stop_reason)

    def _checkpoint(self, record: dict, verdict: Verdict) -> None:
        """Metrics line, ``best`` when it is, the best N when asked, and ``last`` as the commit point."""
        if self.context.is_main:
            probes = None
            if self.probes:  # greedy and dropout-free: draws nothing from the RNG, so resuming stays exact
                probes = probe_record(self._translator(), self.probes, record["step"])
                append_probes(self.run_dir, probes)
                self.model.train()
            runs.append_metrics(self.run_dir, record)
            self.tracker.log(record, probes)  # train.log_to (TensorBoard): draws nothing from the RNG either
            weights = {"model": self.model.state_dict(), "epoch": record["epoch"], "step": record["step"]}
            if verdict.improved:
                runs.save_checkpoint(weights, self.run_dir / runs.BEST)
            if verdict.keep:  # best-step<N>.pt for the train.keep_best best validations; the others go
                runs.save_checkpoint(weights, self.run_dir / runs.ranked_checkpoint(record["step"]))
            for step in verdict.dropped:
                (self.run_dir / runs.ranked_checkpoint(step)).unlink(missing_ok=True)
            self._keep_last(weights)
        self._save_last(finished=False)

    def _keep_last(self, weights: dict) -> None:
        """step<N>.pt for the train.keep_last latest validations (for ``s2s average --last``); older ones go."""
        keep = self.settings.keep_last
        if not keep:
            return
        runs.save_checkpoint(weights, self.run_dir / runs.step_checkpoint(weights["step"]))
        if len(self.records) > keep:
            (self.run_dir / runs.step_checkpoint(self.records[-keep - 1]["step"])).unlink(missing_ok=True)

    def _translator(self) -> Translator:
        """The model being trained behind the one decode path (it switches the model to eval mode)."""
        data = self.data
        return Translator(self.model, self.config, data.src_vocab, data.tgt_vocab, data.tokenizers)

    def _save_last(self, finished: bool) -> None:
        """Every process calls this (it gathers each one's share of the state); rank 0 writes."""
        shared = self._shared_state()
        if not self.context.is_main:
            return
        payload = {"model": self.model.state_dict(), "epoch": self.epoch, "step": self.step}
        trainer = self.state_dict(finished, shared)
        runs.save_checkpoint({**payload, "trainer": trainer}, self.run_dir / runs.LAST)
        runs.write_state(self.run_dir, trainer)

    def _shared_state(self) -> dict:
        """What each process holds its own part of: its dropout RNG, its share of the window's loss."""
        shares = self.context.gather([(_rng_state(self.context.device), float(self.window_loss))])
        return {
            "torch_rng_states": [share[0][0] for share in shares],
            "window_losses": [share[0][1] for share in shares],  # each process's own float32 running sum
            "window_tokens": self.window_tokens,
        }

    def state_dict(self, finished: bool = False, shared: dict | None = None) -> dict:
        """Where training stands: position in the data, RNG states (one per process), optimizer,
        schedule, stopping counters."""
        return {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "epoch_rng_state": self.epoch_rng_state,
            **(shared or self._shared_state()),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "warmup": self.warmup.state_dict() if self.warmup is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            **self.scoreboard.state_dict(),  # kept, stalled
            "data_files": self.data_files,
            "elapsed": self._elapsed(),
            "threads": torch.get_num_threads(),
            "finished": finished,
            "stop_reason": self.stop_reason,
        }

    def load_state_dict(self, checkpoint: dict) -> None:
        state = checkpoint["trainer"]
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.epoch_rng_state = _as_rng_state(state["epoch_rng_state"])
        rng_states = state.get("torch_rng_states") or [{"cpu": state["torch_rng_state"]}]  # older runs kept one
        if len(rng_states) != self.context.world:
            self.console.print(
                f"[yellow]warning:[/] the run was saved by {len(rng_states)} process(es) and resumes with "
                f"{self.context.world}: dropout draws differ from an uninterrupted run"
            )
        _set_rng_state(rng_states[self.context.rank % len(rng_states)], self.context.device)
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.warmup is not None and state.get("warmup") is not None:
            self.warmup.load_state_dict(state["warmup"])
        if self.scaler is not None and state.get("scaler") is not None:
            self.scaler.load_state_dict(state["scaler"])
        self.window_loss, self.window_tokens = self._window_from(state)
        self.start = time.perf_counter() - state["elapsed"]
        self.records = runs.read_metrics(self.run_dir, up_to_step=self.step, rewrite=self.context.is_main)
        read_probes(self.run_dir, up_to_step=self.step, rewrite=self.context.is_main)
        self.scoreboard.load_state_dict(state, self.records)

    def _window_from(self, state: dict) -> tuple[torch.Tensor, int]:
        """This process's running loss sum, as it was: a float32 sum continued from a rounded total
        would drift in the last digit of the next ``train_loss``."""
        if "window_losses" in state:
            losses = state["window_losses"]
            if len(losses) == self.context.world:
                own = losses[self.context.rank]
            else:  # resumed with another process count: rank 0 carries the whole sum
                own = sum(losses) if self.context.is_main else 0.0
            return torch.tensor(own, device=self.context.device), state["window_tokens"]
        total, tokens = state["window"]  # older runs kept the sum over processes
        return torch.tensor(total if self.context.is_main else 0.0, device=self.context.device), tokens


def _wrapped(model: Seq2Seq, context: Context, compile_model: bool, console: Console):
    """The model as training calls it: under DistributedDataParallel, and compiled when asked."""
    forward = model
    if context.distributed:
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [context.device.index] if context.device.type == "cuda" else None
        forward = DistributedDataParallel(model, device_ids=device_ids)
    if compile_model:
        try:
            forward = torch.compile(forward)
        except Exception as exc:  # noqa: BLE001 - e.g. no compiler toolchain on this platform
            console.print(f"[yellow]warning:[/] torch.compile unavailable ({type(exc).__name__}); training without it")
    return forward


def _rng_state(device: torch.device) -> dict:
    """The generators dropout draws from: the CPU's, and the GPU's when training on one."""
    return {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"], device)


def _as_rng_state(state) -> tuple:
    """random.Random states come back from a checkpoint as lists; setstate wants tuples."""
    version, internal, gauss = state
    return (version, tuple(internal), gauss)


@contextlib.contextmanager
def _signals_caught(trainer: Trainer):
    """Ctrl-C and SIGTERM only set a flag; the loop saves at the next step boundary and stops."""
    def note(signal_number, _frame):
        trainer.signal_received = signal_number

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


def _inverse_sqrt_scheduler(optimizer: torch.optim.Optimizer, settings: TrainConfig):
    """The Transformer schedule: linear warm-up to ``lr`` over ``warmup_steps``, then lr * sqrt(warmup / step)."""
    if settings.lr_schedule != "inverse-sqrt":
        return None
    warmup = settings.warmup_steps or 4000
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min((step + 1) / warmup, math.sqrt(warmup / (step + 1))))
