"""Training pairs as token-id arrays.

A corpus of millions of pairs is three arrays a side (flat ids, offsets, lengths), opened
memory-mapped from the prepared cache (``cache.py``): bucketing (``batches.bucketed_order``) works
on the lengths alone, and a batch reads its sentences from the files with ``os.pread``
(``TokenSide``), so a process never holds the corpus.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from seq2seq_cli.data.batches import Batch, Example
from seq2seq_cli.data.text import Vocab

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
