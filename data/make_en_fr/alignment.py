"""Alignments by construction: every French token carries the indices of the English words it translates.

The builders add English words to a ``Builder`` (which hands back their indices) and tag each French
token with those indices; ``links`` then reads the gold alignment off the finished French tokens,
and ``check_pair`` makes sure the indices are the ones the project tokeniser will see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from seq2seq_cli.data.text import tokenize

UNALIGNED_OK = frozenset({"do", "does", "a", "an"})  # negation's auxiliary; the article before a profession


@dataclass(frozen=True)
class FrTok:
    """A French token and the indices of the English tokens it translates."""

    form: str
    src: tuple[int, ...]


@dataclass(frozen=True)
class Example:
    en: str
    fr: str
    links: tuple[tuple[int, int], ...]

    @property
    def align(self) -> str:
        return " ".join(f"{i}-{j}" for i, j in self.links)


class Builder:
    """Collects English tokens in sentence order; French is assembled from returned indices."""

    def __init__(self) -> None:
        self.en: list[str] = []

    def add(self, *words: str) -> tuple[int, ...]:
        start = len(self.en)
        self.en.extend(words)
        return tuple(range(start, len(self.en)))


def links(fr: Sequence[FrTok]) -> tuple[tuple[int, int], ...]:
    """Pharaoh links (English index, French index), sorted by (i, j)."""
    return tuple(sorted({(i, j) for j, t in enumerate(fr) for i in t.src}))


def check_pair(en: Sequence[str], fr: Sequence[FrTok], en_text: str, fr_text: str) -> None:
    """The alignment indexes these token lists, so they must be exactly what the project tokeniser sees."""
    aligned = {i for i, _ in links(fr)}
    require(tokenize(en_text) == list(en), f"tokeniser disagrees: {en_text!r} -> {tokenize(en_text)}")
    require(tokenize(fr_text) == [t.form for t in fr], f"tokeniser disagrees: {fr_text!r} -> {tokenize(fr_text)}")
    require(all(t.src for t in fr), f"unaligned French token: {en_text!r} / {fr_text!r}")
    require(all(k in aligned or w in UNALIGNED_OK for k, w in enumerate(en)), f"unaligned English word: {en_text!r}")


def require(condition: bool, message: str) -> None:
    """An assert that survives ``python -O``: a broken pair must never be written."""
    if not condition:
        raise AssertionError(message)
