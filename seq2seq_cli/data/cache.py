"""The prepared-data cache: a corpus read, checked, tokenised and indexed once, then memory-mapped.

An entry is a folder in ``data.cache_dir`` (default ``$S2S_CACHE_DIR``, else ``.s2s-cache``) named
by a hash of what its arrays depend on: each data file's path, size, modification time and a hash of
its first and last MiB; normalisation, tokeniser and vocabulary settings (or the given vocabularies
and sentencepiece models when fine-tuning or resuming). A changed file or setting prepares again, an
unchanged one never does. The entry holds ``.npy`` token-id arrays (``dataset.TokenPairs``), the
vocabularies, the sentencepiece models it trained, the validation pairs and ``meta.json``, written
last: a folder without it was never finished. Under torchrun rank 0 prepares and the others wait.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import shutil
import tempfile
import time
from array import array
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console

from seq2seq_cli.config import Config, DataConfig, ParallelFiles
from seq2seq_cli.data.batches import Example
from seq2seq_cli.data.corpora import Pair, iter_pairs, iter_parallel
from seq2seq_cli.data.dataset import SIDES, TokenPairs
from seq2seq_cli.data.prepare import TrainingData, data_fingerprints, read_corpus, with_words
from seq2seq_cli.data.text import Vocab
from seq2seq_cli.data.tokenizers import Tokenizer, load_tokenizers, model_file, train_tokenizers
from seq2seq_cli.errors import DataError, RunError, S2SError
from seq2seq_cli.system import SINGLE, Context

VERSION = 1  # bump when tokenising or the entry's layout changes: old entries are then never matched
ENV = "S2S_CACHE_DIR"
META = "meta.json"
CHUNK = 10_000  # pairs a worker tokenises at a time
POOL_BYTES = 8 << 20  # data.workers 0: training files smaller than this are prepared in this process
EDGE = 1 << 20  # bytes hashed at each end of a file for its key
EXAMPLES = 3  # dropped pairs shown


@dataclass
class Given:
    """Vocabularies (and sentencepiece models in ``tokenizer_dir``) to index with, not to build:
    the parent's when fine-tuning, the run's own when resuming."""

    vocabs: tuple[Vocab, Vocab]
    tokenizer_dir: Path
    resuming: bool = False  # then the entry the run was started from will do, when its vocabularies are these


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
        if [entry["path"] for entry in saved.values()] != _files(config.data):  # same files, other names
            return data_fingerprints(config)
        return saved

    def copy_tokenizers(self, run_dir: Path) -> None:
        """The sentencepiece models into the run folder, which must translate without the cache."""
        if not (self.tokenizer_dir / "spm.src.model").is_file() or self.tokenizer_dir == run_dir:
            return
        for side in SIDES:
            try:
                shutil.copyfile(model_file(self.tokenizer_dir, side), model_file(run_dir, side))
            except OSError as exc:
                raise RunError(f"{model_file(self.tokenizer_dir, side)}: cannot copy the sentencepiece model "
                               f"({exc.strerror})") from None


def cache_root(data: DataConfig) -> Path:
    return Path(data.cache_dir or os.environ.get(ENV) or ".s2s-cache")


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
    folder = root / _key(config, given)
    if not (folder / META).is_file() and given is not None and given.resuming:
        built = root / _key(config, None)  # the entry the run started from has the same vocabularies
        if _holds(built, given, config.data):
            folder = built
    if (folder / META).is_file():
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        console.print(f"prepared data: {folder} ({meta['pairs']:,} training pairs; prepared once, reused)", markup=False)
        return folder
    return _build(config, console, given, folder)


def _holds(folder: Path, given: Given, data: DataConfig) -> bool:
    """Whether a built entry has exactly the given vocabularies and sentencepiece models."""
    if not (folder / META).is_file():
        return False
    vocabs = [Vocab.load(folder / f"vocab.{side}.txt").itos for side in SIDES]
    return vocabs == [v.itos for v in given.vocabs] and _model_hash(folder, data) == _model_hash(given.tokenizer_dir, data)


def _key(config: Config, given: Given | None) -> str:
    """What the arrays depend on, hashed: files, normalisation, tokeniser, vocabulary."""
    data = config.data
    settings: dict = {"version": VERSION, "files": [_file_key(path) for path in _files(data)],
                      "lowercase": data.lowercase, "max_len": data.max_len, "tokenizer": data.tokenizer,
                      "languages": [data.source_lang, data.target_lang]}
    if not data.val:  # validation pairs are held out of train by the seed
        settings.update(val_split=data.val_split, seed=config.train.seed)
    if given is not None:
        settings["given"] = _given_hash(given, data)
    else:
        settings.update(min_freq=data.min_freq, max_size=data.max_size)
        if data.tokenizer == "sentencepiece":
            settings.update(type=data.sentencepiece_type, vocab_size=data.vocab_size, sample=data.vocab_sample,
                            seed=config.train.seed)
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:20]


def _files(data: DataConfig) -> list[str]:
    specs = [spec for spec in (data.train, data.val) if spec]
    return [path for spec in specs for path in ((spec.source, spec.target) if isinstance(spec, ParallelFiles) else (spec,))]


def _file_key(path: str) -> dict:
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


def _given_hash(given: Given, data: DataConfig) -> str:
    digest = hashlib.sha256("\n".join(given.vocabs[0].itos + ["\t"] + given.vocabs[1].itos).encode())
    digest.update(_model_hash(given.tokenizer_dir, data).encode())
    return digest.hexdigest()


def _model_hash(folder: Path, data: DataConfig) -> str:
    if data.tokenizer != "sentencepiece":
        return ""
    digest = hashlib.sha256()
    for side in SIDES:
        path = model_file(folder, side)
        digest.update(path.read_bytes() if path.is_file() else b"missing")
    return digest.hexdigest()


def _pairs(spec: str | ParallelFiles, data: DataConfig) -> Iterator[Pair]:
    if isinstance(spec, ParallelFiles):
        return iter_parallel(spec.source, spec.target)
    return iter_pairs(spec, (data.source_lang, data.target_lang))


def _build(config: Config, console: Console, given: Given | None, folder: Path) -> Path:
    """Prepare the entry in a temporary folder beside it, then rename it into place."""
    data, started = config.data, time.perf_counter()
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        console.print(f"preparing {data.train} into {folder} (once: later runs reuse it)", markup=False)
        meta: dict = {"version": VERSION}
        if given is None and data.tokenizer == "sentencepiece":
            meta["sentencepiece_sample"] = _train_sentencepiece(config, work, console)
        tokenizer_dir = work if given is None else given.tokenizer_dir
        indexed = _index(config, tokenizer_dir, work, console)
        held = _held_out(indexed.count, data.val_split, config.train.seed) if not data.val else np.zeros(indexed.count, bool)
        tokenizers = load_tokenizers(data, tokenizer_dir)
        val_pairs = _val_pairs(config, held)
        fits = np.maximum(indexed.lengths[0], indexed.lengths[1]) <= data.max_len
        keep = fits & ~held
        if not keep.any():
            raise DataError(f"{data.train}: every pair is longer than data.max_len={data.max_len} tokens")
        counts = [indexed.counts(side, keep) for side in range(2)]
        vocabs = given.vocabs if given else tuple(
            Vocab.from_counts(dict(zip(indexed.types[s], counts[s].tolist())), data.min_freq, data.max_size) for s in range(2))
        for side, vocab in zip(SIDES, vocabs):
            vocab.save(work / f"vocab.{side}.txt")
        if given is not None:
            meta["given"] = True
            meta["unknown"] = [indexed.unknown(s, ~held, vocabs[s]) for s in range(2)]
        for side in range(2):
            indexed.write(work, side, keep, vocabs[side])
            indexed.scratch[side].unlink()
        _write_val(work, val_pairs, tokenizers, vocabs, data.max_len)
        seconds = time.perf_counter() - started
        too_long = int((~fits & ~held).sum())
        meta.update(pairs=int(keep.sum()), read=indexed.count, too_long=too_long, seconds=round(seconds, 2),
                    pairs_per_s=round(indexed.count / max(seconds, 1e-9)), dropped=indexed.examples(~fits & ~held),
                    data_files=data_fingerprints(config), created=time.strftime("%Y-%m-%dT%H:%M:%S"))
        (work / META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        _report(console, meta, data.max_len)
        try:
            work.rename(folder)
        except OSError:  # prepared meanwhile by another process: theirs is the same
            shutil.rmtree(work, ignore_errors=True)
        return folder
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


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
    for count, pair in enumerate(_pairs(data.train, data), 1):
        if count <= limit:
            sample.append((count - 1, pair))
        elif (slot := rng.randrange(count)) < limit:
            sample[slot] = (count - 1, pair)
    held = _held_out(count, data.val_split, config.train.seed) if not data.val else np.zeros(count, bool)
    pairs = [pair for row, pair in sorted(sample) if not held[row]]
    train_tokenizers(data, work, pairs)
    console.print(f"sentencepiece trained on {len(pairs):,} of {int((~held).sum()):,} training pairs "
                  f"(data.vocab_sample: {limit:,})", markup=False)
    return {"pairs": len(pairs), "of": int((~held).sum()), "vocab_sample": limit}


def _held_out(count: int, fraction: float, seed: int) -> np.ndarray:
    """(pairs,) bool: the validation share ``prepare._split`` holds out of train, by the same draws."""
    held = round(count * fraction) if count > 1 else 0
    order = array("q", range(count))
    random.Random(seed).shuffle(order)
    mask = np.zeros(count, dtype=bool)
    mask[np.frombuffer(order, dtype=np.int64)[:held]] = True
    return mask


def _val_pairs(config: Config, held: np.ndarray) -> list[Pair]:
    data = config.data
    if data.val:
        return with_words(read_corpus(data.val, data), data.val, data.lowercase)
    return [pair for row, pair in enumerate(_pairs(data.train, data)) if held[row]]


def _write_val(work: Path, pairs: list[Pair], tokenizers: tuple, vocabs: tuple, max_len: int) -> None:
    kept: dict = {"pairs": [], "src": [], "tgt": []}
    for pair in pairs:
        src, tgt = tokenizers[0].tokens(pair.source), tokenizers[1].tokens(pair.target)
        if max(len(src), len(tgt)) <= max_len:
            kept["pairs"].append(list(pair))
            kept["src"].append(vocabs[0].encode(src))
            kept["tgt"].append(vocabs[1].encode(tgt))
    (work / "val.json").write_text(json.dumps(kept, ensure_ascii=False), encoding="utf-8")


# ---- the indexing pass: every training pair tokenised once, by every core ----

_worker_tokenizers: tuple | None = None


def _start_worker(data: DataConfig, tokenizer_dir: Path) -> None:
    global _worker_tokenizers
    _worker_tokenizers = load_tokenizers(data, tokenizer_dir)


def _tokenise(texts: list[tuple[str, str]]) -> tuple[list, tuple[int, int] | None]:
    """One chunk, per side: its distinct tokens (first seen first), ids into them, lengths;
    and the first (row, side) with no token (an error the main process names by file:line)."""
    sides, empty = [], None
    for side, tokenizer in enumerate(_worker_tokenizers):
        table: dict[str, int] = {}
        ids: list[int] = []
        lengths = np.empty(len(texts), dtype=np.uint32)
        for row, pair in enumerate(texts):
            tokens = tokenizer.tokens(pair[side])
            if not tokens and (empty is None or (row, side) < empty):
                empty = (row, side)
            lengths[row] = len(tokens)
            ids.extend(table.setdefault(token, len(table)) for token in tokens)
        sides.append((list(table), np.array(ids, dtype=np.uint32), lengths))
    return sides, empty


@dataclass
class Indexed:
    """The pass's output: per side, token ids into ``types`` (first seen first) in a scratch file."""

    count: int
    lines: np.ndarray  # (pairs,) int64, each pair's line in its file
    lengths: list[np.ndarray]  # per side (pairs,) uint32
    types: list[list[str]]
    scratch: list[Path]  # per side, uint32 ids into types
    where: list[str]  # per side, the file its lines are in
    texts: dict[int, tuple[str, str]]  # a few overlong pairs' text by row, for the report

    def offsets(self, side: int) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.lengths[side], dtype=np.int64)])

    def _chunks(self, side: int, rows: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids of the selected rows, chunk by chunk), a million pairs at a time: bounded memory."""
        ids = np.memmap(self.scratch[side], dtype=np.uint32, mode="r")
        offsets = self.offsets(side)
        for start in range(0, self.count, 1 << 20):
            stop = min(start + (1 << 20), self.count)
            chosen = np.repeat(rows[start:stop], self.lengths[side][start:stop])
            yield ids[offsets[start] : offsets[stop]][chosen], rows[start:stop]

    def counts(self, side: int, rows: np.ndarray) -> np.ndarray:
        total = np.zeros(len(self.types[side]), dtype=np.int64)
        for ids, _ in self._chunks(side, rows):
            total += np.bincount(ids, minlength=len(total))
        return total

    def unknown(self, side: int, rows: np.ndarray, vocab: Vocab) -> str:
        """The fine-tuning line: how much of the new training data the parent's vocabulary misses."""
        from seq2seq_cli.data.text import unknown_text

        counts = self.counts(side, rows)
        unknown = Counter({t: int(c) for t, c in zip(self.types[side], counts.tolist()) if c and t not in vocab.stoi})
        return unknown_text(("source", "target")[side], int(counts.sum()), unknown)

    def write(self, work: Path, side: int, rows: np.ndarray, vocab: Vocab) -> None:
        """The kept rows' final arrays: vocabulary ids (uint16 when they fit), offsets, lengths."""
        name = SIDES[side]
        dtype = np.uint16 if len(vocab) <= 1 << 16 else np.uint32
        lookup = np.array([vocab.stoi.get(t, Vocab.UNK) for t in self.types[side]] or [0], dtype=dtype)
        lengths = self.lengths[side][rows]
        length_type = np.uint16 if int(lengths.max()) < 1 << 16 else np.uint32
        np.save(work / f"{name}.lengths.npy", lengths.astype(length_type))
        np.save(work / f"{name}.offsets.npy", np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)[:-1]]))
        out = np.lib.format.open_memmap(work / f"{name}.ids.npy", mode="w+", dtype=dtype, shape=(int(lengths.sum()),))
        position = 0
        for ids, _ in self._chunks(side, rows):
            out[position : position + len(ids)] = lookup[ids]
            position += len(ids)
        out.flush()
        del out

    def examples(self, rows: np.ndarray) -> list[dict]:
        shown = [row for row in sorted(self.texts) if rows[row]][:EXAMPLES]
        return [{"where": f"{self.where[0]}:{self.lines[row]}", "source": int(self.lengths[0][row]),
                 "target": int(self.lengths[1][row]), "text": self.texts[row][0][:80]} for row in shown]


def _index(config: Config, tokenizer_dir: Path, work: Path, console: Console) -> Indexed:
    """Read and check every training pair (errors name file:line), tokenise in chunks on every core."""
    from rich.progress import Progress, TextColumn, TimeElapsedColumn

    data = config.data
    workers = _workers(data)
    tables: list[dict[str, int]] = [{}, {}]
    lengths: list[list[np.ndarray]] = [[], []]
    lines: list[np.ndarray] = []
    texts: dict[int, tuple[str, str]] = {}
    scratch = [work / f"scratch.{side}.u32" for side in SIDES]
    handles = [open(path, "wb") for path in scratch]
    empty: tuple[int, int] | None = None  # (row, side) of the first pair without words
    count = 0

    def merge(chunk: list[Pair], result: tuple) -> None:
        nonlocal count, empty
        sides, first_empty = result
        if first_empty is not None and empty is None:
            empty = (count + first_empty[0], first_empty[1], chunk[first_empty[0]].line)
        for side, (types, ids, side_lengths) in enumerate(sides):
            table = tables[side]
            lookup = np.fromiter((table.setdefault(t, len(table)) for t in types), dtype=np.uint32, count=len(types))
            handles[side].write(lookup[ids].tobytes() if len(ids) else b"")
            lengths[side].append(side_lengths)
        lines.append(np.fromiter((pair.line for pair in chunk), dtype=np.int64, count=len(chunk)))
        too_long = np.flatnonzero(np.maximum(sides[0][2], sides[1][2]) > data.max_len)
        for row in too_long[: max(0, 10 - len(texts))]:
            texts[count + int(row)] = (chunk[row].source, chunk[row].target)
        count += len(chunk)
        progress.update(task, completed=count, rate=count / max(time.perf_counter() - started, 1e-9))

    progress = Progress(TextColumn("[bold]preparing"), TextColumn("{task.completed:,.0f} pairs"),
                        TextColumn("{task.fields[rate]:,.0f} pairs/s"), TimeElapsedColumn(),
                        console=console, disable=not console.is_terminal)
    pool = None
    if workers > 1:  # started before the progress bar's thread: forking copies no running thread
        pool = _context().Pool(workers, initializer=_start_worker, initargs=(data, tokenizer_dir))
    else:
        _start_worker(data, tokenizer_dir)
    started = time.perf_counter()
    try:
        with progress:
            task = progress.add_task("preparing", total=None, rate=0.0)
            pending: deque = deque()
            for chunk in _chunked(_pairs(data.train, data)):
                texts_only = [(pair.source, pair.target) for pair in chunk]
                if pool is None:
                    merge(chunk, _tokenise(texts_only))
                    continue
                pending.append((chunk, pool.apply_async(_tokenise, (texts_only,))))
                if len(pending) > 2 * workers:
                    chunk_done, result = pending.popleft()
                    merge(chunk_done, result.get())
            while pending:
                chunk_done, result = pending.popleft()
                merge(chunk_done, result.get())
    finally:
        for handle in handles:
            handle.close()
        if pool is not None:
            pool.terminate()
    indexed = Indexed(count, np.concatenate(lines), [np.concatenate(side) for side in lengths],
                      [list(table) for table in tables], scratch, _side_files(data.train), texts)
    if empty is not None:
        _, side, line = empty
        name = ("source", "target")[side]
        raise DataError(f"{indexed.where[side]}:{line}: {name} side has no words after normalisation")
    return indexed


def _side_files(spec: str | ParallelFiles) -> list[str]:
    return [spec.source, spec.target] if isinstance(spec, ParallelFiles) else [str(spec), str(spec)]


def _chunked(pairs: Iterator[Pair]) -> Iterator[list[Pair]]:
    chunk: list[Pair] = []
    for pair in pairs:
        chunk.append(pair)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _workers(data: DataConfig) -> int:
    """``data.workers``, where 0 is one per core for a big corpus and this process alone for a small one."""
    if data.workers:
        return data.workers
    size = sum(os.path.getsize(path) for path in _side_files(data.train)[: 1 + isinstance(data.train, ParallelFiles)])
    return (os.cpu_count() or 1) if size >= POOL_BYTES else 1


def _context():
    """fork where there is one (workers start at once, nothing re-imported), spawn elsewhere."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")
