"""The indexing pass's output (``cache_index.py``), and the entry's final arrays written from it.

The pass writes each side's token ids into a scratch file, numbered by first sight; only once the
vocabulary is known are they mapped to vocabulary ids and written as ``dataset.TokenPairs`` arrays,
a million pairs at a time, so memory stays bounded however big the corpus.
"""

from __future__ import annotations

import errno
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seq2seq_cli.data.dataset import SIDES
from seq2seq_cli.data.text import Vocab
from seq2seq_cli.errors import DataError

EXAMPLES = 3  # dropped pairs shown
ROWS_AT_ONCE = 1 << 20  # pairs read from a scratch file at a time


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
        """(pairs + 1,) int64: where each pair's ids start in the scratch file, then the end."""
        return np.concatenate([[0], np.cumsum(self.lengths[side], dtype=np.int64)])

    def _chunks(self, side: int, rows: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids of the selected rows, chunk by chunk), a million pairs at a time: bounded memory."""
        ids = np.memmap(self.scratch[side], dtype=np.uint32, mode="r")
        offsets = self.offsets(side)
        for start in range(0, self.count, ROWS_AT_ONCE):
            stop = min(start + ROWS_AT_ONCE, self.count)
            chosen = np.repeat(rows[start:stop], self.lengths[side][start:stop])
            yield ids[offsets[start] : offsets[stop]][chosen], rows[start:stop]

    def counts(self, side: int, rows: np.ndarray) -> np.ndarray:
        """(types,) int64: how often each type occurs in the selected rows."""
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
        out = reserved_array(work / f"{name}.ids.npy", dtype, int(lengths.sum()), where=work.parent)
        position = 0
        for ids, _ in self._chunks(side, rows):
            out[position : position + len(ids)] = lookup[ids]
            position += len(ids)
        out.flush()
        del out

    def examples(self, rows: np.ndarray) -> list[dict]:
        """The first few selected rows whose text was kept: where they are and how long, for the report."""
        shown = [row for row in sorted(self.texts) if rows[row]][:EXAMPLES]
        return [{"where": f"{self.where[0]}:{self.lines[row]}", "source": int(self.lengths[0][row]),
                 "target": int(self.lengths[1][row]), "text": self.texts[row][0][:80]} for row in shown]


def reserved_array(path: Path, dtype: np.dtype, count: int, where: Path) -> np.memmap:
    """A new ``.npy`` file of ``count`` elements, memory-mapped for writing, its disk space reserved first.

    Writing through a mapping into space the disk does not have kills the process with SIGBUS, at no
    line anyone can catch; reserved before mapping, a full disk is a one-line error here instead, naming
    ``where`` (the cache folder), and ``cache_build`` removes the unfinished entry (it has no ``meta.json``).
    """
    dtype = np.dtype(dtype)
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (count,)}
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)  # the header np.save and open_memmap write
        offset = handle.tell()
        handle.flush()
        reserve(handle.fileno(), offset + count * dtype.itemsize, where, path.name)
    return np.memmap(path, dtype=dtype, mode="r+", offset=offset, shape=(count,))


def reserve(descriptor: int, size: int, where: Path, name: str) -> None:
    """Allocate ``size`` bytes of disk for the open file (``posix_fallocate``; zeros written where there is none)."""
    try:
        if hasattr(os, "posix_fallocate"):
            try:
                os.posix_fallocate(descriptor, 0, size)
                return
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise
        _write_zeros(descriptor, size)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DataError(f"{where}: no space left on device (needs {size / 1e6:,.1f} MB for {name})") from None
        raise DataError(f"{where}: cannot reserve {size / 1e6:,.1f} MB for {name} ({exc.strerror})") from None


def _write_zeros(descriptor: int, size: int) -> None:
    """Reserve by writing: where the file system cannot allocate without writing (no fallocate)."""
    block = bytes(1 << 20)
    position = os.lseek(descriptor, 0, os.SEEK_END)
    while position < size:
        position += os.write(descriptor, block[: min(len(block), size - position)])
