"""The run's logbook: every validation's record and what it leaves in the run folder, and the part of
``last.pt`` each process holds for itself.

At each validation (rank 0 writes): a line in ``metrics.jsonl``, the probe sentences' translations in
``probes.jsonl``, the trackers of ``train.log_to``, ``best.pt`` when it is the best so far (the rule is
``scoreboard.py``'s), ``best-step<N>.pt`` for the ``train.keep_best`` best and ``step<N>.pt`` for the
``train.keep_last`` latest. ``last.pt``, the commit point ``--resume`` continues from, is written by the
trainer with ``shared_state``: every process's dropout RNG and running loss, so resuming is exact.
"""

from __future__ import annotations

from pathlib import Path

import torch
from rich.console import Console

from seq2seq_cli import runs
from seq2seq_cli.config import Config
from seq2seq_cli.data.prepare import TrainingData
from seq2seq_cli.decoding.translator import Translator
from seq2seq_cli.models.seq2seq import Seq2Seq
from seq2seq_cli.system import Context
from seq2seq_cli.training import tracking
from seq2seq_cli.training.scoreboard import Scoreboard, Verdict
from seq2seq_cli.training.updates import LossWindow
from seq2seq_cli.viz.probes import append_probes, choose_probes, probe_record, read_probes


class Logbook:
    """The validations so far (``records``), which is best (``scoreboard``), and the files each leaves."""

    def __init__(self, config: Config, data: TrainingData, model: Seq2Seq, run_dir: Path, context: Context):
        settings = config.train
        self.config, self.data, self.model, self.run_dir, self.context = config, data, model, run_dir, context
        self.keep_last = settings.keep_last
        self.records: list[dict] = []
        self.scoreboard = Scoreboard(settings.best_metric, settings.keep_best, settings.patience)
        self.probes = choose_probes(config, data, self.translator()) if context.is_main else []
        self.tracker = tracking.NOTHING  # train.log_to's writers, opened by ``Trainer.fit``

    def translator(self) -> Translator:
        """The model being trained behind the one decode path (it switches the model to eval mode)."""
        data = self.data
        return Translator(self.model, self.config, data.src_vocab, data.tgt_vocab, data.tokenizers)

    def validated_at(self, step: int) -> bool:
        """Each step is validated at most once."""
        return bool(self.records) and self.records[-1]["step"] == step

    def add(self, record: dict) -> Verdict:
        """Count one validation in; the verdict says what it means for the checkpoints and for stopping."""
        verdict = self.scoreboard.add(record)
        self.records.append(record)
        return verdict

    def save(self, record: dict, verdict: Verdict) -> None:
        """Metrics line, probes, ``best`` when it is, the best N and the latest N when asked (rank 0 only)."""
        probes = None
        if self.probes:  # greedy and dropout-free: draws nothing from the RNG, so resuming stays exact
            probes = probe_record(self.translator(), self.probes, record["step"])
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

    def _keep_last(self, weights: dict) -> None:
        """step<N>.pt for the train.keep_last latest validations (for ``s2s average --last``); older ones go."""
        keep = self.keep_last
        if not keep:
            return
        runs.save_checkpoint(weights, self.run_dir / runs.step_checkpoint(weights["step"]))
        if len(self.records) > keep:
            (self.run_dir / runs.step_checkpoint(self.records[-keep - 1]["step"])).unlink(missing_ok=True)

    def restore(self, state: dict, step: int) -> None:
        """Resuming at ``step``: the logs are cut back to it, and the best so far replayed from them."""
        self.records = runs.read_metrics(self.run_dir, up_to_step=step, rewrite=self.context.is_main)
        read_probes(self.run_dir, up_to_step=step, rewrite=self.context.is_main)
        self.scoreboard.load_state_dict(state, self.records)


def shared_state(context: Context, window: LossWindow) -> dict:
    """What each process holds its own part of: its dropout RNG, its share of the window's loss
    (every process calls this: it gathers)."""
    shares = context.gather([(_rng_state(context.device), float(window.loss))])
    return {
        "torch_rng_states": [share[0][0] for share in shares],
        "window_losses": [share[0][1] for share in shares],  # each process's own float32 running sum
        "window_tokens": window.tokens,
    }


def restore_rng(state: dict, context: Context, console: Console) -> None:
    """This process's dropout RNG as the interrupted run left it (exact when the process count is the same)."""
    rng_states = state.get("torch_rng_states") or [{"cpu": state["torch_rng_state"]}]  # older runs kept one
    if len(rng_states) != context.world:
        console.print(
            f"[yellow]warning:[/] the run was saved by {len(rng_states)} process(es) and resumes with "
            f"{context.world}: dropout draws differ from an uninterrupted run"
        )
    _set_rng_state(rng_states[context.rank % len(rng_states)], context.device)


def as_rng_state(state) -> tuple:
    """random.Random states come back from a checkpoint as lists; setstate wants tuples."""
    version, internal, gauss = state
    return (version, tuple(internal), gauss)


def _rng_state(device: torch.device) -> dict:
    """The generators dropout draws from: the CPU's, and the GPU's when training on one."""
    return {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"], device)
