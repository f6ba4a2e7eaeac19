"""The indexing pass: every training pair read, checked and tokenised once, by every core.

The main process reads the corpus (a bad line is an error at file:line) and hands chunks of
``CHUNK`` pairs to a pool of workers; each worker numbers a chunk's tokens its own way, and the
main process merges the chunks in file order into one numbering per side, written to a scratch
file (``cache_arrays.Indexed``). The result is the same with any number of workers.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from rich.console import Console

from seq2seq_cli.config import Config, DataConfig, ParallelFiles
from seq2seq_cli.data.cache_arrays import Indexed
from seq2seq_cli.data.corpora import Pair
from seq2seq_cli.data.dataset import SIDES
from seq2seq_cli.data.prepare import iter_corpus
from seq2seq_cli.data.tokenizers import load_tokenizers
from seq2seq_cli.errors import DataError

CHUNK = 10_000  # pairs a worker tokenises at a time
POOL_BYTES = 8 << 20  # data.workers 0: training files smaller than this are prepared in this process
TEXTS_KEPT = 10  # overlong pairs whose text is kept for the report

Merge = Callable[[list[Pair], tuple], None]


def index(config: Config, tokenizer_dir: Path, work: Path, console: Console) -> Indexed:
    """Read and check every training pair (errors name file:line), tokenise in chunks on every core."""
    data = config.data
    workers = _workers(data)
    gathered = _Gathered(work, data.max_len)
    progress = _progress(console)
    pool = None
    if workers > 1:  # started before the progress bar's thread: forking copies no running thread
        pool = _context().Pool(workers, initializer=_start_worker, initargs=(data, tokenizer_dir))
    else:
        _start_worker(data, tokenizer_dir)
    started = time.perf_counter()
    try:
        with progress:
            task = progress.add_task("preparing", total=None, rate=0.0)

            def merge(chunk: list[Pair], result: tuple) -> None:
                gathered.merge(chunk, result)
                rate = gathered.count / max(time.perf_counter() - started, 1e-9)
                progress.update(task, completed=gathered.count, rate=rate)

            _tokenise_all(iter_corpus(data.train, data), pool, workers, merge)
    finally:
        gathered.close()
        if pool is not None:
            pool.terminate()
    return gathered.indexed(_side_files(data.train))


def _tokenise_all(pairs: Iterator[Pair], pool, workers: int, merge: Merge) -> None:
    """Every chunk tokenised (here, or by the pool with at most ``2 * workers`` ahead) and merged in order."""
    pending: deque = deque()
    for chunk in _chunked(pairs):
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


class _Gathered:
    """The pass so far: chunks merged in file order, one numbering of the types per side."""

    def __init__(self, work: Path, max_len: int):
        self.max_len = max_len
        self.tables: list[dict[str, int]] = [{}, {}]  # per side, type -> its number (first seen first)
        self.lengths: list[list[np.ndarray]] = [[], []]  # per side, per chunk (chunk,) uint32
        self.lines: list[np.ndarray] = []  # per chunk (chunk,) int64
        self.texts: dict[int, tuple[str, str]] = {}
        self.scratch = [work / f"scratch.{side}.u32" for side in SIDES]
        self.handles = [open(path, "wb") for path in self.scratch]
        self.empty: tuple[int, int, int] | None = None  # (row, side, line) of the first pair without words
        self.count = 0

    def merge(self, chunk: list[Pair], result: tuple) -> None:
        """One tokenised chunk (``_tokenise``'s result) renumbered into the tables and written."""
        sides, first_empty = result
        if first_empty is not None and self.empty is None:
            self.empty = (self.count + first_empty[0], first_empty[1], chunk[first_empty[0]].line)
        for side, (types, ids, side_lengths) in enumerate(sides):
            table = self.tables[side]
            lookup = np.fromiter((table.setdefault(t, len(table)) for t in types), dtype=np.uint32, count=len(types))
            self.handles[side].write(lookup[ids].tobytes() if len(ids) else b"")
            self.lengths[side].append(side_lengths)
        self.lines.append(np.fromiter((pair.line for pair in chunk), dtype=np.int64, count=len(chunk)))
        too_long = np.flatnonzero(np.maximum(sides[0][2], sides[1][2]) > self.max_len)
        for row in too_long[: max(0, TEXTS_KEPT - len(self.texts))]:
            self.texts[self.count + int(row)] = (chunk[row].source, chunk[row].target)
        self.count += len(chunk)

    def close(self) -> None:
        for handle in self.handles:
            handle.close()

    def indexed(self, where: list[str]) -> Indexed:
        """The finished pass, or the error naming the first pair a side of which has no words."""
        indexed = Indexed(self.count, np.concatenate(self.lines), [np.concatenate(side) for side in self.lengths],
                          [list(table) for table in self.tables], self.scratch, where, self.texts)
        if self.empty is not None:
            _, side, line = self.empty
            name = ("source", "target")[side]
            raise DataError(f"{indexed.where[side]}:{line}: {name} side has no words after normalisation")
        return indexed


# ---- in the workers (or in this process, for a small corpus) ----

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


# ---- the pass's settings ----


def _progress(console: Console):
    """The live line: pairs so far and pairs per second (off when the console is not a terminal)."""
    from rich.progress import Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]preparing"), TextColumn("{task.completed:,.0f} pairs"),
                    TextColumn("{task.fields[rate]:,.0f} pairs/s"), TimeElapsedColumn(),
                    console=console, disable=not console.is_terminal)


def _side_files(spec: str | ParallelFiles) -> list[str]:
    """Per side, the file its lines are in (the one file twice unless the corpus is parallel files)."""
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
