"""The training loop: data preparation, mini-batch updates, validation, checkpoints and stopping."""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from seq2seq_cli import runs
from seq2seq_cli.config import Config, TrainConfig, parse_duration, save_config
from seq2seq_cli.data import Batch, Example, Pair, Vocab, bucketed_batches, collate, read_pairs, tokenize
from seq2seq_cli.errors import DataError
from seq2seq_cli.model import Seq2Seq, build_model, parameter_counts

Tokenised = tuple[list[str], list[str], Pair]


@dataclass
class TrainingData:
    train: list[Example]
    val: list[Example]
    val_pairs: list[Pair]  # the raw text of ``val``, for BLEU against untouched references
    src_vocab: Vocab
    tgt_vocab: Vocab
    too_long: int  # training pairs dropped for exceeding data.max_len


def prepare_data(config: Config) -> TrainingData:
    """Read, tokenise, split and index the pairs, and build both vocabularies from train."""
    data = config.data
    train_pairs = _tokenised(read_pairs(data.train), data.train, data.lowercase)
    if data.val:
        val_pairs = _tokenised(read_pairs(data.val), data.val, data.lowercase)
    else:
        train_pairs, val_pairs = _split(train_pairs, data.val_split, config.train.seed)
    fits = [p for p in train_pairs if max(len(p[0]), len(p[1])) <= data.max_len]
    if not fits:
        raise DataError(f"{data.train}: every pair is longer than data.max_len={data.max_len} tokens")
    src_vocab = Vocab.build((p[0] for p in fits), data.min_freq, data.max_size)
    tgt_vocab = Vocab.build((p[1] for p in fits), data.min_freq, data.max_size)
    val_fits = [p for p in val_pairs if max(len(p[0]), len(p[1])) <= data.max_len]
    return TrainingData(
        train=[Example(src_vocab.encode(s), tgt_vocab.encode(t)) for s, t, _ in fits],
        val=[Example(src_vocab.encode(s), tgt_vocab.encode(t)) for s, t, _ in val_fits],
        val_pairs=[pair for _, _, pair in val_fits],
        src_vocab=src_vocab,
        tgt_vocab=tgt_vocab,
        too_long=len(train_pairs) - len(fits),
    )


def _tokenised(pairs: list[Pair], path: str, lowercase: bool) -> list[Tokenised]:
    result = []
    for pair in pairs:
        source, target = tokenize(pair.source, lowercase), tokenize(pair.target, lowercase)
        if not source or not target:
            side = "source" if not source else "target"
            raise DataError(f"{path}:{pair.line}: {side} side has no words after normalisation")
        result.append((source, target, pair))
    return result


def _split(pairs: list[Tokenised], fraction: float, seed: int) -> tuple[list[Tokenised], list[Tokenised]]:
    """A seeded held-out share of train, for when no validation file is given."""
    held_out = round(len(pairs) * fraction) if len(pairs) > 1 else 0
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    val_ids = set(order[:held_out])
    return [p for i, p in enumerate(pairs) if i not in val_ids], [p for i, p in enumerate(pairs) if i in val_ids]


def batch_loss(model: Seq2Seq, batch: Batch, teacher_forcing: float = 1.0) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy over real target tokens (``<eos>`` included) and their count.

    The output layer, the largest matrix product, runs on real positions only, never on padding.
    """
    features = model(batch.src, batch.src_lengths, batch.tgt_in, teacher_forcing)  # (batch, tgt_len, hidden)
    real = batch.tgt_out != Vocab.PAD
    logits = model.decoder.out(features[real])  # (tokens, vocab)
    return F.cross_entropy(logits, batch.tgt_out[real], reduction="sum"), batch.n_tokens


@torch.inference_mode()
def validation_loss(model: Seq2Seq, examples: list[Example], batch_size: int) -> float | None:
    """Mean cross-entropy per target token on held-out pairs, with dropout off."""
    if not examples:
        return None
    model.eval()
    total, tokens = 0.0, 0
    for ids in bucketed_batches(examples, batch_size, rng=None):
        loss, n = batch_loss(model, collate([examples[i] for i in ids]))
        total, tokens = total + float(loss), tokens + n
    model.train()
    return total / tokens


def validation_scores(model: Seq2Seq, data: TrainingData, config: Config) -> dict:
    """Loss and perplexity (teacher-forced), and BLEU and chrF of batched greedy translations."""
    val_loss = validation_loss(model, data.val, config.train.batch_size)
    if val_loss is None:
        return {"val_loss": None, "val_ppl": None, "val_bleu": None, "val_chrf": None}
    from seq2seq_cli.evaluate import corpus_scores
    from seq2seq_cli.translator import Translator

    translator = Translator(model, config, data.src_vocab, data.tgt_vocab).with_decoding(beam_size=1, n_best=1)
    hypotheses = [t.text for t in translator.translate([p.source for p in data.val_pairs])]
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
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    torch.manual_seed(config.train.seed)
    data = prepare_data(config)
    run_dir = runs.create_run_dir(config.train.runs_dir, name)
    save_config(config, run_dir / runs.CONFIG_FILE)
    data.src_vocab.save(run_dir / runs.SOURCE_VOCAB)
    data.tgt_vocab.save(run_dir / runs.TARGET_VOCAB)
    model = build_model(config.model, len(data.src_vocab), len(data.tgt_vocab), config.data.max_len)
    console.print(summary_table(data, model, run_dir))
    trainer = Trainer(config, data, model, run_dir, console)
    records = trainer.fit()
    _plot_curves_or_warn(records, run_dir / runs.CURVES, console)
    best = trainer.best_record()
    console.print(
        f"[green]done[/] in {records[-1]['elapsed']:.1f}s ({trainer.stop_reason}): best at step {best['step']} "
        f"(epoch {best['epoch']}; {_metric_text(best)}), saved to {run_dir}"
    )
    return run_dir


class Trainer:
    """One training run: the optimisation loop, validation, checkpoints and when to stop."""

    def __init__(self, config: Config, data: TrainingData, model: Seq2Seq, run_dir: Path, console: Console):
        self.config, self.settings, self.data = config, config.train, data
        self.model, self.run_dir, self.console = model, run_dir, console
        # fused: one kernel for every parameter; on a CPU it more than doubled training speed here
        self.optimizer = torch.optim.Adam(model.parameters(), lr=self.settings.lr, fused=True)
        self.scheduler = _plateau_scheduler(self.optimizer, self.settings)
        self.batch_rng = random.Random(self.settings.seed)
        self.step = 0
        self.records: list[dict] = []
        self.kept: list[tuple[float, int]] = []  # (score, step) of the best-N checkpoint files
        self.stalled = 0  # validations since the best one, for early stopping
        self.stop_reason = "all epochs done"
        self.start = time.perf_counter()
        budget = self.settings.max_time
        self.deadline = self.start + parse_duration(budget) if budget else float("inf")
        self._reset_window()

    def fit(self) -> list[dict]:
        self.model.train()
        total = len(self._batches(random.Random(0))) * self.settings.epochs
        with _progress(self.console) as self.progress:
            self.task = self.progress.add_task("training", total=total, loss=float("nan"), speed=0.0)
            for epoch in range(1, self.settings.epochs + 1):
                if self._train_epoch(epoch):
                    break
        return self.records

    def best_record(self) -> dict:
        return max(self.records, key=self._score)

    def _batches(self, rng: random.Random) -> list[list[int]]:
        return bucketed_batches(self.data.train, self.settings.batch_size, rng, self.settings.batch_tokens)

    def _train_epoch(self, epoch: int) -> bool:
        """One pass over the data, validating as configured; True when training should stop."""
        every = self.settings.validate_every
        for ids in self._batches(self.batch_rng):
            self._update(collate([self.data.train[i] for i in ids]))
            out_of_time = time.perf_counter() > self.deadline
            if out_of_time or (every and self.step % every == 0):
                if self._validate(epoch):
                    return True
                if out_of_time:
                    self.stop_reason = f"time budget of {self.settings.max_time} used"
                    return True
        validated_now = bool(self.records) and self.records[-1]["step"] == self.step
        if (not every or epoch == self.settings.epochs) and not validated_now:
            return self._validate(epoch)
        return False

    def _update(self, batch: Batch) -> None:
        loss, n_tokens = batch_loss(self.model, batch, self.settings.teacher_forcing)
        self.optimizer.zero_grad(set_to_none=True)
        (loss / n_tokens).backward()
        if self.settings.clip_grad > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.clip_grad)
        self.optimizer.step()
        self.step += 1
        self.window_loss += loss.detach()  # stays a tensor: no host sync inside the step loop
        self.window_tokens += n_tokens
        speed = self.window_tokens / max(time.perf_counter() - self.window_start, 1e-9)
        self.progress.update(self.task, advance=1, speed=speed)

    def _reset_window(self) -> None:
        """Training loss and speed are reported per stretch between validations."""
        self.window_loss, self.window_tokens, self.window_start = torch.zeros(()), 0, time.perf_counter()

    def _validate(self, epoch: int) -> bool:
        """Score the model, log it, checkpoint it; True when early stopping says stop."""
        record = {
            "epoch": epoch,
            "step": self.step,
            "train_loss": round(float(self.window_loss) / max(self.window_tokens, 1), 6),
            "tokens_per_s": round(self.window_tokens / max(time.perf_counter() - self.window_start, 1e-9), 1),
        }
        record.update(validation_scores(self.model, self.data, self.config))
        record["lr"] = self.optimizer.param_groups[0]["lr"]
        record["elapsed"] = round(time.perf_counter() - self.start, 3)
        best_before = max((self._score(r) for r in self.records), default=float("-inf"))
        self.records.append(record)
        self._checkpoint(record, is_best=self._score(record) >= best_before)
        self.progress.update(self.task, loss=record["train_loss"])
        self.progress.console.print(_validation_line(record))
        if self.scheduler is not None:
            self.scheduler.step(self._score(record))
        self.stalled = 0 if self._score(record) > best_before else self.stalled + 1
        self._reset_window()
        if self.settings.patience and self.stalled >= self.settings.patience:
            self.stop_reason = f"no better {self.settings.best_metric} in {self.stalled} validations"
            return True
        return False

    def _score(self, record: dict) -> float:
        """Higher is better, whatever the metric; training loss stands in without a validation set."""
        metric = self.settings.best_metric
        if record.get(f"val_{metric}") is None:
            return -record["train_loss"]
        return -record["val_loss"] if metric == "loss" else record[f"val_{metric}"]

    def _checkpoint(self, record: dict, is_best: bool) -> None:
        """Append the metrics line; write ``last``, ``best`` when improved, and the best N when asked."""
        with open(self.run_dir / runs.METRICS, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")
        weights = {"model": self.model.state_dict(), "epoch": record["epoch"], "step": record["step"]}
        runs.save_checkpoint({**weights, "optimizer": self.optimizer.state_dict()}, self.run_dir / runs.LAST)
        if is_best:
            runs.save_checkpoint(weights, self.run_dir / runs.BEST)
        if self.settings.keep_best > 1:
            self._keep_best_n(weights, self._score(record))

    def _keep_best_n(self, weights: dict, score: float) -> None:
        """``best-step<N>.pt`` for the ``keep_best`` best validations; the others are deleted."""
        self.kept = sorted(self.kept + [(score, self.step)], key=lambda kept: -kept[0])
        if (score, self.step) in self.kept[: self.settings.keep_best]:
            runs.save_checkpoint(weights, self.run_dir / runs.ranked_checkpoint(self.step))
        for _, step in self.kept[self.settings.keep_best :]:
            (self.run_dir / runs.ranked_checkpoint(step)).unlink(missing_ok=True)
        self.kept = self.kept[: self.settings.keep_best]


def _plateau_scheduler(optimizer: torch.optim.Optimizer, settings: TrainConfig):
    """Lower the learning rate when the chosen metric stops improving (scores: higher is better)."""
    if settings.lr_decay >= 1.0:
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
