"""Batches: padded tensors for a mini-batch, and the length-bucketed batch order.

One bucketing serves the memory-mapped training corpus (``dataset.TokenPairs``, by its length
arrays) and small lists of ``Example``s (validation), so both are batched the same way.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from seq2seq_cli.data.text import Vocab

# Up to this many pairs the order is Python's own ``random.shuffle`` (the order s2s always had, so
# a seed trains the very same batches); above it a numpy permutation seeded from the same RNG: an
# exact Python shuffle of 10 million indices costs 7 s at every epoch start.
EXACT_SHUFFLE_LIMIT = 2_000_000


@dataclass
class Example:
    source: list[int]
    target: list[int]


@dataclass
class Batch:
    """Padded tensors for one mini-batch; targets are shifted so the model learns ``<eos>``."""

    src: torch.Tensor  # (batch, src_len)
    src_lengths: torch.Tensor  # (batch,)
    tgt_in: torch.Tensor  # (batch, tgt_len)  <sos> y1 .. yn
    tgt_out: torch.Tensor  # (batch, tgt_len)  y1 .. yn <eos>

    @property
    def n_tokens(self) -> int:
        return int((self.tgt_out != Vocab.PAD).sum())

    def to(self, device: torch.device) -> Batch:
        """On ``device``; lengths stay on the CPU, where packing wants them."""
        if device.type == "cpu":
            return self
        move = lambda t: t.to(device, non_blocking=True)  # noqa: E731
        return Batch(move(self.src), self.src_lengths, move(self.tgt_in), move(self.tgt_out))


def pad_sources(sources: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists into ``(batch, max_len)`` plus their lengths."""
    lengths = torch.tensor([len(s) for s in sources], dtype=torch.long)
    padded = torch.full((len(sources), int(lengths.max())), Vocab.PAD, dtype=torch.long)
    for row, ids in enumerate(sources):
        padded[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return padded, lengths


def collate(examples: Sequence[Example]) -> Batch:
    src, src_lengths = pad_sources([e.source for e in examples])
    tgt_in, _ = pad_sources([[Vocab.SOS] + e.target for e in examples])
    tgt_out, _ = pad_sources([e.target + [Vocab.EOS] for e in examples])
    return Batch(src, src_lengths, tgt_in, tgt_out)


def bucketed_batches(
    examples: Sequence[Example], batch_size: int, rng: random.Random | None, batch_tokens: int = 0
) -> list[list[int]]:
    """Length-bucketed batches of ``examples``' indices (``bucketed_order`` does the work on length
    arrays, for lists and memory-mapped corpora alike)."""
    src = [len(e.source) for e in examples]
    tgt = [len(e.target) for e in examples]
    return bucketed_order(src, tgt, batch_size, rng, batch_tokens).as_lists()


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
