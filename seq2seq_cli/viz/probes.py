"""Probe sentences: a few fixed sentences whose attention training keeps at every validation.

``s2s attend --over-training`` replays them, so a learner sees the diagonal and the reorderings
appear. Each validation adds one compact JSON line to ``probes.jsonl`` in the run folder (the
attention as base64 uint16, the map ``s2s attend`` draws by default), cut back with the metrics
log when a run resumes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from seq2seq_cli import runs
from seq2seq_cli.config import Config
from seq2seq_cli.data.prepare import TrainingData
from seq2seq_cli.decoding.translator import Translator
from seq2seq_cli.errors import ConfigError, DataError
from seq2seq_cli.viz.maps import encode_map

# The README's sentences: followed when the training data's vocabulary knows every word.
README_SENTENCES = ("i am a student", "the red car is small")


def choose_probes(config: Config, data: TrainingData, translator: Translator) -> list[str]:
    """``train.probes`` validation sentences spread over the set, the README's sentences when they
    fit the vocabulary, and the user's ``train.probe_sentences``; each once, in that order."""
    chosen: list[str] = []
    val_sources = [p.source for p in data.val_pairs]
    count = min(config.train.probes, len(val_sources))
    spread = [val_sources[i * len(val_sources) // count] for i in range(count)] if count else []
    for sentence in spread:
        if _fits(translator, sentence) and sentence not in chosen:
            chosen.append(sentence)
    if config.train.probes:
        chosen += [s for s in README_SENTENCES if s not in chosen and _fits(translator, s, known_words=True)]
    for sentence in config.train.probe_sentences:
        try:
            translator.tokens(sentence)
        except DataError as exc:
            raise ConfigError(f"train.probe_sentences: {sentence!r}: {exc}") from None
        if sentence not in chosen:
            chosen.append(sentence)
    return chosen


def _fits(translator: Translator, sentence: str, known_words: bool = False) -> bool:
    try:
        tokens = translator.tokens(sentence)
    except DataError:
        return False
    return not (known_words and translator.src_vocab.unknown(tokens))


def probe_record(translator: Translator, sentences: Sequence[str], step: int) -> dict:
    """One validation's line: each probe's greedy translation and its attention over words."""
    decoded = translator.with_decoding(beam_size=1, n_best=1).translate(sentences)
    probes = []
    for sentence, translation in zip(sentences, decoded):
        words = translation.by_words()
        probes.append({
            "source": sentence,
            "source_tokens": words.source,
            "tokens": words.steps,
            "text": words.text,
            "cross": encode_map(words.attention_map()),
        })
    return {"step": step, "probes": probes}


def append_probes(run_dir: Path, record: dict) -> None:
    runs.append_record(run_dir / runs.PROBES, record, "the checkpoints are intact")


def read_probes(run_dir: Path, up_to_step: int | None = None, rewrite: bool = True) -> list[dict]:
    """The probe log, cut back to ``up_to_step`` when a run resumes."""
    return runs.read_records(run_dir / runs.PROBES, up_to_step, rewrite)
