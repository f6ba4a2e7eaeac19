"""Words: one tokeniser for training and translating, and vocabularies.

The same ``tokenize`` runs at train and translate time, so a sentence typed by a user is
split exactly as the training data was.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from seq2seq_cli import runs
from seq2seq_cli.errors import DataError, RunError

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
        """One token a line, whole or not at all: a run whose vocabulary was cut short would translate wrongly."""
        runs.write_text_atomically(path, "\n".join(self.itos) + "\n")

    @classmethod
    def load(cls, path: Path) -> Vocab:
        return cls(path.read_text(encoding="utf-8").splitlines())


def load_vocabs(run_dir: Path) -> tuple[Vocab, Vocab]:
    """The source and target vocabularies a run was trained with."""
    try:
        return Vocab.load(run_dir / runs.SOURCE_VOCAB), Vocab.load(run_dir / runs.TARGET_VOCAB)
    except (OSError, UnicodeDecodeError) as exc:
        raise RunError(f"{run_dir}: incomplete run folder ({type(exc).__name__}: {exc})") from None


def unknown_text(side: str, total: int, unknown: Counter) -> str:
    """How many of the new training data's ``total`` tokens on one side the parent's vocabulary reads as <unk>."""
    count = sum(unknown.values())
    share = 100 * count / max(total, 1)
    line = f"  {side}: {count:,} of {total:,} training tokens ({share:.1f}%) unknown to the parent's vocabulary"
    if count:
        shown = ", ".join(f"{word} ×{n}" for word, n in unknown.most_common(5))
        line += f", read as <unk> ({len(unknown):,} distinct: {shown}{', ...' * (len(unknown) > 5)})"
    return line
