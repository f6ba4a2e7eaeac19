"""Building a prepared-cache entry: sentencepiece trained, the corpus indexed, vocabularies counted,
the arrays and validation pairs written, ``meta.json`` last, then the folder renamed into place.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np
from rich.console import Console

from seq2seq_cli.config import Config
from seq2seq_cli.data.cache_arrays import Indexed
from seq2seq_cli.data.cache_check import seal
from seq2seq_cli.data.cache_entry import META, VERSION, Given
from seq2seq_cli.data.cache_index import index
from seq2seq_cli.data.cache_work import LOCK, start_work
from seq2seq_cli.data.corpora import Pair
from seq2seq_cli.data.dataset import SIDES
from seq2seq_cli.data.prepare import data_fingerprints, iter_corpus, read_corpus, with_words
from seq2seq_cli.data.splits import held_out
from seq2seq_cli.data.text import Vocab
from seq2seq_cli.data.tokenizers import load_tokenizers, train_tokenizers
from seq2seq_cli.errors import DataError
from seq2seq_cli.runs import write_text_atomically


def build(config: Config, console: Console, given: Given | None, folder: Path) -> Path:
    """Prepare the entry in a temporary folder beside it (locked while this process builds: ``cache_work``),
    then rename it into place. An error (a full disk included) removes the folder; a crash leaves it to the
    next s2s to remove. Either way no entry ever has a ``meta.json`` that its files do not match."""
    started = time.perf_counter()
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        work = start_work(folder)
    except OSError as exc:
        raise DataError(f"{folder.parent}: cannot prepare data there ({exc.strerror})") from None
    try:
        _build_in(config, console, given, folder, work.path, started)
        return folder
    except OSError as exc:  # a full disk, most likely: named by the cache folder, not the temporary one
        inside = exc.filename is not None and work.path in Path(exc.filename).parents
        where = exc.filename if exc.filename and not inside else folder.parent
        raise DataError(f"{where}: cannot prepare data there ({exc.strerror})") from None
    finally:
        shutil.rmtree(work.path, ignore_errors=True)  # gone already when it was renamed into place
        work.release()


def _build_in(config: Config, console: Console, given: Given | None, folder: Path, work: Path, started: float) -> None:
    console.print(f"preparing {config.data.train} into {folder} (once: later runs reuse it)", markup=False)
    meta = seal(_fill(config, console, given, work, started), work)
    write_text_atomically(work / META, json.dumps(meta, indent=1))  # last: the entry is finished
    _report(console, meta, config.data.max_len)
    try:
        work.rename(folder)
    except OSError:  # prepared meanwhile by another process: theirs is the same
        return
    (folder / LOCK).unlink(missing_ok=True)


def _fill(config: Config, console: Console, given: Given | None, work: Path, started: float) -> dict:
    """Everything but ``meta.json`` written into ``work``; returns what ``meta.json`` will say."""
    data = config.data
    meta: dict = {"version": VERSION}
    if given is None and data.tokenizer == "sentencepiece":
        meta["sentencepiece_sample"] = _train_sentencepiece(config, work, console)
    tokenizer_dir = work if given is None else given.tokenizer_dir
    indexed = index(config, tokenizer_dir, work, console)
    held = _held(config, indexed.count)
    tokenizers = load_tokenizers(data, tokenizer_dir)
    val_pairs = _val_pairs(config, held)
    fits = np.maximum(indexed.lengths[0], indexed.lengths[1]) <= data.max_len  # (pairs,) bool
    keep = fits & ~held
    if not keep.any():
        raise DataError(f"{data.train}: every pair is longer than data.max_len={data.max_len} tokens")
    vocabs = _vocabs(config, given, indexed, keep, work)
    if given is not None:
        meta["given"] = True
        meta["unknown"] = [indexed.unknown(s, ~held, vocabs[s]) for s in range(2)]
    for side in range(2):
        indexed.write(work, side, keep, vocabs[side])
        indexed.scratch[side].unlink()
    _write_val(work, val_pairs, tokenizers, vocabs, data.max_len)
    seconds = time.perf_counter() - started
    too_long = int((~fits & ~held).sum())
    meta.update(pairs=int(keep.sum()), max_len=data.max_len, read=indexed.count, too_long=too_long, seconds=round(seconds, 2),
                pairs_per_s=round(indexed.count / max(seconds, 1e-9)), dropped=indexed.examples(~fits & ~held),
                data_files=data_fingerprints(config), created=time.strftime("%Y-%m-%dT%H:%M:%S"))
    return meta


def _held(config: Config, count: int) -> np.ndarray:
    """(count,) bool: the training rows validation takes (none when ``data.val`` is a file of its own)."""
    data = config.data
    return held_out(count, data.val_split, config.train.seed) if not data.val else np.zeros(count, bool)


def _vocabs(config: Config, given: Given | None, indexed: Indexed, keep: np.ndarray, work: Path) -> tuple[Vocab, Vocab]:
    """The given vocabularies, or both built from the kept training rows; saved into the entry."""
    data = config.data
    counts = [dict(zip(indexed.types[s], indexed.counts(s, keep).tolist())) for s in range(2)]
    if data.joint_vocab:  # one vocabulary over both sides: their counts added
        joint = Counter(counts[0]) + Counter(counts[1])
        counts = [joint, joint]
    vocabs = given.vocabs if given else tuple(Vocab.from_counts(c, data.min_freq, data.max_size) for c in counts)
    for side, vocab in zip(SIDES, vocabs):
        vocab.save(work / f"vocab.{side}.txt")
    return vocabs


def _report(console: Console, meta: dict, max_len: int) -> None:
    console.print(f"prepared {meta['read']:,} pairs in {meta['seconds']:.1f}s ({meta['pairs_per_s']:,} pairs/s): "
                  f"{meta['pairs']:,} to train on", markup=False)
    if meta["too_long"]:
        shown = "; ".join(f"{d['where']} ({d['source']} + {d['target']} tokens: {d['text']!r})" for d in meta["dropped"])
        console.print(f"  dropped {meta['too_long']:,} longer than data.max_len={max_len}, e.g. {shown}", markup=False)


def _train_sentencepiece(config: Config, work: Path, console: Console) -> dict:
    """Sentencepiece models from at most ``data.vocab_sample`` training pairs (all of a smaller corpus,
    in order: the models s2s always trained), sampled evenly by a seeded reservoir."""
    data = config.data
    limit, rng, sample = data.vocab_sample, random.Random(config.train.seed), []
    count = 0
    for count, pair in enumerate(iter_corpus(data.train, data), 1):
        if count <= limit:
            sample.append((count - 1, pair))
        elif (slot := rng.randrange(count)) < limit:
            sample[slot] = (count - 1, pair)
    held = _held(config, count)
    pairs = [pair for row, pair in sorted(sample) if not held[row]]
    train_tokenizers(data, work, pairs)
    console.print(f"sentencepiece trained on {len(pairs):,} of {int((~held).sum()):,} training pairs "
                  f"(data.vocab_sample: {limit:,})", markup=False)
    return {"pairs": len(pairs), "of": int((~held).sum()), "vocab_sample": limit}


def _val_pairs(config: Config, held: np.ndarray) -> list[Pair]:
    """The validation file's pairs (checked), or the held-out training rows, read again in order."""
    data = config.data
    if data.val:
        return with_words(read_corpus(data.val, data), data.val, data.lowercase)
    return [pair for row, pair in enumerate(iter_corpus(data.train, data)) if held[row]]


def _write_val(work: Path, pairs: list[Pair], tokenizers: tuple, vocabs: tuple, max_len: int) -> None:
    """``val.json``: the validation pairs that fit ``max_len``, as text and as ids (small: kept in memory)."""
    kept: dict = {"pairs": [], "src": [], "tgt": []}
    for pair in pairs:
        src, tgt = tokenizers[0].tokens(pair.source), tokenizers[1].tokens(pair.target)
        if max(len(src), len(tgt)) <= max_len:
            kept["pairs"].append(list(pair))
            kept["src"].append(vocabs[0].encode(src))
            kept["tgt"].append(vocabs[1].encode(tgt))
    write_text_atomically(work / "val.json", json.dumps(kept, ensure_ascii=False))
