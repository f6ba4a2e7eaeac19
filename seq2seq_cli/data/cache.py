"""The prepared-data cache: a corpus read, checked, tokenised and indexed once, then read from disk.

An entry is a folder in ``data.cache_dir`` (default ``$S2S_CACHE_DIR``, else the platform's user
cache folder: ``~/.cache/s2s/prepared`` on Linux, by platformdirs; ``catalogue.py`` lists and clears it) named
by a hash of what its arrays depend on: each data file's path, size, modification time and a hash of
its first and last MiB; normalisation, tokeniser and vocabulary settings (or the given vocabularies
and sentencepiece models when fine-tuning or resuming). A changed file or setting prepares again, an
unchanged one never does. The entry holds ``.npy`` token-id arrays (``dataset.TokenPairs``), the
vocabularies, the sentencepiece models it trained, the validation pairs and ``meta.json``, written
last: a folder without it was never finished. Under torchrun rank 0 prepares and the others wait.
An entry is checked before it is used, and a damaged one prepared again (``cache_check``); what an
interrupted preparation left is removed at the next start (``cache_work``).

This module finds and opens entries; the rest of the cache is beside it: ``cache_entry`` (an
entry's key), ``cache_build`` (building one), ``cache_index`` (the indexing pass on every core),
``cache_arrays`` (the arrays written from it), ``cache_check`` and ``cache_work`` (above), and
``splits`` (the validation split).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from seq2seq_cli.config import Config, DataConfig
from seq2seq_cli.data.batches import Example
from seq2seq_cli.data.cache_build import build
from seq2seq_cli.data.cache_check import damage
from seq2seq_cli.data.cache_entry import META, VERSION, Given, file_paths, key, model_hash
from seq2seq_cli.data.cache_work import clean_orphans, discard
from seq2seq_cli.data.corpora import Pair
from seq2seq_cli.data.dataset import SIDES, TokenPairs
from seq2seq_cli.data.prepare import TrainingData, data_fingerprints
from seq2seq_cli.data.text import Vocab
from seq2seq_cli.data.tokenizers import Tokenizer, load_tokenizers, model_file
from seq2seq_cli.errors import DataError, RunError, S2SError
from seq2seq_cli.runs import write_bytes_atomically
from seq2seq_cli.system import SINGLE, Context

__all__ = ["ENV", "META", "VERSION", "Given", "Prepared", "cache_root", "prepare"]  # Given, META, VERSION: from cache_entry

ENV = "S2S_CACHE_DIR"


@dataclass
class Prepared:
    """An entry of the cache, opened: what training needs from it."""

    folder: Path
    meta: dict
    tokenizer_dir: Path  # where its sentencepiece models are (the entry, or the given run folder)
    tokenizers: tuple[Tokenizer, Tokenizer] = field(repr=False)

    def training_data(self) -> TrainingData:
        """Training pairs memory-mapped; validation pairs (small) in memory."""
        val = json.loads((self.folder / "val.json").read_text(encoding="utf-8"))
        return TrainingData(
            train=TokenPairs.load(self.folder),
            val=[Example(src, tgt) for src, tgt in zip(val["src"], val["tgt"])],
            val_pairs=[Pair(*pair) for pair in val["pairs"]],
            src_vocab=Vocab.load(self.folder / "vocab.src.txt"),
            tgt_vocab=Vocab.load(self.folder / "vocab.tgt.txt"),
            tokenizers=self.tokenizers,
            too_long=self.meta["too_long"],
        )

    def data_files(self, config: Config) -> dict[str, dict]:
        """Size and sha256 of the data files (for ``--resume``), hashed when prepared: a 1 GB corpus is
        not read again at every start; read again only where the config names the files otherwise."""
        saved = self.meta["data_files"]
        if [entry["path"] for entry in saved.values()] != file_paths(config.data):  # same files, other names
            return data_fingerprints(config)
        return saved

    def copy_tokenizers(self, run_dir: Path) -> None:
        """The sentencepiece models into the run folder, which must translate without the cache."""
        if not (self.tokenizer_dir / "spm.src.model").is_file() or self.tokenizer_dir == run_dir:
            return
        for side in SIDES:
            try:
                model = model_file(self.tokenizer_dir, side).read_bytes()
            except OSError as exc:
                raise RunError(f"{model_file(self.tokenizer_dir, side)}: cannot copy the sentencepiece model "
                               f"({exc.strerror})") from None
            write_bytes_atomically(model_file(run_dir, side), model)  # whole or not at all, as every file of a run


def cache_root(data: DataConfig | None = None) -> Path:
    """``data.cache_dir``, else ``$S2S_CACHE_DIR``, else the platform's user cache folder (XDG on Linux):
    never the folder a user happens to stand in."""
    if data is not None and data.cache_dir:
        return Path(data.cache_dir)
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("s2s", appauthor=False)) / "prepared"


def prepare(config: Config, console: Console, context: Context = SINGLE, given: Given | None = None) -> Prepared:
    """The entry for ``config`` (prepared now if it is not in the cache yet), opened.

    Rank 0 alone finds or prepares it; the other processes wait and open the same files (an error
    is sent to them too, so every process stops with it).
    """
    outcome: object = None
    if context.is_main:
        try:
            outcome = str(_find_or_build(config, console, given))
        except S2SError as exc:
            if context.distributed:
                context.from_main(DataError(str(exc)))
            raise
    outcome = context.from_main(outcome)
    if isinstance(outcome, S2SError):
        raise outcome
    return _open(Path(str(outcome)), config, given)


def _open(folder: Path, config: Config, given: Given | None) -> Prepared:
    meta = json.loads((folder / META).read_text(encoding="utf-8"))
    tokenizer_dir = folder if given is None or meta.get("given") is None else given.tokenizer_dir
    return Prepared(folder, meta, tokenizer_dir, load_tokenizers(config.data, tokenizer_dir))


def _find_or_build(config: Config, console: Console, given: Given | None) -> Path:
    root = cache_root(config.data)
    clean_orphans(root)  # what interrupted preparations left (never a build another process is running)
    folder = root / key(config, given)
    if not _usable(folder, console) and given is not None and given.resuming:
        built = root / key(config, None)  # the entry the run started from has the same vocabularies
        if _usable(built, console) and _holds(built, given, config.data):
            folder = built
    if (folder / META).is_file():
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        console.print(f"prepared data: {folder} ({meta['pairs']:,} training pairs; prepared once, reused)", markup=False)
        return folder
    return build(config, console, given, folder)


def _usable(folder: Path, console: Console) -> bool:
    """Whether ``folder`` is a finished entry that passes its checks (``cache_check``); a damaged one is
    removed, with a one-line warning, to be prepared again."""
    if not (folder / META).is_file():
        return False
    why = damage(folder)
    if why is None:
        return True
    console.print(f"[yellow]warning:[/] {escape(str(folder))}: the prepared data is damaged ({escape(why)}); "
                  "preparing it again", soft_wrap=True)
    discard(folder)
    return False


def _holds(folder: Path, given: Given, data: DataConfig) -> bool:
    """Whether a built entry has exactly the given vocabularies and sentencepiece models."""
    vocabs = [Vocab.load(folder / f"vocab.{side}.txt").itos for side in SIDES]
    return vocabs == [v.itos for v in given.vocabs] and model_hash(folder, data) == model_hash(given.tokenizer_dir, data)

