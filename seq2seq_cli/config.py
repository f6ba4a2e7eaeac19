"""Typed configuration: YAML and ``--set`` overrides in, validated dataclasses out.

One schema flows everywhere: the trainer, the model builder and the decoder all read
these dataclasses, and a run folder stores the resolved version (every default filled).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml

from seq2seq_cli.corpora import is_json_lines
from seq2seq_cli.errors import ConfigError
from seq2seq_cli.tracking import check_trackers

AttentionType = Literal["bahdanau", "luong-dot", "luong-general", "location", "multihead"]


def _positive(default: Any) -> Any:
    return field(default=default, metadata={"min": 1})


@dataclass
class ParallelFiles:
    """Moses-style parallel text, ``{source: FILE, target: FILE}``: line N of one translates line N of the other."""

    source: str
    target: str

    def __str__(self) -> str:  # how messages name the two files
        return f"{self.source} + {self.target}"


@dataclass
class DataConfig:
    """Where the pairs come from and how text becomes tokens."""

    train: Union[str, ParallelFiles] = ""  # TSV, JSON Lines (.jsonl), either .gz, or parallel files
    val: Union[str, ParallelFiles, None] = None
    val_split: float = field(default=0.1, metadata={"min": 0.0, "max": 0.9})
    source_lang: Optional[str] = None  # JSON Lines' "translation" keys for each side
    target_lang: Optional[str] = None  # also the Moses tokeniser language of evaluate's WMT-recipe BLEU
    lowercase: bool = True
    tokenizer: Literal["word", "sentencepiece"] = "word"
    sentencepiece_type: Literal["bpe", "unigram"] = "bpe"
    vocab_size: int = field(default=8000, metadata={"min": 16})
    max_len: int = _positive(50)
    min_freq: int = _positive(1)
    max_size: Optional[int] = field(default=None, metadata={"min": 1})
    vocab_sample: int = field(default=1_000_000, metadata={"min": 1})  # pairs sentencepiece trains on, at most
    cache_dir: Optional[str] = None  # prepared data (cache.py); None: $S2S_CACHE_DIR, else .s2s-cache
    workers: int = field(default=0, metadata={"min": 0})  # preparation processes; 0: one per core for big files


@dataclass
class ModelConfig:
    """The encoder-decoder's shape."""

    type: Literal["gru", "transformer"] = "gru"
    attention: AttentionType = "bahdanau"
    heads: int = _positive(4)
    embed_dim: int = _positive(256)
    hidden_size: int = _positive(256)
    ff_dim: int = _positive(1024)
    layers: int = _positive(1)
    bidirectional: bool = True
    tie_embeddings: bool = False
    output: Literal["softmax", "adaptive"] = "softmax"
    adaptive_cutoffs: list[int] = field(default_factory=lambda: [2000, 6000], metadata={"min": 1})
    dropout: float = field(default=0.2, metadata={"min": 0.0, "max": 0.9})


@dataclass
class TrainConfig:
    """The optimisation loop and where its outputs go."""

    epochs: int = _positive(10)
    max_time: Optional[str] = None
    batch_size: int = _positive(64)
    batch_tokens: int = field(default=0, metadata={"min": 0})
    lr: float = field(default=0.001, metadata={"min": 0.0})
    lr_schedule: Literal["plateau", "inverse-sqrt", "cosine", "linear"] = "plateau"
    warmup_steps: Optional[int] = field(default=None, metadata={"min": 1})  # None: 4000 for inverse-sqrt, 0 otherwise
    label_smoothing: float = field(default=0.0, metadata={"min": 0.0, "max": 0.9})
    lr_decay: float = field(default=0.5, metadata={"min": 0.0, "max": 1.0})
    lr_patience: int = field(default=2, metadata={"min": 0})
    min_lr: float = field(default=1e-5, metadata={"min": 0.0})
    clip_grad: float = field(default=1.0, metadata={"min": 0.0})
    on_nonfinite: Literal["stop", "skip"] = "stop"
    teacher_forcing: float = field(default=1.0, metadata={"min": 0.0, "max": 1.0})
    validate_every: int = field(default=0, metadata={"min": 0})
    best_metric: Literal["loss", "bleu", "chrf"] = "loss"
    patience: int = field(default=0, metadata={"min": 0})
    keep_best: int = _positive(1)
    keep_last: int = field(default=0, metadata={"min": 0})
    probes: int = field(default=4, metadata={"min": 0})
    probe_sentences: list[str] = field(default_factory=list)
    accumulate: int = _positive(1)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # auto: bf16 only on AMX where it measures faster
    compile: bool = False
    seed: int = 1
    threads: int = field(default=0, metadata={"min": 0})
    runs_dir: str = "runs"
    name: Optional[str] = None
    init_from: Optional[str] = None  # fine-tuning: the run whose best weights this one starts from (--init-from)
    freeze: list[str] = field(default_factory=list)  # parameter prefixes kept as the parent left them
    log_to: list[Literal["tensorboard"]] = field(default_factory=list)


@dataclass
class DecodeConfig:
    """How translations are searched for."""

    beam_size: int = _positive(5)
    length_penalty: float = field(default=0.6, metadata={"min": 0.0})
    n_best: int = _positive(1)
    max_len_ratio: float = field(default=2.0, metadata={"min": 0.0})
    max_len_extra: int = field(default=5, metadata={"min": 0})
    max_input_len: int = _positive(256)
    unk_replace: bool = True


@dataclass
class Config:
    """The whole schema: one section per concern."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_combinations(config: Config, source: str) -> None:
    """Keys that are fine alone but not together."""
    model = config.model
    if (model.type == "transformer" or model.attention == "multihead") and model.hidden_size % model.heads:
        raise ConfigError(f"{source}: model.hidden_size ({model.hidden_size}) must be divisible by model.heads ({model.heads})")
    if model.type == "gru" and model.output == "adaptive" and config.train.label_smoothing:
        raise ConfigError(f"{source}: train.label_smoothing needs model.output: softmax (adaptive has no smoothing)")
    if config.data.max_len > config.decode.max_input_len:
        raise ConfigError(
            f"{source}: data.max_len ({config.data.max_len}) is larger than decode.max_input_len "
            f"({config.decode.max_input_len}): validation could not translate the longest sentences it trains on"
        )
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
        for key in keys if _setting(config, key) != _setting(defaults, key)
    ]


def _setting(config: Config, key: str) -> Any:
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


def load_config(path: str | Path, overrides: list[str] = ()) -> Config:
    """Read a YAML config, apply ``key.sub=value`` overrides and validate every key."""
    raw = _read_yaml(Path(path))
    for override in overrides:
        _apply_override(raw, override)
    if isinstance(raw.get("train"), dict) and raw["train"].get("init_from"):
        from seq2seq_cli.finetune import inherit_parent

        inherit_parent(raw, str(path))  # the model and decode sections and tokenisation keys left out: the parent's
    config = config_from_dict(raw, source=str(path))
    _check_combinations(config, str(path))
    check_trackers(config.train.log_to, str(path))
    if config.train.max_time is not None:
        parse_duration(config.train.max_time, f"{path}: train.max_time")
    if not config.data.train:
        raise ConfigError(f"{path}: data.train is required (the training pairs: TSV, .jsonl or {{source: FILE, target: FILE}})")
    return config


def config_from_dict(raw: dict[str, Any], source: str = "config") -> Config:
    """Build a validated ``Config`` from plain data, naming the file and key at fault."""
    return _build(Config, raw, prefix="", source=source)


def save_config(config: Config, path: Path) -> None:
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")


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
