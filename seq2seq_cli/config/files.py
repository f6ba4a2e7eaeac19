"""Config files: YAML plus ``--set key=value`` overrides in, a validated ``Config`` out; a run's saved config back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from seq2seq_cli.config.building import config_from_dict
from seq2seq_cli.config.checks import check_combinations, check_trackers, parse_duration
from seq2seq_cli.config.inherit import inherit_parent
from seq2seq_cli.config.schema import Config
from seq2seq_cli.errors import ConfigError
from seq2seq_cli.runs import write_text_atomically


def load_config(path: str | Path, overrides: list[str] = ()) -> Config:
    """Read a YAML config, apply ``key.sub=value`` overrides and validate every key."""
    raw = _read_yaml(Path(path))
    for override in overrides:
        _apply_override(raw, override)
    if isinstance(raw.get("train"), dict) and raw["train"].get("init_from"):
        inherit_parent(raw, str(path))  # the model and decode sections and tokenisation keys left out: the parent's
    config = config_from_dict(raw, source=str(path))
    check_combinations(config, str(path))
    check_trackers(config.train.log_to, str(path))
    if config.train.max_time is not None:
        parse_duration(config.train.max_time, f"{path}: train.max_time")
    if not config.data.train:
        raise ConfigError(f"{path}: data.train is required (the training pairs: TSV, .jsonl or {{source: FILE, target: FILE}})")
    return config


def save_config(config: Config, path: Path) -> None:
    """A run's config.yaml, whole or not at all: ``--resume`` and every reader of the run trust it."""
    write_text_atomically(path, yaml.safe_dump(config.to_dict(), sort_keys=False))


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or "could not parse"
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (data, model, train, decode)")
    return raw


def _apply_override(raw: dict[str, Any], override: str) -> None:
    """Set ``a.b=value`` in the nested dict; the value is parsed as YAML (so 50 is an int)."""
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {override!r}: expected key.sub=value, e.g. train.epochs=50")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text
    *parents, leaf = key.strip().split(".")
    node = raw
    for part in parents:
        child = node.setdefault(part, {})
        if child is None or isinstance(child, str):  # a path becomes a section: data.train.source=train.en
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"--set {override!r}: {part} is not a section")
        node = child
    node[leaf] = value


