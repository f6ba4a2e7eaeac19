"""The Python API: load a run once and translate from Python, or train from a config.

    import seq2seq_cli as s2s
    model = s2s.load("runs/default")                  # a run folder, or a name inside runs/
    result = model.translate(["i am a student"], beam=5, nbest=3)[0]
    result.text, result.hypotheses[1].score, result.hypotheses[0].attention
    run_dir = s2s.train("configs/seed.yaml", **{"train.epochs": 20})

Everything goes through the CLI's own functions (``Translator``, ``train``), so Python and the
command line give the same translations, scores and attention. Results are plain dataclasses.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

AttentionAs = Literal["tensor", "list", "none"]


@dataclass
class Hypothesis:
    """One translation of a sentence."""

    text: str  # detokenised, as ``s2s translate`` prints it
    tokens: list[str]  # what the decoder produced, ``<eos>`` included when it stopped
    score: float  # log-probability (length-penalised under beam search)
    attention: Any = None  # (len(tokens), len(source_tokens)): a tensor, nested lists, or None as asked
    alignment: list[tuple[int, int]] = field(default_factory=list)  # (source word, target word) links


@dataclass
class Result:
    """A sentence and its translations, best first."""

    source: str
    source_tokens: list[str]
    unknown: list[str]  # source words the vocabulary does not know (read as <unk>)
    hypotheses: list[Hypothesis]

    @property
    def text(self) -> str:
        """The best translation."""
        return self.hypotheses[0].text


@dataclass
class AttentionMap:
    """What ``s2s attend`` draws: source words across, output words down."""

    source: list[str]
    output: list[str]
    weights: Any  # tensor (len(output), len(source))
    text: str


class Model:
    """A trained run, loaded once; translate as often as you like."""

    def __init__(self, run_dir: Path, checkpoint: str | Path | None = None):
        from seq2seq_cli.decoding.translator import Translator

        self.run_dir = run_dir
        self._translator = Translator.from_run(run_dir, checkpoint)

    def __repr__(self) -> str:
        model = self._translator.config.model
        return f"Model({str(self.run_dir)!r}, type={model.type!r}, attention={model.attention!r})"

    def translate(
        self, sentences: str | Sequence[str], beam: Optional[int] = None, nbest: int = 1, attention: AttentionAs = "tensor",
    ) -> list[Result]:
        """Translate sentences (a string counts as one); ``beam`` defaults to the run's decode.beam_size."""
        if isinstance(sentences, str):
            sentences = [sentences]
        if attention not in ("tensor", "list", "none"):
            raise ValueError(f"attention must be 'tensor', 'list' or 'none', got {attention!r}")
        translator = self._translator.with_decoding(beam_size=beam, n_best=nbest)
        found = translator.translate_nbest(list(sentences))
        return [
            Result(sentence, candidates[0].source, candidates[0].unknown, [_hypothesis(t, attention) for t in candidates])
            for sentence, candidates in zip(sentences, found)
        ]

    def attend(
        self, sentence: str, layer: Optional[int] = None, head: Optional[int] = None, pieces: bool = False
    ) -> AttentionMap:
        """The map ``s2s attend`` draws for a sentence (multi-head models: ``layer`` and ``head``, default the
        last layer's average; subword models: over words unless ``pieces``)."""
        from seq2seq_cli.viz.plot import chosen_map

        translation = self._translator.translate([sentence])[0]
        shown = translation if pieces else translation.by_words()
        weights, _ = chosen_map(shown, layer, head)
        return AttentionMap(shown.source, shown.steps, weights, translation.text)


def _hypothesis(translation, attention: AttentionAs) -> Hypothesis:
    weights = translation.attention_map()
    shown = {"tensor": weights, "list": [[round(w, 4) for w in row] for row in weights.tolist()], "none": None}[attention]
    links, _ = translation.word_alignment()
    return Hypothesis(translation.text, translation.steps, translation.score, shown, links)


def load(run: str | Path, runs_dir: str | Path = "runs", checkpoint: str | Path | None = None) -> Model:
    """A run folder (or the name of one inside ``runs_dir``), ready to translate; ``checkpoint`` picks other
    weights than the best validation's (``"average-last5.pt"`` from ``s2s average``, or a path)."""
    from seq2seq_cli.runs import find_run

    return Model(find_run(str(run), Path(runs_dir)), checkpoint)


def train(config: str | Path, quiet: bool = False, **overrides: Any) -> Path:
    """Train from a YAML config with overrides (``**{"train.epochs": 5}``); returns the run folder.
    ``**{"train.init_from": "runs/base"}`` fine-tunes that run, as ``s2s train --init-from`` does."""
    from rich.console import Console

    from seq2seq_cli.config import load_config
    from seq2seq_cli.training.trainer import train as run_training

    settings = load_config(config, [f"{key}={json.dumps(value)}" for key, value in overrides.items()])
    return run_training(settings, settings.train.name or Path(config).stem, Console(quiet=quiet))
