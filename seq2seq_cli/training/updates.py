"""One update: forward and backward over a group of batches, gradient clipping, the optimizer step and
the learning-rate schedules; and the running training loss those updates add up to between validations.

A group is ``world × accumulate`` batches; this process computes its share, one batch after another,
and the loss is normalised by the whole group's target tokens, so N processes (or N accumulated
batches) give the gradient of one big batch. The trainer (``trainer.py``) decides which batches form a
group and what a skipped (non-finite) update means.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time

import torch
from rich.console import Console

from seq2seq_cli.config import TrainConfig
from seq2seq_cli.data.batches import Batch
from seq2seq_cli.data.text import Vocab
from seq2seq_cli.models.seq2seq import Seq2Seq
from seq2seq_cli.system import Context
from seq2seq_cli.training.adam import Adam
from seq2seq_cli.training.schedules import budget_schedule, inverse_sqrt_schedule, plateau_schedule
from seq2seq_cli.training.stopping import Clock, agreed
from seq2seq_cli.training.validation import batch_loss


class Updater:
    """The optimizer, its loss scaler and its learning-rate schedules, and the step that applies them.

    ``model`` is what is saved; ``forward`` is the model as training calls it (``wrapped``).
    """

    def __init__(self, model: Seq2Seq, forward: torch.nn.Module, settings: TrainConfig, context: Context,
                 console: Console, total_steps: int, time_budget: float):
        self.model, self.forward, self.settings = model, forward, settings
        self.context, self.console = context, console
        # fused: one kernel for every parameter; on a CPU it more than doubled training speed here
        trained = [p for p in model.parameters() if p.requires_grad]  # train.freeze: the frozen ones are left out
        self.optimizer = Adam(trained, lr=settings.lr)
        self.scaler = torch.amp.GradScaler(context.device.type) if settings.precision == "fp16" else None
        self.scheduler = plateau_schedule(self.optimizer, settings)  # stepped by validations
        self.warmup = inverse_sqrt_schedule(self.optimizer, settings)  # stepped by updates
        self.budget_lr = budget_schedule(self.optimizer, settings, total_steps, time_budget)  # cosine, linear

    def step(self, batches: list[Batch], group_tokens: int) -> tuple[torch.Tensor, bool]:
        """One optimizer step on this process's ``batches`` of a group of ``group_tokens`` target tokens.

        Returns this process's summed loss (a 0-dim float32 tensor, left on the device) and whether the
        step was taken: not when any process met a non-finite loss or gradient (the weights are untouched).
        """
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
        (broken,) = agreed(self.context, not bool(finite))  # one host sync a step, cheap on a CPU
        if broken:
            return loss_sum, False
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        return loss_sum, True

    def after_step(self, step: int, clock: Clock) -> None:
        """The per-update schedules: warm-up (inverse-sqrt), or cosine and linear decay over the budget."""
        if self.warmup is not None:
            self.warmup.step()
        if self.budget_lr is not None:
            self.budget_lr.update(step, clock.agreed_elapsed(self.context))

    def after_validation(self, score: float) -> None:
        """The plateau schedule lowers the rate when the validation score stops improving."""
        if self.scheduler is not None:
            self.scheduler.step(score)

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def _batch_loss(self, batch: Batch) -> tuple[torch.Tensor, int]:
        settings = self.settings
        if settings.word_dropout:
            batch = drop_source_words(batch, settings.word_dropout)
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

    def state_dict(self) -> dict:
        """The optimizer's moments, the schedules' positions and the loss scale, for ``last.pt``."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "warmup": self.warmup.state_dict() if self.warmup is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
        }

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.warmup is not None and state.get("warmup") is not None:  # older runs kept none
            self.warmup.load_state_dict(state["warmup"])
        if self.scaler is not None and state.get("scaler") is not None:
            self.scaler.load_state_dict(state["scaler"])


class LossWindow:
    """Training loss and speed are reported per stretch between validations: the summed loss and the
    target tokens of the updates since the last one. The sum stays on the device (no host sync a step)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.reset()

    def reset(self) -> None:
        self.loss = torch.zeros((), device=self.device)  # this process's share, float32
        self.tokens, self.start = 0, time.perf_counter()  # tokens: the whole group's, every process alike

    def add(self, loss_sum: torch.Tensor, group_tokens: int) -> None:
        self.loss += loss_sum
        self.tokens += group_tokens

    def speed(self) -> float:
        """Target tokens a second since the window opened."""
        return self.tokens / max(time.perf_counter() - self.start, 1e-9)

    def mean_loss(self, context: Context) -> float:
        """Loss per target token over every process's share (an all-reduce under DDP)."""
        return context.sum([float(self.loss)])[0] / max(self.tokens, 1)

    def restore(self, state: dict, context: Context) -> None:
        """This process's running loss sum, as it was: a float32 sum continued from a rounded total
        would drift in the last digit of the next ``train_loss``."""
        if "window_losses" in state:
            losses = state["window_losses"]
            if len(losses) == context.world:
                own = losses[context.rank]
            else:  # resumed with another process count: rank 0 carries the whole sum
                own = sum(losses) if context.is_main else 0.0
            self.loss, self.tokens = torch.tensor(own, device=context.device), state["window_tokens"]
            return
        total, tokens = state["window"]  # older runs kept the sum over processes
        self.loss, self.tokens = torch.tensor(total if context.is_main else 0.0, device=context.device), tokens


def wrapped(model: Seq2Seq, context: Context, compile_model: bool, console: Console) -> torch.nn.Module:
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


def drop_source_words(batch: Batch, rate: float) -> Batch:
    """Word dropout (Sennrich et al., 2016): each source word is read as ``<unk>`` with probability ``rate``,
    so the decoder learns not to lean on any one word, and to translate around words it never saw."""
    words = batch.src >= len(Vocab.SPECIALS)  # (batch, src_len): never padding or a special token
    dropped = words & (torch.rand(batch.src.shape, device=batch.src.device) < rate)
    return dataclasses.replace(batch, src=batch.src.masked_fill(dropped, Vocab.UNK))
