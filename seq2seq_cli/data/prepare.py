"""Training data read and checked, the in-memory preparation, and the data files' fingerprints.

The fingerprint (size and sha256 of ``data.train`` and ``data.val``, each file of a parallel pair)
is kept in the run's ``last.pt`` so that ``s2s train --resume`` refuses data that changed since
the run started. Training reads its data through the prepared cache (``cache.py``), which uses the
readers and checks here (``iter_corpus``, ``read_corpus``, ``with_words``) and the result type
``TrainingData``.

``prepare_data`` (with ``read_training_pairs``) is the in-memory form of the cache's result: no
command or training path calls it. It is the tests' oracle for the cache (``tests/test_prepared.py``
checks the arrays hold exactly its examples, vocabularies and validation pairs), and the benchmarks'
quick in-memory data (``bench/``). Both hold out validation pairs with ``splits.held_out``, so they
split alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from seq2seq_cli.config import Config, DataConfig, ParallelFiles
from seq2seq_cli.data.batches import Example
from seq2seq_cli.data.corpora import Limits, Pair, iter_pairs, iter_parallel, read_pairs, read_parallel
from seq2seq_cli.data.splits import held_out
from seq2seq_cli.data.text import Vocab, tokenize
from seq2seq_cli.data.tokenizers import Tokenizer, WordTokenizer
from seq2seq_cli.errors import DataError

Tokenised = tuple[list[str], list[str], Pair]  # source tokens, target tokens, the raw pair


@dataclass
class TrainingData:
    train: Sequence[Example]  # a list here; memory-mapped arrays (dataset.TokenPairs) from the cache (cache.py)
    val: list[Example]
    val_pairs: list[Pair]  # the raw text of ``val``, for BLEU against untouched references
    src_vocab: Vocab
    tgt_vocab: Vocab
    tokenizers: tuple[Tokenizer, Tokenizer]
    too_long: int  # training pairs dropped for exceeding data.max_len


def read_training_pairs(config: Config) -> tuple[list[Pair], list[Pair]]:
    """Training and validation pairs, checked line by line (a held-out split when no val file is given)."""
    data = config.data
    train_pairs = with_words(read_corpus(data.train, data), data.train, data.lowercase)
    if data.val:
        return train_pairs, with_words(read_corpus(data.val, data), data.val, data.lowercase)
    return _split(train_pairs, data.val_split, config.train.seed)


def read_corpus(spec: str | ParallelFiles, data: DataConfig) -> list[Pair]:
    """``data.train`` or ``data.val``'s pairs, whichever format they come in (see corpora.py)."""
    if isinstance(spec, ParallelFiles):
        return read_parallel(spec.source, spec.target, Limits.of(data))
    return read_pairs(spec, (data.source_lang, data.target_lang), Limits.of(data))


def iter_corpus(spec: str | ParallelFiles, data: DataConfig) -> Iterator[Pair]:
    """``read_corpus`` one pair at a time, for a corpus too big to hold (the cache streams it)."""
    if isinstance(spec, ParallelFiles):
        return iter_parallel(spec.source, spec.target, Limits.of(data))
    return iter_pairs(spec, (data.source_lang, data.target_lang), Limits.of(data))


def prepare_data(
    config: Config,
    tokenizers: tuple[Tokenizer, Tokenizer] | None = None,
    vocabs: tuple[Vocab, Vocab] | None = None,
    pairs: tuple[list[Pair], list[Pair]] | None = None,
) -> TrainingData:
    """Tokenise and index the pairs; build both vocabularies from train unless given."""
    data = config.data
    train_pairs, val_pairs = pairs or read_training_pairs(config)
    src_tokenizer, tgt_tokenizer = tokenizers or (WordTokenizer(data.lowercase), WordTokenizer(data.lowercase))

    def tokenised(pair_list: list[Pair]) -> list[Tokenised]:
        rows = ((src_tokenizer.tokens(p.source), tgt_tokenizer.tokens(p.target), p) for p in pair_list)
        return [row for row in rows if max(len(row[0]), len(row[1])) <= data.max_len]

    fits = tokenised(train_pairs)
    if not fits:
        raise DataError(f"{data.train}: every pair is longer than data.max_len={data.max_len} tokens")
    src_vocab, tgt_vocab = vocabs or build_vocabs(fits, data)
    val_fits = tokenised(val_pairs)
    return TrainingData(
        train=[Example(src_vocab.encode(s), tgt_vocab.encode(t)) for s, t, _ in fits],
        val=[Example(src_vocab.encode(s), tgt_vocab.encode(t)) for s, t, _ in val_fits],
        val_pairs=[pair for _, _, pair in val_fits],
        src_vocab=src_vocab,
        tgt_vocab=tgt_vocab,
        tokenizers=(src_tokenizer, tgt_tokenizer),
        too_long=len(train_pairs) - len(fits),
    )


def build_vocabs(fits: list[Tokenised], data: DataConfig) -> tuple[Vocab, Vocab]:
    """A vocabulary per side, or with ``data.joint_vocab`` one over both (the same object twice)."""
    if data.joint_vocab:
        joint = Vocab.build((side for p in fits for side in p[:2]), data.min_freq, data.max_size)
        return joint, joint
    return (Vocab.build((p[0] for p in fits), data.min_freq, data.max_size),
            Vocab.build((p[1] for p in fits), data.min_freq, data.max_size))


def with_words(pairs: list[Pair], spec: str | ParallelFiles, lowercase: bool) -> list[Pair]:
    """Every side must keep a word after normalisation; the error names the line that does not."""
    for pair in pairs:
        for side, text in (("source", pair.source), ("target", pair.target)):
            if not tokenize(text, lowercase):
                path = getattr(spec, side) if isinstance(spec, ParallelFiles) else spec  # that side's own file
                raise DataError(f"{path}:{pair.line}: {side} side has no words after normalisation")
    return pairs


def _split(pairs: list[Pair], fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """A seeded held-out share of train, for when no validation file is given; both keep file order."""
    held = held_out(len(pairs), fraction, seed).tolist()
    return [p for p, out in zip(pairs, held) if not out], [p for p, out in zip(pairs, held) if out]


def data_fingerprints(config: Config) -> dict[str, dict]:
    """Size and sha256 of each data file training reads, by config key (``data.val`` only when given).

    Parallel files are two entries, ``data.train.source`` and ``data.train.target``.
    """
    files: dict[str, str] = {}
    for key, spec in (("data.train", config.data.train), ("data.val", config.data.val)):
        if isinstance(spec, ParallelFiles):
            files.update({f"{key}.source": spec.source, f"{key}.target": spec.target})
        elif spec:
            files[key] = spec
    return {key: _fingerprint(path) for key, path in files.items()}


def check_fingerprints(saved: dict[str, dict], config: Config) -> None:
    """Refuse to resume on data other than the run started with, saying what changed."""
    for key, then in saved.items():
        path = Path(then["path"])
        if not path.is_file():
            raise DataError(
                f"{path}: {key} is missing (looked in {Path.cwd()}); resume needs the training data the run "
                f"started with ({then['size']} bytes, sha256 {then['sha256'][:12]}…)"
            )
        now = _fingerprint(str(path))
        if now["size"] != then["size"]:
            change = f"size {then['size']} -> {now['size']} bytes"
        elif now["sha256"] != then["sha256"]:
            change = f"same size, sha256 {then['sha256'][:12]}… -> {now['sha256'][:12]}…"
        else:
            continue
        raise DataError(f"{path}: {key} changed since the run started ({change}); resume needs the same training data")


def _fingerprint(path: str) -> dict:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):  # 1 MiB at a time: any file size, little memory
            digest.update(chunk)
            size += len(chunk)
    return {"path": path, "size": size, "sha256": digest.hexdigest()}
