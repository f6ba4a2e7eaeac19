"""Text in, tensors out: pairs (read by corpora.py), one tokeniser for training and translating, vocabularies, batches.

The same ``tokenize`` runs at train and translate time, so a sentence typed by a user is
split exactly as the training data was.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from seq2seq_cli.corpora import Pair, read_pairs  # noqa: F401  (the readers live in corpora.py)
from seq2seq_cli.errors import DataError

# A word, a word with an elided apostrophe kept on it (French l' n' j' qu'), or one symbol.
_TOKEN = re.compile(r"\w+'(?=\w)|\w+|[^\w\s]")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'", "\u2018": "'"})


def normalize(text: str, lowercase: bool = True) -> str:
    """NFC, one apostrophe, no control or format characters, optional lowercasing."""
    text = unicodedata.normalize("NFC", text).translate(_APOSTROPHES)
    text = "".join(
        " " if ch.isspace() else ch for ch in text if ch.isspace() or unicodedata.category(ch)[0] != "C"
    )
    return text.lower() if lowercase else text


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Split normalised text into words and punctuation marks."""
    return _TOKEN.findall(normalize(text, lowercase))


_ATTACH_LEFT = set(".,!?;:%)]}…»")
_ATTACH_RIGHT = set("([{«")


def detokenize(tokens: Sequence[str]) -> str:
    """Join tokens into text: punctuation and hyphens attached, elision rejoined (l' homme -> l'homme)."""
    text, glue, open_quote = "", True, False
    for token in tokens:
        attach = glue or token in _ATTACH_LEFT or token == "-"
        if token == '"':
            attach, open_quote = glue or open_quote, not open_quote
        text += token if attach or not text else " " + token
        glue = token in _ATTACH_RIGHT or token == "-" or token.endswith("'") or (token == '"' and open_quote)
    return text


class Vocab:
    """Token <-> index, with the four specials first so their indices never move."""

    SPECIALS = ("<pad>", "<sos>", "<eos>", "<unk>")
    PAD, SOS, EOS, UNK = 0, 1, 2, 3

    def __init__(self, tokens: Sequence[str]):
        if tuple(tokens[: len(self.SPECIALS)]) != self.SPECIALS:
            raise DataError("vocabulary must start with " + " ".join(self.SPECIALS))
        self.itos = list(tokens)
        self.stoi = {token: index for index, token in enumerate(self.itos)}

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_freq: int = 1, max_size: int | None = None) -> Vocab:
        """Most frequent first (ties alphabetical, so the vocabulary is deterministic)."""
        return cls.from_counts(Counter(token for sentence in sentences for token in sentence), min_freq, max_size)

    @classmethod
    def from_counts(cls, counts: Mapping[str, int], min_freq: int = 1, max_size: int | None = None) -> Vocab:
        """``build`` from token counts already made (the prepared cache counts with numpy)."""
        ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        return cls(list(cls.SPECIALS) + ranked[:max_size])

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        return [self.stoi.get(token, self.UNK) for token in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[i] for i in ids]

    def unknown(self, tokens: Sequence[str]) -> list[str]:
        return [token for token in tokens if token not in self.stoi]

    def save(self, path: Path) -> None:
        path.write_text("\n".join(self.itos) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Vocab:
        return cls(path.read_text(encoding="utf-8").splitlines())


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
    """Length-bucketed batches of ``examples``' indices (see ``dataset.bucketed_order``, which does the work
    on length arrays, for lists and memory-mapped corpora alike)."""
    from seq2seq_cli.dataset import bucketed_order

    src = [len(e.source) for e in examples]
    tgt = [len(e.target) for e in examples]
    return bucketed_order(src, tgt, batch_size, rng, batch_tokens).as_lists()
