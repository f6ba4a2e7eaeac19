"""Checks a config gets after its keys are typed: combinations of keys, settings that do nothing for
this model, durations, trackers that must be installed, what a corpus file name means."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seq2seq_cli.config.schema import Config, DataConfig
from seq2seq_cli.errors import ConfigError

INSTALL = {"tensorboard": 'pip install "seq2seq-cli[tensorboard]"'}


def check_trackers(log_to: Sequence[str], source: str = "config") -> None:
    """Fail while reading the config, not after the data is prepared, when a tracker is missing."""
    for tracker in log_to:
        try:
            importlib.import_module(tracker)
        except ImportError:
            raise ConfigError(f"{source}: train.log_to: {tracker} is not installed: {INSTALL[tracker]}") from None


def is_json_lines(path: str | Path) -> bool:
    """JSON Lines is told by its name (``.jsonl``, ``.jsonl.gz``); any other single file is TSV."""
    return str(path).lower().endswith((".jsonl", ".jsonl.gz"))


def check_combinations(config: Config, source: str) -> None:
    """Keys that are fine alone but not together."""
    model = config.model
    if (model.type == "transformer" or model.attention == "multihead") and model.hidden_size % model.heads:
        raise ConfigError(f"{source}: model.hidden_size ({model.hidden_size}) must be divisible by model.heads ({model.heads})")
    if config.data.max_len > config.decode.max_input_len:
        raise ConfigError(
            f"{source}: data.max_len ({config.data.max_len}) is larger than decode.max_input_len "
            f"({config.decode.max_input_len}): validation could not translate the longest sentences it trains on"
        )
    if model.share_embeddings and not config.data.joint_vocab:
        raise ConfigError(f"{source}: model.share_embeddings needs data.joint_vocab: true (one table needs one vocabulary)")
    _check_languages(config.data, source)
    if config.train.freeze and not config.train.init_from:
        raise ConfigError(f"{source}: train.freeze needs train.init_from (--init-from RUN): frozen weights would stay random")


def _check_languages(data: DataConfig, source: str) -> None:
    """JSON Lines names each side by its language: reading one needs both language keys."""
    for key, spec in (("data.train", data.train), ("data.val", data.val)):
        for lang in ("source_lang", "target_lang"):
            if isinstance(spec, str) and is_json_lines(spec) and not getattr(data, lang):
                raise ConfigError(f"{source}: data.{lang} is required to read {key} ({spec}): JSON Lines names each side "
                                  'by its language, {"translation": {"en": ..., "fr": ...}}')


def _reads_json_lines(data: DataConfig) -> bool:
    return any(isinstance(spec, str) and is_json_lines(spec) for spec in (data.train, data.val))


def unused_settings(config: Config) -> list[str]:
    """One line for each key set away from its default that does nothing for this model.

    Only a changed value is reported: every key at its default (a key left out, or a run's saved
    config, which spells every default out) is silent.
    """
    model, train, data = config.model, config.train, config.data
    gru, schedule = model.type == "gru", train.lr_schedule
    unused = [  # (when, keys that then do nothing, why)
        (not gru, ("model.attention", "model.embed_dim", "model.bidirectional", "model.output", "model.adaptive_cutoffs"),
         f"for model.type: {model.type}"),
        (gru, ("model.ff_dim", "model.tie_embeddings"), f"for model.type: {model.type}"),
        (gru and model.attention != "multihead", ("model.heads",), f"for model.attention: {model.attention}"),
        (gru and model.output != "adaptive", ("model.adaptive_cutoffs",), f"with model.output: {model.output}"),
        (schedule == "plateau", ("train.warmup_steps",), "with train.lr_schedule: plateau"),
        (schedule != "plateau", ("train.lr_decay", "train.lr_patience"), f"with train.lr_schedule: {schedule}"),
        (schedule == "inverse-sqrt", ("train.min_lr",), f"with train.lr_schedule: {schedule}"),
        (schedule == "plateau" and train.lr_decay >= 1.0, ("train.lr_patience", "train.min_lr"),
         "with train.lr_decay: 1 (never lowered)"),
        (data.tokenizer == "word", ("data.sentencepiece_type", "data.vocab_size", "data.vocab_sample"),
         "with data.tokenizer: word"),
        (bool(data.val), ("data.val_split",), "when data.val is given"),
        # data.target_lang also names the references' language for evaluate's WMT-recipe BLEU: never idle
        (not _reads_json_lines(data), ("data.source_lang",),
         "without a JSON Lines file (.jsonl) as data.train or data.val"),
    ]
    defaults = Config()
    return [
        f"{key} does nothing {why}"
        for applies, keys, why in unused if applies
        for key in keys if setting(config, key) != setting(defaults, key)
    ]


def setting(config: Config, key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(config, section), name)


def parse_duration(text: str, key: str = "train.max_time") -> float:
    """Seconds in ``90``, ``90s``, ``15m``, ``2h`` or ``1h30m``."""
    import re

    match = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", str(text))
    if not match or not any(match.groups()):
        raise ConfigError(f"{key}: expected a duration like 90s, 15m or 1h30m, got {text!r}")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds
