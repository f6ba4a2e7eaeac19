"""Plain data (parsed YAML) into typed config classes, naming the file and key at fault; a run's saved config."""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

from seq2seq_cli import runs
from seq2seq_cli.config.schema import Config
from seq2seq_cli.errors import ConfigError, RunError


def config_from_dict(raw: dict[str, Any], source: str = "config") -> Config:
    """Build a validated ``Config`` from plain data, naming the file and key at fault."""
    return _build(Config, raw, prefix="", source=source)


def _build(cls: type, raw: Any, prefix: str, source: str) -> Any:
    section = prefix.rstrip(".") or "the top level"
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {section} must be a mapping, got {_describe(raw)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in raw:
        if key not in fields:
            raise ConfigError(f"{source}: unknown key {prefix}{key}{_did_you_mean(str(key), fields)}")
    for name, spec in fields.items():  # a field without a default (a section's own required keys)
        if name not in raw and spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{source}: {prefix}{name} is required")
    values = {}
    for name, spec in fields.items():
        if name not in raw:
            continue
        key = f"{prefix}{name}"
        if dataclasses.is_dataclass(hints[name]):
            values[name] = _build(hints[name], raw[name], f"{key}.", source)
        else:
            values[name] = _check_value(raw[name], hints[name], spec.metadata, key, source)
    return cls(**values)


def _check_value(value: Any, hint: Any, limits: Any, key: str, source: str) -> Any:
    """Return ``value`` coerced to ``hint`` (int to float only) or raise naming the key."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) > 1:
            return _check_either(value, options, limits, key, source)
        hint = options[0]
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {key} must be a list, got {_describe(value)}")
        return [_check_value(item, args[0], limits, f"{key}[{i}]", source) for i, item in enumerate(value)]
    if origin is Literal:
        if value not in args:
            choices = ", ".join(map(str, args))
            hint_text = _did_you_mean(str(value), args)
            raise ConfigError(f"{source}: {key} must be one of {choices}; got {value!r}{hint_text}")
        return value
    if hint is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # a name or duration written as a bare number
    if hint is float:
        value = _as_float(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{source}: {key} must be a finite number, got {value}")
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(f"{source}: {key} must be {_type_name(hint)}, got {_describe(value)}")
    if "min" in limits and value < limits["min"]:
        raise ConfigError(f"{source}: {key} must be at least {limits['min']}, got {value}")
    if "max" in limits and value > limits["max"]:
        raise ConfigError(f"{source}: {key} must be at most {limits['max']}, got {value}")
    return value


def _check_either(value: Any, options: list[Any], limits: Any, key: str, source: str) -> Any:
    """A path or a section (``data.train: FILE`` or ``{source: FILE, target: FILE}``): a mapping builds the section."""
    section = next(o for o in options if dataclasses.is_dataclass(o))
    scalar = next(o for o in options if not dataclasses.is_dataclass(o))
    if isinstance(value, dict):
        return _build(section, value, f"{key}.", source)
    try:
        return _check_value(value, scalar, limits, key, source)
    except ConfigError:
        keys = " and ".join(f.name for f in dataclasses.fields(section))
        got = _describe(value)
        raise ConfigError(f"{source}: {key} must be {_type_name(scalar)} or a mapping of {keys}, got {got}") from None


def _as_float(value: Any) -> Any:
    """Integers and YAML 1.1's quirk, ``1e-3`` read as a string, are numbers too."""
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _did_you_mean(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, [str(o) for o in options], n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _type_name(hint: Any) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}" if value is not None else "nothing (null)"


def load_run_config(run_dir: Path) -> Config:
    """The resolved config a run folder was trained with."""
    path = run_dir / runs.CONFIG_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RunError(f"{path}: unreadable run config ({type(exc).__name__})") from None
    return config_from_dict(raw, source=str(path))
