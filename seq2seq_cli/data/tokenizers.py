"""Tokenisers: words (the default) or sentencepiece subwords, the same at training and translation.

A run folder carries what its tokenisers need (``spm.src.model``/``spm.tgt.model`` for
sentencepiece), so translating never depends on the training data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

import torch

from seq2seq_cli.config import DataConfig
from seq2seq_cli.data.text import detokenize, normalize, tokenize
from seq2seq_cli.errors import ConfigError, DataError, RunError, S2SError

WORD_START = "\u2581"  # sentencepiece's mark for a piece that begins a word


class Tokenizer(Protocol):
    def tokens(self, text: str) -> list[str]: ...

    def detokenize(self, tokens: Sequence[str]) -> str: ...

    def words(self, tokens: Sequence[str]) -> list[list[int]]:
        """Indices of the tokens that make up each word, for heatmaps drawn over words."""
        ...

    def word_tokens(self, text: str, tokens: Sequence[str]) -> list[list[int]]:
        """Indices of ``tokens`` (this tokeniser's reading of ``text``) that make up each of
        s2s's word tokens (``data.tokenize``: what gold word alignments count in)."""
        ...


class WordTokenizer:
    def __init__(self, lowercase: bool):
        self.lowercase = lowercase

    def tokens(self, text: str) -> list[str]:
        return tokenize(text, self.lowercase)

    def detokenize(self, tokens: Sequence[str]) -> str:
        return detokenize(tokens)

    def words(self, tokens: Sequence[str]) -> list[list[int]]:
        return [[index] for index in range(len(tokens))]

    def word_tokens(self, text: str, tokens: Sequence[str]) -> list[list[int]]:
        return self.words(tokens)


class SentencePieceTokenizer:
    """Subword pieces from a sentencepiece model (BPE or unigram), on normalised text."""

    def __init__(self, model_file: Path, lowercase: bool):
        import sentencepiece

        if not model_file.is_file():
            raise RunError(f"{model_file}: sentencepiece model missing from the run folder")
        self.processor = sentencepiece.SentencePieceProcessor(model_file=str(model_file))
        self.lowercase = lowercase

    def tokens(self, text: str) -> list[str]:
        return self.processor.encode(" ".join(normalize(text, self.lowercase).split()), out_type=str)

    def detokenize(self, tokens: Sequence[str]) -> str:
        return self.processor.decode_pieces([t for t in tokens if t != "<unk>"]).strip()

    def words(self, tokens: Sequence[str]) -> list[list[int]]:
        groups: list[list[int]] = []
        for index, piece in enumerate(tokens):
            if piece.startswith(WORD_START) or not groups:
                groups.append([])
            groups[-1].append(index)
        return groups

    def word_tokens(self, text: str, tokens: Sequence[str]) -> list[list[int]]:
        """Pieces grouped by the word tokens they spell (``l'école``: ``▁l`` ``'`` | ``é`` ``cole``);
        an error where a piece spans two of them (``!!``) or sentencepiece rewrote the text (``…``)."""
        words = tokenize(text, self.lowercase)
        spelled = "".join(tokens).replace(WORD_START, " ")
        if spelled.split() != normalize(text, self.lowercase).split():
            shown = " ".join(text.split())[:40]
            raise DataError(f"sentencepiece spells {shown!r} differently, so its pieces cannot be matched to words")
        word_of_char, position = {}, 0
        for index, word in enumerate(words):
            position = spelled.index(word, position)  # only spaces lie between one word token and the next
            word_of_char.update((char, index) for char in range(position, position + len(word)))
            position += len(word)
        groups: list[list[int]] = [[] for _ in words]
        start, waiting = 0, []  # waiting: pieces that are only a word start (▁), given to the next word
        for index, piece in enumerate(tokens):
            covered = {word_of_char[c] for c in range(start, start + len(piece)) if c in word_of_char}
            start += len(piece)
            if len(covered) > 1:
                raise DataError(f"sentencepiece piece {piece!r} spans several words, so attention cannot be scored over words")
            if not covered:
                waiting.append(index)
                continue
            groups[covered.pop()].extend([*waiting, index])
            waiting = []
        if waiting and groups:
            groups[-1].extend(waiting)
        return groups


def model_file(run_dir: Path, side: str) -> Path:
    return run_dir / f"spm.{side}.model"


def train_tokenizers(config: DataConfig, run_dir: Path | None, pairs: Sequence) -> tuple[Tokenizer, Tokenizer]:
    """Word tokenisers, or sentencepiece models trained on the training pairs into the run folder."""
    if config.tokenizer == "word":
        return WordTokenizer(config.lowercase), WordTokenizer(config.lowercase)
    if run_dir is None:
        raise S2SError("data.tokenizer: sentencepiece needs a run folder to keep its models in")
    if config.joint_vocab:  # one model over both sides' text, kept under both names
        texts = [normalize(t, config.lowercase) for p in pairs for t in (p.source, p.target)]
        _train_sentencepiece(config, texts, model_file(run_dir, "src"))
        model_file(run_dir, "tgt").write_bytes(model_file(run_dir, "src").read_bytes())
        return load_tokenizers(config, run_dir)
    for side, texts in (("src", (p.source for p in pairs)), ("tgt", (p.target for p in pairs))):
        _train_sentencepiece(config, (normalize(t, config.lowercase) for t in texts), model_file(run_dir, side))
    return load_tokenizers(config, run_dir)


def load_tokenizers(config: DataConfig, run_dir: Path) -> tuple[Tokenizer, Tokenizer]:
    if config.tokenizer == "word":
        return WordTokenizer(config.lowercase), WordTokenizer(config.lowercase)
    return (SentencePieceTokenizer(model_file(run_dir, "src"), config.lowercase),
            SentencePieceTokenizer(model_file(run_dir, "tgt"), config.lowercase))


def _train_sentencepiece(config: DataConfig, texts: Iterable[str], target: Path) -> None:
    import io

    import sentencepiece

    model = io.BytesIO()
    try:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(list(texts)), model_writer=model, vocab_size=config.vocab_size,
            model_type=config.sentencepiece_type, character_coverage=1.0, hard_vocab_limit=False,
            bos_id=-1, eos_id=-1, unk_id=0, unk_piece="<unk>", minloglevel=2, num_threads=1,
        )
    except RuntimeError as exc:  # sentencepiece reports a bad setting as an internal error
        needed = re.search(r"smaller than required_chars\. \d+ vs (\d+)", str(exc))
        if needed:
            raise ConfigError(
                f"data.vocab_size ({config.vocab_size}) is too small for {config.train}: sentencepiece needs "
                f"at least {needed[1]} pieces on each side (one for every character, and <unk>)"
            ) from None
        raise DataError(f"{config.train}: sentencepiece could not be trained ({str(exc).split('] ')[-1]})") from None
    target.write_bytes(model.getvalue())


def merge_attention(weights: torch.Tensor, rows: list[list[int]], columns: list[list[int]]) -> torch.Tensor:
    """Attention between pieces as attention between words: summed over a word's source pieces
    (``columns``: what it attends to, as a whole), averaged over its output pieces (``rows``).

    weights: (steps, ..., source pieces); steps past the last row group (``<eos>``) stay as they are.
    """
    covered = sum(len(group) for group in rows)
    merged = [weights[group].mean(dim=0, keepdim=True) for group in rows] + [weights[covered:]]
    weights = torch.cat(merged, dim=0)
    return torch.stack([weights[..., group].sum(dim=-1) for group in columns], dim=-1)


def merge_pieces(tokens: Sequence[str], groups: list[list[int]]) -> list[str]:
    """Word labels from their pieces: ``▁bon`` ``jour`` -> ``bonjour``."""
    return ["".join(tokens[i] for i in group).replace(WORD_START, "") or WORD_START for group in groups]
