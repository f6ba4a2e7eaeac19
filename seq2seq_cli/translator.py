"""The one decode path: text in, tokens, scores and attention out.

``translate``, ``attend`` and validation all go through ``Translator.translate``, so what a
heatmap shows is exactly what ``s2s translate`` printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

from seq2seq_cli import runs
from seq2seq_cli.attention import LocationAttention
from seq2seq_cli.config import Config, config_from_dict
from seq2seq_cli.data import Vocab, pad_sources, tokenize
from seq2seq_cli.errors import DataError, RunError
from seq2seq_cli.model import Seq2Seq, build_model
from seq2seq_cli.search import greedy_search, max_output_lengths


@dataclass
class Translation:
    source: list[str]  # the tokens the model read (unknown words as typed)
    output: list[str]  # the words produced, without <eos>
    attention: torch.Tensor  # (output steps incl. <eos>, len(source))
    score: float  # total log-probability
    unknown: list[str]  # source words the vocabulary does not know

    @property
    def text(self) -> str:
        return " ".join(self.output)

    @property
    def steps(self) -> list[str]:
        """The output as the decoder produced it, ``<eos>`` included when it stopped."""
        return self.output + ["<eos>"] * (self.attention.size(0) - len(self.output))


class Translator:
    def __init__(self, model: Seq2Seq, config: Config, src_vocab: Vocab, tgt_vocab: Vocab):
        self.model, self.config = model.eval(), config
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab

    @classmethod
    def from_run(cls, run_dir: Path, checkpoint: str = runs.BEST) -> Translator:
        """Rebuild the model from a run folder alone."""
        import yaml

        try:
            raw = yaml.safe_load((run_dir / runs.CONFIG_FILE).read_text(encoding="utf-8"))
            src_vocab = Vocab.load(run_dir / runs.SOURCE_VOCAB)
            tgt_vocab = Vocab.load(run_dir / runs.TARGET_VOCAB)
        except (OSError, yaml.YAMLError) as exc:
            raise RunError(f"{run_dir}: incomplete run folder ({exc})") from None
        config = config_from_dict(raw, source=str(run_dir / runs.CONFIG_FILE))
        model = build_model(config.model, len(src_vocab), len(tgt_vocab), config.data.max_len)
        payload = runs.load_checkpoint(run_dir / checkpoint)
        try:
            model.load_state_dict(payload["model"])
        except RuntimeError:
            raise RunError(f"{run_dir / checkpoint}: weights do not match the run's config") from None
        return cls(model, config, src_vocab, tgt_vocab)

    def translate(self, sentences: Sequence[str], batch_size: int = 64) -> list[Translation]:
        """Translate in length-sorted batches; results come back in input order."""
        tokenised = [self._tokens(sentence) for sentence in sentences]
        order = sorted(range(len(tokenised)), key=lambda i: len(tokenised[i]))
        results: list[Translation | None] = [None] * len(tokenised)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            for index, translation in zip(chunk, self._translate_batch([tokenised[i] for i in chunk])):
                results[index] = translation
        return results  # type: ignore[return-value]

    def _tokens(self, sentence: str) -> list[str]:
        tokens = tokenize(sentence, self.config.data.lowercase)
        if not tokens:
            raise DataError("empty sentence: nothing to translate")
        if isinstance(self.model.decoder.attention, LocationAttention):
            self.model.decoder.attention.check_length(len(tokens))
        return tokens

    def _translate_batch(self, batch: list[list[str]]) -> list[Translation]:
        src, lengths = pad_sources([self.src_vocab.encode(tokens) for tokens in batch])
        decode = self.config.decode
        limits = max_output_lengths(lengths, decode.max_len_ratio, decode.max_len_extra)
        hypotheses = greedy_search(self.model, src, lengths, limits)
        return [
            Translation(
                source=tokens,
                output=self.tgt_vocab.decode(h.tokens[:-1] if h.tokens[-1:] == [Vocab.EOS] else h.tokens),
                attention=h.attention,
                score=h.score,
                unknown=self.src_vocab.unknown(tokens),
            )
            for tokens, h in zip(batch, hypotheses)
        ]


def translate_lines(
    translator: Translator, lines: Sequence[str], warn: Callable[[str], None], keep_blank: bool = True
) -> list[str]:
    """Translate lines one for one, warning about unknown words.

    In a file a blank line stays blank, so output lines match input lines; with
    ``keep_blank=False`` (a sentence typed on the command line) it is an error.
    """
    filled = [i for i, line in enumerate(lines) if tokenize(line) or not keep_blank]
    outputs = [""] * len(lines)
    for index, translation in zip(filled, translator.translate([lines[i] for i in filled])):
        outputs[index] = translation.text
        if translation.unknown:
            where = f"line {index + 1}: " if keep_blank else ""
            warn(f"{where}unknown words read as <unk>: {', '.join(translation.unknown)}")
    return outputs
