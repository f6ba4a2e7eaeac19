"""A prepared-cache entry's name: a hash of everything its arrays depend on (see ``cache.py``).

Files are keyed cheaply (path, size, modification time, both ends), so a 10 GB corpus is not read
to find out that it is already prepared; settings that change tokens or ids are keyed as they are.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from seq2seq_cli.config import Config, DataConfig, ParallelFiles
from seq2seq_cli.data.dataset import SIDES
from seq2seq_cli.data.text import Vocab
from seq2seq_cli.data.tokenizers import model_file
from seq2seq_cli.errors import DataError

VERSION = 2  # bump when tokenising or the entry's layout changes: old entries are then never matched
META = "meta.json"  # written last: a folder without it was never finished; it lists and checksums the rest
EDGE = 1 << 20  # bytes hashed at each end of a file for its key


@dataclass
class Given:
    """Vocabularies (and sentencepiece models in ``tokenizer_dir``) to index with, not to build:
    the parent's when fine-tuning, the run's own when resuming."""

    vocabs: tuple[Vocab, Vocab]
    tokenizer_dir: Path
    resuming: bool = False  # then the entry the run was started from will do, when its vocabularies are these


def key(config: Config, given: Given | None) -> str:
    """What the arrays depend on, hashed: files, normalisation, tokeniser, vocabulary."""
    data = config.data
    settings: dict = {"version": VERSION, "files": [file_key(path) for path in file_paths(data)],
                      "lowercase": data.lowercase, "max_len": data.max_len, "tokenizer": data.tokenizer,
                      "languages": [data.source_lang, data.target_lang]}
    if not data.val:  # validation pairs are held out of train by the seed
        settings.update(val_split=data.val_split, seed=config.train.seed)
    if given is not None:
        settings["given"] = given_hash(given, data)
    else:
        settings.update(min_freq=data.min_freq, max_size=data.max_size)
        if data.joint_vocab:  # only when set: entries prepared before the key existed keep their names
            settings["joint_vocab"] = True
        if data.tokenizer == "sentencepiece":
            settings.update(type=data.sentencepiece_type, vocab_size=data.vocab_size, sample=data.vocab_sample,
                            seed=config.train.seed)
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:20]


def file_paths(data: DataConfig) -> list[str]:
    """Every file ``data.train`` and ``data.val`` name, in order (both files of a parallel pair)."""
    specs = [spec for spec in (data.train, data.val) if spec]
    return [path for spec in specs for path in ((spec.source, spec.target) if isinstance(spec, ParallelFiles) else (spec,))]


def file_key(path: str) -> dict:
    """Cheap for a 10 GB file: its name, size, time and both ends, never the whole of it."""
    try:
        stat = os.stat(path)
        with open(path, "rb") as handle:
            digest = hashlib.sha256(handle.read(EDGE))
            if stat.st_size > EDGE:
                handle.seek(max(EDGE, stat.st_size - EDGE))
                digest.update(handle.read(EDGE))
    except FileNotFoundError:
        raise DataError(f"{path}: no such data file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    return {"path": str(Path(path).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "edges": digest.hexdigest()}


def given_hash(given: Given, data: DataConfig) -> str:
    """The given vocabularies and sentencepiece models, hashed."""
    digest = hashlib.sha256("\n".join(given.vocabs[0].itos + ["\t"] + given.vocabs[1].itos).encode())
    digest.update(model_hash(given.tokenizer_dir, data).encode())
    return digest.hexdigest()


def model_hash(folder: Path, data: DataConfig) -> str:
    """The sentencepiece models in ``folder``, hashed ('' for the word tokeniser, which has none)."""
    if data.tokenizer != "sentencepiece":
        return ""
    digest = hashlib.sha256()
    for side in SIDES:
        path = model_file(folder, side)
        digest.update(path.read_bytes() if path.is_file() else b"missing")
    return digest.hexdigest()
