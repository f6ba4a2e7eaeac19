"""Fine-tuning: a new run that starts from a trained run's weights (``s2s train --init-from RUN``).

The weights only mean something with the vocabularies, tokenisers and architecture they were
trained with, so those come from the parent: a fine-tuning config that leaves out the model and
decode sections or the tokenisation keys inherits the parent's, and one that sets an architecture
key to another value is an error naming it. What belongs to the optimisation is the new run's own
and starts fresh: optimiser, learning-rate schedule, best score, metrics. The new run's folder
holds copies of everything it needs (its config names the parent in ``train.init_from``), so
translating with it or resuming it never reads the parent again.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape

from seq2seq_cli import runs
from seq2seq_cli.config import Config, load_run_config
from seq2seq_cli.config.inherit import adopt_vocabulary_settings, check_architecture, resolve_parent
from seq2seq_cli.data.text import load_vocabs
from seq2seq_cli.errors import ConfigError, RunError

if TYPE_CHECKING:
    from rich.console import Console

    from seq2seq_cli.data.text import Vocab


@dataclass
class Parent:
    """The run a fine-tuning run starts from: where it is, its settings, vocabularies and best weights."""

    run_dir: Path
    config: Config
    vocabs: tuple[Vocab, Vocab]
    weights: dict
    step: int | None

    def start(self, model) -> None:
        """Copy the parent's best weights into ``model`` (built from the same settings and vocabularies)."""
        try:
            model.load_state_dict(self.weights)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[-1].strip()
            raise RunError(f"{self.run_dir / runs.BEST}: its weights do not fit this model ({first})") from None

    def report(self, console: Console, unknown: Sequence[str]) -> None:
        """Where training starts, and how much of the new training data the parent's vocabulary misses
        (``unknown``: a line a side, counted when the data was prepared)."""
        at = f", step {self.step}" if self.step is not None else ""
        console.print(f"fine-tuning from {self.run_dir} ({runs.BEST}{at}) with its vocabularies and tokenisers; "
                      "fresh optimiser, learning-rate schedule and best score", markup=False)
        for line in unknown:
            console.print(line, markup=False)


def load_parent(config: Config, console: Console) -> Parent:
    """The parent run ``train.init_from`` names, checked against ``config`` (which records its folder)."""
    parent_dir = resolve_parent(str(config.train.init_from), config.train.runs_dir)
    parent = load_run_config(parent_dir)
    check_architecture(config, parent, parent_dir)
    for warning in adopt_vocabulary_settings(config, parent, parent_dir):
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    config.train.init_from = str(parent_dir)
    checkpoint = runs.load_checkpoint(parent_dir / runs.BEST)
    return Parent(parent_dir, parent, load_vocabs(parent_dir), checkpoint["model"], checkpoint.get("step"))


def freeze(model, prefixes: Sequence[str]) -> str | None:
    """Stop the parameters under each prefix (``encoder.embedding``, ``decoder``...) from training; the
    line the log shows, or None when nothing is frozen. An unknown prefix is an error listing what exists."""
    if not prefixes:
        return None
    named = list(model.named_parameters(remove_duplicate=False))  # a tied weight answers to both names
    for prefix in prefixes:
        if not any(_under(name, prefix) for name, _ in named):
            raise ConfigError(f"train.freeze: no parameters under {prefix!r}{_did_you_mean(prefix, named)}; "
                              f"this model has {', '.join(_modules(named))}")
    for name, parameter in named:
        if any(_under(name, prefix) for prefix in prefixes):
            parameter.requires_grad_(False)
    total = sum(p.numel() for p in model.parameters())
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if not trained:
        raise ConfigError(f"train.freeze: {', '.join(prefixes)} freezes every parameter: nothing would train")
    return f"training {trained:,} of {total:,} parameters; frozen: {', '.join(prefixes)}"


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix.rstrip(".") + ".")


def _modules(named: list) -> list[str]:
    """Two-level module names in model order (``encoder.embedding``, ``encoder.rnn``...)."""
    return list(dict.fromkeys(".".join(name.split(".")[:2]) for name, _ in named))


def _did_you_mean(prefix: str, named: list) -> str:
    prefixes = {".".join(name.split(".")[:i]) for name, _ in named for i in range(1, name.count(".") + 2)}
    close = difflib.get_close_matches(prefix, sorted(prefixes), n=1)
    return f" (did you mean {close[0]}?)" if close else ""
