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
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from seq2seq_cli import runs
from seq2seq_cli.config import Config, ModelConfig, config_from_dict
from seq2seq_cli.errors import ConfigError, RunError

if TYPE_CHECKING:  # importing this module (config.py does, to read a config) must not import torch
    from rich.console import Console

    from seq2seq_cli.data import Vocab

# data keys a fine-tuning config inherits from the parent when it leaves them out
INHERITED_DATA = ("lowercase", "tokenizer", "sentencepiece_type", "vocab_size", "min_freq", "max_size", "max_len")
TOKENISATION = ("data.lowercase", "data.tokenizer")  # must match: the parent's vocabulary is in these tokens
VOCABULARY_BUILDING = ("data.min_freq", "data.max_size")  # ignored: the parent's vocabulary is kept
SENTENCEPIECE_BUILDING = ("data.sentencepiece_type", "data.vocab_size")  # likewise its sentencepiece models


def resolve_parent(run: str, runs_dir: str | Path) -> Path:
    """The run folder ``train.init_from`` names (a path, or a name inside ``runs_dir``); it must hold best.pt."""
    try:
        parent = runs.find_run(run, runs_dir, need_checkpoint=False)
    except RunError as exc:
        raise RunError(f"train.init_from: {exc}") from None
    if not (parent / runs.BEST).is_file():
        raise RunError(f"train.init_from: {parent} has no {runs.BEST} to start from (it never finished a validation)")
    return parent


def inherit_parent(raw: dict[str, Any], source: str) -> None:
    """Fill in what a fine-tuning config (raw YAML with ``train.init_from``) leaves out from the parent's
    config: the model and decode sections and the tokenisation keys, so it need only name its data and
    training settings. ``train.init_from`` becomes the parent's folder, as the new run records it.
    A setting the weights need unchanged is checked here, before any warning about the rest."""
    train = raw.get("train")
    if not isinstance(train, dict) or not train.get("init_from"):
        return
    parent_dir = resolve_parent(str(train["init_from"]), str(train.get("runs_dir") or "runs"))
    train["init_from"] = str(parent_dir)
    parent = runs.load_run_config(parent_dir)
    inherited = parent.to_dict()
    for section, keys in (("model", None), ("decode", None), ("data", INHERITED_DATA)):
        if raw.get(section) is None:
            raw[section] = {}
        if isinstance(raw[section], dict):  # anything else: the config check names the mistake
            for key in keys or inherited[section]:
                raw[section].setdefault(key, inherited[section][key])
    check_architecture(config_from_dict(raw, source), parent, parent_dir)


def architecture_keys(model: ModelConfig) -> list[str]:
    """The settings that decide the shape (and meaning) of the weights, for this model type."""
    if model.type == "transformer":
        names = ["hidden_size", "heads", "ff_dim", "layers", "tie_embeddings"]
    else:
        names = ["attention", "embed_dim", "hidden_size", "layers", "bidirectional", "output"]
        names += ["heads"] * (model.attention == "multihead") + ["adaptive_cutoffs"] * (model.output == "adaptive")
    location = model.type == "gru" and model.attention == "location"  # its scorer is data.max_len wide
    return ["model.type", *(f"model.{name}" for name in names), *["data.max_len"] * location]


def _setting(config: Config, key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(config, section), name)


def check_architecture(config: Config, parent: Config, parent_dir: Path) -> None:
    """One line naming the first setting that differs from the parent's where the weights need it equal."""
    for key in [*architecture_keys(parent.model), *TOKENISATION]:
        mine, theirs = _setting(config, key), _setting(parent, key)
        if mine != theirs:
            raise ConfigError(
                f"{key}: {_show(mine)} here but {_show(theirs)} in {parent_dir} (the run --init-from starts from); "
                f"its weights need the same value: leave {key} out to inherit it"
            )


def adopt_vocabulary_settings(config: Config, parent: Config, parent_dir: Path) -> list[str]:
    """The parent's vocabulary is used as it is: settings that would have built another one are set to the
    parent's values (so the new run's config tells the truth); a warning for each that differed."""
    warnings = []
    subwords = parent.data.tokenizer == "sentencepiece"  # with word tokens these two do nothing anyway
    for key in VOCABULARY_BUILDING + SENTENCEPIECE_BUILDING * subwords:
        mine, theirs = _setting(config, key), _setting(parent, key)
        if mine != theirs:
            warnings.append(f"{key}: {_show(mine)} ignored: fine-tuning keeps the vocabulary of {parent_dir} "
                            f"(built with {_show(theirs)})")
            section, name = key.split(".")
            setattr(getattr(config, section), name, theirs)
    return warnings


def _show(value: Any) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


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


def unknown_text(side: str, total: int, unknown: Counter) -> str:
    """How many of the new training data's ``total`` tokens on one side the parent's vocabulary reads as <unk>."""
    count = sum(unknown.values())
    share = 100 * count / max(total, 1)
    line = f"  {side}: {count:,} of {total:,} training tokens ({share:.1f}%) unknown to the parent's vocabulary"
    if count:
        shown = ", ".join(f"{word} ×{n}" for word, n in unknown.most_common(5))
        line += f", read as <unk> ({len(unknown):,} distinct: {shown}{', ...' * (len(unknown) > 5)})"
    return line


def load_parent(config: Config, console: Console) -> Parent:
    """The parent run ``train.init_from`` names, checked against ``config`` (which records its folder)."""
    parent_dir = resolve_parent(str(config.train.init_from), config.train.runs_dir)
    parent = runs.load_run_config(parent_dir)
    check_architecture(config, parent, parent_dir)
    for warning in adopt_vocabulary_settings(config, parent, parent_dir):
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    config.train.init_from = str(parent_dir)
    checkpoint = runs.load_checkpoint(parent_dir / runs.BEST)
    return Parent(parent_dir, parent, runs.load_vocabs(parent_dir), checkpoint["model"], checkpoint.get("step"))


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
