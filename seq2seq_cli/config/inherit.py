"""What a fine-tuning config (``train.init_from``) takes from its parent run, and what must match.

The weights only mean something with the vocabularies, tokenisers and architecture they were
trained with: a config that leaves out the model and decode sections or the tokenisation keys
inherits the parent's, and one that sets an architecture key to another value is an error naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seq2seq_cli import runs
from seq2seq_cli.config.building import config_from_dict, load_run_config
from seq2seq_cli.config.checks import setting
from seq2seq_cli.config.schema import Config, ModelConfig
from seq2seq_cli.errors import ConfigError, RunError

VOCABULARY_BUILDING = ("data.min_freq", "data.max_size")  # ignored: the parent's vocabulary is kept
# data keys a fine-tuning config inherits from the parent when it leaves them out
INHERITED_DATA = ("lowercase", "tokenizer", "sentencepiece_type", "vocab_size", "joint_vocab", "min_freq", "max_size",
                  "max_len")


TOKENISATION = ("data.lowercase", "data.tokenizer")  # must match: the parent's vocabulary is in these tokens


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
    parent = load_run_config(parent_dir)
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
        names = ["hidden_size", "heads", "ff_dim", "layers", "tie_embeddings", "share_embeddings"]
    else:
        names = ["attention", "embed_dim", "hidden_size", "layers", "bidirectional", "output", "share_embeddings"]
        names += ["heads"] * (model.attention == "multihead") + ["adaptive_cutoffs"] * (model.output == "adaptive")
    location = model.type == "gru" and model.attention == "location"  # its scorer is data.max_len wide
    return ["model.type", *(f"model.{name}" for name in names), *["data.max_len"] * location]


def check_architecture(config: Config, parent: Config, parent_dir: Path) -> None:
    """One line naming the first setting that differs from the parent's where the weights need it equal."""
    for key in [*architecture_keys(parent.model), *TOKENISATION]:
        mine, theirs = setting(config, key), setting(parent, key)
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
        mine, theirs = setting(config, key), setting(parent, key)
        if mine != theirs:
            warnings.append(f"{key}: {_show(mine)} ignored: fine-tuning keeps the vocabulary of {parent_dir} "
                            f"(built with {_show(theirs)})")
            section, name = key.split(".")
            setattr(getattr(config, section), name, theirs)
    return warnings


def _show(value: Any) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
