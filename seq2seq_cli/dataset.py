"""Training pairs as token-id arrays, and the length-bucketed batch order over them.

A corpus of millions of pairs is three arrays a side (flat ids, offsets, lengths), opened
memory-mapped from the prepared cache (``cache.py``): bucketing works on the lengths alone, and a
batch reads its sentences from the files (``TokenSide``), so a process never holds the corpus.
Small lists of ``Example``s (validation) go through the same bucketing: one batch order for both.
"""

from __future__ import annotations

import mmap
import os
import random
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from seq2seq_cli.data import Batch, Example, Vocab

# Up to this many pairs the order is Python's own ``random.shuffle`` (the order s2s always had, so
# a seed trains the very same batches); above it a numpy permutation seeded from the same RNG: an
# exact Python shuffle of 10 million indices costs 7 s at every epoch start.
EXACT_SHUFFLE_LIMIT = 2_000_000
SIDES = ("src", "tgt")


@dataclass
class TokenSide:
    """One side's sentences: ``ids[offsets[i] : offsets[i] + lengths[i]]`` is sentence ``i``.

    Memory-mapped arrays are read a sentence at a time with ``os.pread``, not through the mapping:
    pages read through a mapping count in the process's resident memory, and a kernel that maps
    whole large folios around each fault maps most of the file after a few hundred random batches
    (measured: 800 MB after 300 batches of a 10-million-pair corpus). Read by pread, they stay in the
    page cache, shared and reclaimable, and the process stays the size it started.
    """

    ids: np.ndarray  # (tokens,) uint16 or uint32
    offsets: np.ndarray  # (pairs,) int64
    lengths: np.ndarray  # (pairs,) uint16 or uint32
    files: dict = field(default_factory=dict, repr=False, compare=False)  # file name -> descriptor, for pread

    def sentence(self, index: int) -> list[int]:
        start, length = self._where(index)
        return self._read(self.ids, start, length).tolist()

    def spans(self, indices: Sequence[int]) -> list[tuple[int, int]]:
        """Each sentence's first token and length."""
        return [self._where(int(i)) for i in indices]

    def padded(self, where: list[tuple[int, int]], before: int | None = None, after: int | None = None) -> torch.Tensor:
        """``(batch, longest + extras)`` int64 of the sentences at ``where`` (``spans``), right-padded with
        ``<pad>``; ``before``/``after``: an id added."""
        first = int(before is not None)
        longest = max(length for _, length in where)
        out = np.full((len(where), longest + first + int(after is not None)), Vocab.PAD, dtype=np.int64)
        if before is not None:
            out[:, 0] = before
        for row, (start, length) in enumerate(where):
            out[row, first : first + length] = self._read(self.ids, start, length)
            if after is not None:
                out[row, first + length] = after
        return torch.from_numpy(out)

    def _where(self, index: int) -> tuple[int, int]:
        """Sentence ``index``'s first token and length."""
        return int(self._read(self.offsets, index, 1)[0]), int(self._read(self.lengths, index, 1)[0])

    def _read(self, array: np.ndarray, first: int, count: int) -> np.ndarray:
        """``array[first : first + count]``; from a memory-mapped file by pread (see the class)."""
        name = getattr(array, "filename", None)
        if name is None or not hasattr(os, "pread"):
            return array[first : first + count]
        if name not in self.files:
            self.files[name] = os.open(name, os.O_RDONLY)
        size = array.dtype.itemsize
        return np.frombuffer(os.pread(self.files[name], count * size, array.offset + first * size), dtype=array.dtype)

    def __del__(self) -> None:
        for descriptor in self.files.values():
            os.close(descriptor)


class TokenPairs:
    """Indexed training pairs behind ``len`` and ``[i]``, batched straight from the arrays.

    Bucketing reads the whole lengths arrays through their mappings; ``release`` then hands those
    pages back (they stay in the page cache), so the process stays the same size however big the corpus.
    """

    def __init__(self, src: TokenSide, tgt: TokenSide):
        self.src, self.tgt = src, tgt

    @classmethod
    def load(cls, folder: Path, prefix: str = "") -> TokenPairs:
        """The arrays of a prepared cache entry, memory-mapped read-only."""
        sides = [TokenSide(*(np.load(folder / f"{prefix}{side}.{part}.npy", mmap_mode="r")
                             for part in ("ids", "offsets", "lengths"))) for side in SIDES]
        return cls(*sides)

    @classmethod
    def from_examples(cls, examples: Sequence[Example]) -> TokenPairs:
        """In-memory arrays for a list of examples (validation, tests, ``prepare_data``)."""
        return cls(*(_side([getattr(e, name) for e in examples]) for name in ("source", "target")))

    def __len__(self) -> int:
        return len(self.src.lengths)

    def __getitem__(self, index: int) -> Example:
        return Example(self.src.sentence(index), self.tgt.sentence(index))

    def collate(self, indices: Sequence[int]) -> Batch:
        """The same tensors ``data.collate`` makes from these examples."""
        src, tgt = self.src.spans(indices), self.tgt.spans(indices)
        lengths = torch.tensor([length for _, length in src], dtype=torch.long)
        return Batch(self.src.padded(src), lengths, self.tgt.padded(tgt, before=Vocab.SOS), self.tgt.padded(tgt, after=Vocab.EOS))

    def release(self) -> None:
        """Let go of the mapped pages read so far (no-op for in-memory arrays)."""
        for side in (self.src, self.tgt):
            for array_ in (side.ids, side.offsets, side.lengths):
                mapped = getattr(array_, "_mmap", None)  # numpy.memmap's own mmap object
                if mapped is not None and hasattr(mmap, "MADV_DONTNEED"):
                    mapped.madvise(mmap.MADV_DONTNEED)

    def target_tokens(self, indices: Sequence[int]) -> int:
        """``collate(indices).n_tokens`` without collating: each target and its ``<eos>``."""
        return sum(self.tgt._where(int(i))[1] for i in indices) + len(indices)


def _side(sentences: list[list[int]]) -> TokenSide:
    lengths = np.array([len(s) for s in sentences], dtype=np.uint32)
    offsets = np.zeros(len(sentences), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    ids = np.fromiter((i for s in sentences for i in s), dtype=np.uint32, count=int(lengths.sum()))
    return TokenSide(ids, offsets, lengths)


class BatchOrder:
    """An epoch's batches: ``order`` holds example indices bucketed by length, batch ``k`` is the
    ``sequence[k]``-th run of it (``starts`` bounds the runs). Sliced, it gives index arrays."""

    def __init__(self, order: np.ndarray, starts: np.ndarray, sequence: np.ndarray):
        self.order, self.starts, self.sequence = order, starts, sequence

    def __len__(self) -> int:
        return len(self.sequence)

    def __getitem__(self, item):
        if isinstance(item, slice):
            return [self[k] for k in range(*item.indices(len(self)))]
        run = int(self.sequence[item])
        return self.order[self.starts[run] : self.starts[run + 1]]

    def as_lists(self) -> list[list[int]]:
        return [self[k].tolist() for k in range(len(self))]


def bucketed_order(
    src_lengths: np.ndarray, tgt_lengths: np.ndarray, batch_size: int, rng: random.Random | None, batch_tokens: int = 0
) -> BatchOrder:
    """Group similar lengths so padding stays small; shuffle within lengths and batch order.

    Shuffle, then a stable sort by (source, target) length: equal lengths stay in shuffled order.
    With ``batch_tokens`` a batch holds as many sentences as fit that many padded tokens
    (``batch_size`` still caps the count). ``rng=None``: a fixed order (for validation).
    """
    count = len(src_lengths)
    order = _shuffled(count, rng)  # (pairs,) int32 (int64 past 2**31 pairs)
    order = _stable_sort(order, _length_key(np.asarray(src_lengths), np.asarray(tgt_lengths)))
    if batch_tokens:
        src, tgt = (np.asarray(lengths)[order].astype(np.int64) for lengths in (src_lengths, tgt_lengths))
        starts = _token_budget_starts(np.maximum(src, tgt + 1), batch_size, batch_tokens)
    else:
        starts = np.append(np.arange(0, count, batch_size, dtype=np.int64), count)
    sequence = array("q", range(len(starts) - 1))
    if rng is not None:
        rng.shuffle(sequence)
    return BatchOrder(order, starts, np.frombuffer(sequence, dtype=np.int64))


def _length_key(src: np.ndarray, tgt: np.ndarray) -> np.ndarray:
    """(source, target) length as one integer that sorts the same; uint16 where it fits (numpy sorts
    those by radix, and 10 million of them take 20 MB, not 80)."""
    width = int(tgt.max(initial=0)) + 1
    key_type = np.uint16 if (int(src.max(initial=0)) + 1) * width <= 1 << 16 else np.int64
    key = src.astype(key_type)  # in place from here: one array of temporaries, not three
    key *= key_type(width)
    np.add(key, tgt, out=key, casting="unsafe")
    return key


def _shuffled(count: int, rng: random.Random | None) -> np.ndarray:
    """0..count-1 in ``rng``'s order: up to EXACT_SHUFFLE_LIMIT the draws ``rng.shuffle(list(range(count)))`` makes."""
    small = count < 1 << 31
    if rng is None:
        return np.arange(count, dtype=np.int32 if small else np.int64)
    if count > EXACT_SHUFFLE_LIMIT:
        order = np.arange(count, dtype=np.int32 if small else np.int64)
        np.random.default_rng(rng.getrandbits(64)).shuffle(order)
        return order
    order = array("i" if small else "q", range(count))  # 4 bytes an index, not a Python int each
    rng.shuffle(order)
    return np.frombuffer(order, dtype=np.int32 if small else np.int64)


def _stable_sort(order: np.ndarray, key: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
    """``order`` stably sorted by ``key[order]``: a counting sort a million at a time, so the
    temporaries are a chunk's (an argsort of 10 million indices would be 80 MB more at its peak).

    order: (pairs,) indices; key: (pairs,) small non-negative integers.
    """
    keys = key[order]  # (pairs,)
    slot = np.concatenate([[0], np.cumsum(np.bincount(keys))[:-1]])  # where each key's next index goes
    out = np.empty_like(order)
    for start in range(0, len(order), chunk):
        part = keys[start : start + chunk]
        within = np.argsort(part, kind="stable")  # (chunk,) equal keys keep their shuffled order
        part_sorted = part[within]
        rank = np.arange(len(part)) - np.searchsorted(part_sorted, part_sorted, side="left")  # place among equals
        out[slot[part_sorted] + rank] = order[start : start + chunk][within]
        slot[: int(part.max()) + 1] += np.bincount(part)
    return out


def _token_budget_starts(sizes: np.ndarray, batch_size: int, batch_tokens: int) -> np.ndarray:
    """Where each batch starts: as many sentences as fit ``batch_tokens`` padded tokens, at most ``batch_size``.

    sizes: (pairs,) each sentence's padded width, in batch order; one numpy window per batch.
    """
    starts, start, count = [0], 0, len(sizes)
    while start < count:
        window = np.maximum.accumulate(sizes[start : start + batch_size])  # widest so far
        over = np.flatnonzero(np.arange(1, len(window) + 1) * window > batch_tokens)
        taken = max(int(over[0]), 1) if len(over) else len(window)
        start += taken
        starts.append(start)
    return np.array(starts, dtype=np.int64)
