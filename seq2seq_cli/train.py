"""The training loop: data preparation, mini-batch updates, validation, checkpoints and stopping."""

from __future__ import annotations

import contextlib
import math
import random
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from seq2seq_cli import runs
from seq2seq_cli.config import Config, TrainConfig, parse_duration, save_config
from seq2seq_cli.data import Batch, Example, Pair, Vocab, bucketed_batches, collate, read_pairs, tokenize
from seq2seq_cli.distributed import SINGLE, Context, setup, teardown
from seq2seq_cli.errors import DataError, RunError, S2SError, TrainingError, TrainingInterrupted
from seq2seq_cli.model import Seq2Seq, build_model, parameter_counts
from seq2seq_cli.tokenizers import Tokenizer, WordTokenizer, load_tokenizers, train_tokenizers

Tokenised = tuple[list[str], list[str], Pair]  # source tokens, target tokens, the raw pair


@dataclass
class TrainingData:
    train: list[Example]
    val: list[Example]
    val_pairs: list[Pair]  # the raw text of ``val``, for BLEU against untouched references
    src_vocab: Vocab
    tgt_vocab: Vocab
    tokenizers: tuple[Tokenizer, Tokenizer]
    too_long: int  # training pairs dropped for exceeding data.max_len


def read_training_pairs(config: Config) -> tuple[list[Pair], list[Pair]]:
    """Training and validation pairs, checked line by line (a held-out split when no val file is given)."""
    data = config.data
    train_pairs = _with_words(read_pairs(data.train), data.train, data.lowercase)
    if data.val:
        return train_pairs, _with_words(read_pairs(data.val), data.val, data.lowercase)
    return _split(train_pairs, data.val_split, config.train.seed)


def prepare_data(
    config: Config,
    tokenizers: tuple[Tokenizer, Tokenizer] | None = None,
    vocabs: tuple[Vocab, Vocab] | None = None,
    pairs: tuple[list[Pair], list[Pair]] | None = None,
) -> TrainingData:
    """Tokenise and index the pairs; build both vocabularies from train unless given."""
    data = config.data
    train_pairs, val_pairs = pairs or read_training_pairs(config)
    src_tokenizer, tgt_tokenizer = tokenizers or (WordTokenizer(data.lowercase), WordTokenizer(data.lowercase))

    def tokenised(pair_list: list[Pair]) -> list[Tokenised]:
        rows = ((src_tokenizer.tokens(p.source), tgt_tokenizer.tokens(p.target), p) for p in pair_list)
        return [row for row in rows if max(len(row[0]), len(row[1])) <= data.max_len]

    fits = tokenised(train_pairs)
    if not fits:
        raise DataError(f"{data.train}: every pair is longer than data.max_len={data.max_len} tokens")
    src_vocab, tgt_vocab = vocabs or (
        Vocab.build((p[0] for p in fits), data.min_freq, data.max_size),
        Vocab.build((p[1] for p in fits), data.min_freq, data.max_size),
    )
    val_fits = tokenised(val_pairs)
    return TrainingData(
        train=[Example(src_vocab.encode(s), tgt_vocab.encode(t)) for s, t, _ in fits],
        val=[Example(src_vocab.encode(s), tgt_vocab.encode(t)) for s, t, _ in val_fits],
        val_pairs=[pair for _, _, pair in val_fits],
        src_vocab=src_vocab,
        tgt_vocab=tgt_vocab,
        tokenizers=(src_tokenizer, tgt_tokenizer),
        too_long=len(train_pairs) - len(fits),
    )


def _with_words(pairs: list[Pair], path: str, lowercase: bool) -> list[Pair]:
    """Every side must keep a word after normalisation; the error names the line that does not."""
    for pair in pairs:
        for side, text in (("source", pair.source), ("target", pair.target)):
            if not tokenize(text, lowercase):
                raise DataError(f"{path}:{pair.line}: {side} side has no words after normalisation")
    return pairs


def _split(pairs: list[Pair], fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """A seeded held-out share of train, for when no validation file is given."""
    held_out = round(len(pairs) * fraction) if len(pairs) > 1 else 0
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    val_ids = set(order[:held_out])
    return [p for i, p in enumerate(pairs) if i not in val_ids], [p for i, p in enumerate(pairs) if i in val_ids]


def batch_loss(
    model: Seq2Seq, batch: Batch, teacher_forcing: float = 1.0, label_smoothing: float = 0.0, forward=None
) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy over real target tokens (``<eos>`` included) and their count.

    The output layer, the largest matrix product, runs on real positions only, never on padding.
    ``forward`` is the model as wrapped for training (DistributedDataParallel, torch.compile).
    """
    forward = model if forward is None else forward  # not ``or``: a compiled module refuses bool()
    features = forward(batch.src, batch.src_lengths, batch.tgt_in, teacher_forcing)  # (batch, tgt_len, hidden)
    real = batch.tgt_out != Vocab.PAD
    loss = model.decoder.out.summed_nll(features[real], batch.tgt_out[real], label_smoothing)  # features: (tokens, hidden)
    return loss, batch.n_tokens


@torch.inference_mode()
def validation_loss(model: Seq2Seq, examples: list[Example], batch_size: int, context: Context = SINGLE) -> float | None:
    """Mean cross-entropy per target token on held-out pairs, with dropout off (each process a share)."""
    if not examples:
        return None
    model.eval()
    device = next(model.parameters()).device
    total, tokens = 0.0, 0
    for ids in bucketed_batches(examples, batch_size, rng=None)[context.rank :: context.world]:
        loss, n = batch_loss(model, collate([examples[i] for i in ids]).to(device))
        total, tokens = total + float(loss), tokens + n
    model.train()
    total, tokens = context.sum([total, tokens])
    return total / tokens


def validation_scores(model: Seq2Seq, data: TrainingData, config: Config, context: Context = SINGLE) -> dict:
    """Loss and perplexity (teacher-forced), and BLEU and chrF of batched greedy translations."""
    val_loss = validation_loss(model, data.val, config.train.batch_size, context)
    if val_loss is None:
        return {"val_loss": None, "val_ppl": None, "val_bleu": None, "val_chrf": None}
    from seq2seq_cli.evaluate import corpus_scores
    from seq2seq_cli.translator import Translator

    translator = Translator(model, config, data.src_vocab, data.tgt_vocab, data.tokenizers)
    translator = translator.with_decoding(beam_size=1, n_best=1)
    share = [t.text for t in translator.translate([p.source for p in data.val_pairs[context.rank :: context.world]])]
    shares = context.gather(share)  # shares[r][i] translates val_pairs[i * world + r]
    hypotheses = [shares[i % context.world][i // context.world] for i in range(len(data.val_pairs))]
    model.train()
    bleu, _, chrf, _ = corpus_scores(hypotheses, [p.target for p in data.val_pairs], config.data.lowercase)
    return {
        "val_loss": round(val_loss, 6),
        "val_ppl": round(math.exp(min(val_loss, 50.0)), 4),
        "val_bleu": round(bleu, 2),
        "val_chrf": round(chrf, 2),
    }


def train(config: Config, name: str, console: Console) -> Path:
    """Train the model ``config`` describes into a new run folder, and return that folder."""
    with _threads(config.train.threads):
        return _train(config, name, console)


def _train(config: Config, name: str, console: Console) -> Path:
    context = setup(config.train.device)
    try:
        torch.manual_seed(config.train.seed)
        pairs = read_training_pairs(config)
        run_dir = context.from_main(runs.create_run_dir(config.train.runs_dir, name) if context.is_main else None)
        with _removed_on_error(run_dir, context):  # a run that never started leaves no folder behind
            tokenizers = train_tokenizers(config.data, run_dir, pairs[0]) if context.is_main else None
            context.barrier()  # the sentencepiece models exist before the other processes read them
            data = prepare_data(config, tokenizers or load_tokenizers(config.data, run_dir), pairs=pairs)
            model = build_model(config.model, len(data.src_vocab), len(data.tgt_vocab), config.data.max_len)
        if context.is_main:
            save_config(config, run_dir / runs.CONFIG_FILE)
            data.src_vocab.save(run_dir / runs.SOURCE_VOCAB)
            data.tgt_vocab.save(run_dir / runs.TARGET_VOCAB)
        console = console if context.is_main else Console(quiet=True)
        console.print(summary_table(data, model, run_dir))
        return _run(Trainer(config, data, model, run_dir, console, context))
    finally:
        teardown(context)


def resume(run_dir: Path, console: Console) -> Path:
    """Continue an interrupted run from its ``last`` checkpoint: same data order, RNG and optimizer state.

    On a CPU the result is the very weights an uninterrupted run would have reached.
    """
    config = runs.load_run_config(run_dir)
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
        data = prepare_data(config, load_tokenizers(config.data, run_dir), runs.load_vocabs(run_dir))
        model = build_model(config.model, len(data.src_vocab), len(data.tgt_vocab), config.data.max_len)
        model.load_state_dict(checkpoint["model"])
        console = console if context.is_main else Console(quiet=True)
        trainer = Trainer(config, data, model, run_dir, console, context)
        trainer.load_state_dict(checkpoint)
        console.print(f"resuming {run_dir} at step {trainer.step} (epoch {trainer.epoch})")
        return _run(trainer)
    finally:
        teardown(context)


@contextlib.contextmanager
def _removed_on_error(run_dir: Path, context: Context):
    try:
        yield
    except S2SError:
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
        _plot_curves_or_warn(records, trainer.run_dir / runs.CURVES, trainer.console)
    best = trainer.best_record()
    trainer.console.print(
        f"[green]done[/] in {records[-1]['elapsed']:.1f}s ({trainer.stop_reason}): best at step {best['step']} "
        f"(epoch {best['epoch']}; {_metric_text(best)}), saved to {trainer.run_dir}"
    )
    trainer.context.barrier()  # processes leave together: one tearing down while rank 0 still works can abort
    return trainer.run_dir


class Trainer:
    """One training run: the optimisation loop, validation, checkpoints and when to stop.

    Everything needed to continue exactly where it stopped (``state_dict``) goes into
    ``last.pt``: at every validation, and when Ctrl-C or SIGTERM arrives.
    """

    def __init__(
        self, config: Config, data: TrainingData, model: Seq2Seq, run_dir: Path, console: Console, context: Context = SINGLE
    ):
        self.config, self.settings, self.data = config, config.train, data
        self.run_dir, self.console, self.context = run_dir, console, context
        self.model = model.to(context.device)  # what is saved; ``forward`` is what trains
        self.forward = _wrapped(self.model, context, self.settings.compile, console)
        # fused: one kernel for every parameter; on a CPU it more than doubled training speed here
        self.optimizer = torch.optim.Adam(model.parameters(), lr=self.settings.lr, fused=True)
        self.scaler = torch.amp.GradScaler(context.device.type) if self.settings.precision == "fp16" else None
        self.scheduler = _plateau_scheduler(self.optimizer, self.settings)
        self.warmup = _inverse_sqrt_scheduler(self.optimizer, self.settings)
        self.batch_rng = random.Random(self.settings.seed)
        self.epoch_rng_state = self.batch_rng.getstate()  # replaying it rebuilds the epoch's batch order
        self.step, self.epoch, self.batch_in_epoch = 0, 1, 0
        self.records: list[dict] = []
        self.kept: list[tuple[float, int]] = []  # (score, step) of the best-N checkpoint files
        self.stalled = 0  # validations since the best one, for early stopping
        self.stop_reason = ""
        self.signal_received: int | None = None
        self.start = time.perf_counter()
        budget = self.settings.max_time
        self.budget = parse_duration(budget) if budget else float("inf")
        self._reset_window()

    def fit(self) -> list[dict]:
        self.model.train()
        total = len(self._batches(random.Random(0))) // self._group_size * self.settings.epochs
        with _progress(self.console) as self.progress, _signals_caught(self):
            self.task = self.progress.add_task("training", total=total, completed=min(total, self.step), loss=float("nan"), speed=0.0)
            while self.epoch <= self.settings.epochs and not self._train_epoch():
                self.epoch, self.batch_in_epoch = self.epoch + 1, 0
                self.epoch_rng_state = self.batch_rng.getstate()
        self.stop_reason = self.stop_reason or "all epochs done"
        self._save_last(finished=True)
        return self.records

    def best_record(self) -> dict:
        return max(self.records, key=self._score)

    @property
    def _group_size(self) -> int:
        """Batches one update reads: each process's share, ``accumulate`` batches each."""
        return self.context.world * self.settings.accumulate

    def _batches(self, rng: random.Random) -> list[list[int]]:
        return bucketed_batches(self.data.train, self.settings.batch_size, rng, self.settings.batch_tokens)

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
            group = [collate([self.data.train[i] for i in ids]) for ids in batches[self.batch_in_epoch : self.batch_in_epoch + group_size]]
            self._update(group[self.context.rank :: self.context.world], sum(b.n_tokens for b in group))
            self.batch_in_epoch += group_size
            signalled, out_of_time = self._agreed(self.signal_received is not None, self._elapsed() > self.budget)
            self._stop_if_signalled(signalled)
            if out_of_time or (every and self.step % every == 0):
                if self._validate():
                    return True
                if out_of_time:
                    self.stop_reason = f"time budget of {self.settings.max_time} used"
                    return True
        validated_now = bool(self.records) and self.records[-1]["step"] == self.step
        if (not every or self.epoch == self.settings.epochs) and not validated_now:
            return self._validate()
        return False

    def _update(self, batches: list[Batch], group_tokens: int) -> None:
        """One optimizer step on this process's batches; the loss is normalised by the whole group's
        target tokens, so N processes (or N accumulated batches) give the gradient of one big batch."""
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
            return
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.step += 1
        if self.warmup is not None:
            self.warmup.step()
        self.window_loss += loss_sum  # stays on the device: no host sync
        self.window_tokens += group_tokens
        speed = self.window_tokens / max(time.perf_counter() - self.window_start, 1e-9)
        self.progress.update(self.task, advance=1, speed=speed)

    def _non_finite(self, loss: torch.Tensor) -> None:
        """Stop (default) or skip the batch; the weights were not touched, and nothing is saved."""
        where = f"step {self.step + 1} (epoch {self.epoch}, batch {self.batch_in_epoch + 1})"
        if self.settings.on_nonfinite == "skip":
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
        record["peak_memory_mib"] = peak_memory_mib()
        best_before = max((self._score(r) for r in self.records), default=float("-inf"))
        self.records.append(record)
        if self.scheduler is not None:
            self.scheduler.step(self._score(record))
        self.stalled = 0 if self._score(record) > best_before else self.stalled + 1
        self._reset_window()
        if self.settings.patience and self.stalled >= self.settings.patience:
            self.stop_reason = f"no better {self.settings.best_metric} in {self.stalled} validations"
        self._checkpoint(record, is_best=self._score(record) >= best_before)
        self.progress.update(self.task, loss=record["train_loss"])
        self.progress.console.print(_validation_line(record))
        return bool(self.stop_reason)

    def _score(self, record: dict) -> float:
        """Higher is better, whatever the metric; training loss stands in without a validation set."""
        metric = self.settings.best_metric
        if record.get(f"val_{metric}") is None:
            return -record["train_loss"]
        return -record["val_loss"] if metric == "loss" else record[f"val_{metric}"]

    def _checkpoint(self, record: dict, is_best: bool) -> None:
        """Metrics line, ``best`` when it is, the best N when asked, and ``last`` as the commit point."""
        if self.context.is_main:
            runs.append_metrics(self.run_dir, record)
            weights = {"model": self.model.state_dict(), "epoch": record["epoch"], "step": record["step"]}
            if is_best:
                runs.save_checkpoint(weights, self.run_dir / runs.BEST)
            if self.settings.keep_best > 1:
                self._keep_best_n(weights, self._score(record))
        self._save_last(finished=False)

    def _keep_best_n(self, weights: dict, score: float) -> None:
        """``best-step<N>.pt`` for the ``keep_best`` best validations; the others are deleted."""
        self.kept = sorted(self.kept + [(score, self.step)], key=lambda kept: -kept[0])
        if (score, self.step) in self.kept[: self.settings.keep_best]:
            runs.save_checkpoint(weights, self.run_dir / runs.ranked_checkpoint(self.step))
        for _, step in self.kept[self.settings.keep_best :]:
            (self.run_dir / runs.ranked_checkpoint(step)).unlink(missing_ok=True)
        self.kept = self.kept[: self.settings.keep_best]

    def _save_last(self, finished: bool) -> None:
        """Every process calls this (it gathers each one's share of the state); rank 0 writes."""
        shared = self._shared_state()
        if not self.context.is_main:
            return
        payload = {"model": self.model.state_dict(), "epoch": self.epoch, "step": self.step}
        runs.save_checkpoint({**payload, "trainer": self.state_dict(finished, shared)}, self.run_dir / runs.LAST)

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
            "kept": self.kept,
            "stalled": self.stalled,
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
        self.kept = [tuple(k) for k in state["kept"]]
        self.stalled = state["stalled"]
        self.window_loss, self.window_tokens = self._window_from(state)
        self.start = time.perf_counter() - state["elapsed"]
        self.records = runs.read_metrics(self.run_dir, up_to_step=self.step, rewrite=self.context.is_main)

    def _window_from(self, state: dict) -> tuple[torch.Tensor, int]:
        """This process's running loss sum, as it was: a float32 sum continued from a rounded total
        would drift in the last digit of the next ``train_loss``."""
        if "window_losses" in state:
            losses = state["window_losses"]
            own = losses[self.context.rank] if len(losses) == self.context.world else (sum(losses) if self.context.is_main else 0.0)
            return torch.tensor(own, device=self.context.device), state["window_tokens"]
        total, tokens = state["window"]  # older runs kept the sum over processes
        return torch.tensor(total if self.context.is_main else 0.0, device=self.context.device), tokens


def peak_memory_mib() -> float | None:
    """This process's peak resident memory so far (Linux VmHWM), or None where /proc is missing.

    Not ``getrusage``: its maxrss survives exec, so a process started by a large parent
    (a benchmark, a notebook) would report the parent's size.
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), None)
    return None if kib is None else round(kib / 1024, 1)


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
    warmup = settings.warmup_steps
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min((step + 1) / warmup, math.sqrt(warmup / (step + 1))))


def _plateau_scheduler(optimizer: torch.optim.Optimizer, settings: TrainConfig):
    """Lower the learning rate when the chosen metric stops improving (scores: higher is better)."""
    if settings.lr_decay >= 1.0 or settings.lr_schedule != "plateau":
        return None
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=settings.lr_decay, patience=settings.lr_patience, min_lr=settings.min_lr
    )


def summary_table(data: TrainingData, model: Seq2Seq, run_dir: Path) -> Table:
    """What is about to be trained: data and vocabulary sizes, parameters per module."""
    table = Table(title=f"s2s run {run_dir}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("training pairs", f"{len(data.train):,}")
    if data.too_long:
        table.add_row("  dropped (longer than data.max_len)", f"{data.too_long:,}")
    table.add_row("validation pairs", f"{len(data.val):,}")
    table.add_row("source vocabulary", f"{len(data.src_vocab):,}")
    table.add_row("target vocabulary", f"{len(data.tgt_vocab):,}")
    counts = parameter_counts(model)
    for module, count in counts.items():
        table.add_row(f"  {module}", f"{count:,}")
    table.add_row("parameters", f"{sum(counts.values()):,}")
    return table


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TextColumn("{task.fields[speed]:,.0f} tok/s"),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    )


def _validation_line(record: dict) -> str:
    return (
        f"epoch {record['epoch']:>3}  step {record['step']:>6}  train loss {record['train_loss']:.4f}  "
        f"{_metric_text(record)}  lr {record['lr']:.2g}  {record['tokens_per_s']:,.0f} tok/s"
    )


def _metric_text(record: dict) -> str:
    return (
        f"val loss {_fmt(record['val_loss'])}  ppl {_fmt(record['val_ppl'])}  "
        f"BLEU {_fmt(record['val_bleu'], 2)}  chrF {_fmt(record['val_chrf'], 2)}"
    )


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _plot_curves_or_warn(records: list[dict], path: Path, console: Console) -> None:
    """A failed plot must not fail a finished training run."""
    from seq2seq_cli.plot import plot_curves

    try:
        plot_curves(records, path)
    except Exception as exc:  # noqa: BLE001 - the checkpoints are what matters
        console.print(f"[yellow]warning:[/] could not draw {path}: {exc}")
