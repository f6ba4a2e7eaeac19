"""Translating lines one for one (files, streams, the command line) and writing their records.

A blank line stays blank and a line the model cannot take is cropped, skipped or an error
(``fitting.py``), so output line N is always input line N; the records are plain text, Moses
n-best lines or JSON, as ``s2s translate`` prints them and ``s2s serve`` answers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from seq2seq_cli.data.text import tokenize
from seq2seq_cli.decoding.fitting import Fitted, fit_line
from seq2seq_cli.decoding.translator import Translation, Translator
from seq2seq_cli.errors import DataError


def translate_lines(
    translator: Translator, lines: Sequence[str], warn: Callable[[str], None], keep_blank: bool = True, first_line: int = 1,
    on_long: str = "fail",
) -> list[list[Translation] | None]:
    """Translate lines one for one (n-best lists), warning about unknown words.

    In a file a blank line stays blank (``None``), so output lines match input lines; with
    ``keep_blank=False`` (a sentence typed on the command line) it is an error. Messages number
    the lines from ``first_line`` (a stream translated a line at a time passes its own count).
    A line too long for the model is cropped, skipped or an error, as ``on_long`` says (fitting.py).
    """
    chunk = translate_chunk(translator, lines, warn, first_line, on_long, numbered=keep_blank, lenient=False)
    if chunk.failed is not None:
        raise chunk.failed
    return chunk.outputs


@dataclass
class Chunk:
    """Lines translated one for one: what ``render_lines`` writes."""

    outputs: list[list[Translation] | None]  # None: an empty record (a blank line, a skipped one)
    errors: dict[int, str]  # why a record is empty when the line was not blank: --json's "error"
    failed: DataError | None = None  # the line that stopped it: ``outputs`` hold the lines before it


def translate_chunk(
    translator: Translator, lines: Sequence[str], warn: Callable[[str], None], first_line: int = 1, on_long: str = "crop",
    numbered: bool = True, lenient: bool = True, note: Callable[[str], None] | None = None,
) -> Chunk:
    """``translate_lines`` for files and streams: the lines before one that fails (``on_long="fail"``) are
    translated all the same, and (``lenient``) a line the model cannot take is an empty record and a warning.
    Warnings come in line order: unknown words to ``warn``, lines cropped, skipped or left empty to ``note``
    (default ``warn``)."""
    fitted: list[Fitted] = []
    for index, line in enumerate(lines):
        if numbered and not tokenize(line):
            fitted.append(Fitted(None))
            continue
        try:
            fitted.append(fit_line(translator, line, f"line {index + first_line}: " if numbered else "", on_long, lenient))
        except DataError as exc:
            return _translated(translator, fitted, (warn, note or warn), first_line, numbered, exc)
    return _translated(translator, fitted, (warn, note or warn), first_line, numbered)


def _translated(translator: Translator, fitted: list[Fitted], warn: tuple[Callable[[str], None], Callable[[str], None]],
                first_line: int, numbered: bool, failed: DataError | None = None) -> Chunk:
    filled = [i for i, f in enumerate(fitted) if f.tokens is not None]
    outputs: list[list[Translation] | None] = [None] * len(fitted)
    for index, candidates in zip(filled, translator.translate_tokens([fitted[i].tokens for i in filled])):
        outputs[index] = candidates
    for index, (fit, candidates) in enumerate(zip(fitted, outputs)):
        if fit.note:
            warn[1](fit.note)
        if candidates and candidates[0].unknown:
            where = f"line {index + first_line}: " if numbered else ""
            warn[0](f"{where}unknown words read as <unk>: {', '.join(candidates[0].unknown)}")
    return Chunk(outputs, {i: f.error for i, f in enumerate(fitted) if f.error}, failed)


def line_tokens(translator: Translator, line: str, number: int, numbered: bool) -> list[str]:
    """A line's tokens; an error about it names the line when the input is a file."""
    try:
        return translator.tokens(line)
    except DataError as exc:
        raise DataError(f"line {number}: {exc}" if numbered else str(exc)) from None


EMPTY_NBEST = "{} |||  ||| F0= -inf ||| -inf"  # a line without a translation: empty text, log-probability -inf


def render_lines(
    lines: Sequence[str], outputs: list[list[Translation] | None], n_best: int, as_json: bool, align: bool = False,
    first_index: int = 0, errors: dict[int, str] | None = None,
) -> list[str]:
    """One record per line: the best translation; for n-best, Moses lines as Marian writes them,
    ``i ||| text ||| F0= <log-probability> ||| <total score>`` (the total length-penalised under beam
    search), a line without one (blank, skipped) as ``EMPTY_NBEST``; or JSON, with ``errors[i]`` as "error".
    ``align`` adds each translation's word alignment (`` ||| 0-0 1-2``; in JSON hard and soft)."""
    from seq2seq_cli.data.alignments import pharaoh

    errors = errors or {}
    if as_json:
        import json

        return [json.dumps(json_record(line, candidates, align, error=errors.get(i)), ensure_ascii=False)
                for i, (line, candidates) in enumerate(zip(lines, outputs))]

    def links(t: Translation | None) -> str:
        return f" ||| {pharaoh(t.word_alignment()[0]) if t else ''}" if align else ""

    if n_best == 1:
        return [candidates[0].text + links(candidates[0]) if candidates else "" for candidates in outputs]
    return [
        f"{index} ||| {t.text} ||| F0= {t.score if t.log_prob is None else t.log_prob:.4f} ||| {t.score:.4f}{links(t)}"
        if t else EMPTY_NBEST.format(index) + links(None)
        for index, candidates in enumerate(outputs, first_index)
        for t in (candidates or [None])
    ]


def json_record(line: str, candidates: list[Translation] | None, align: bool = False, attention: bool = True,
                error: str | None = None) -> dict:
    """One sentence's translations as ``translate --json`` prints them (and ``s2s serve`` answers);
    ``error``: why a line has none (skipped as too long, nothing the model reads)."""
    candidates = candidates or []
    record = {
        "source": line,
        "source_tokens": candidates[0].source if candidates else [],
        "unknown": candidates[0].unknown if candidates else [],
        "hypotheses": [_hypothesis_record(t, align, attention) for t in candidates],
    }
    return {**record, "error": error} if error else record


def _hypothesis_record(t: Translation, align: bool, attention: bool = True) -> dict:
    record = {"text": t.text, "tokens": t.steps, "score": round(t.score, 6)}
    if attention:
        record["attention"] = [[round(w, 4) for w in row] for row in t.attention_map().tolist()]
    if t.attribution is not None:  # output words x source words, as attention
        record["attribution"] = [[round(w, 5) for w in row] for row in t.attribution.scores.tolist()]
        record["attribution_method"] = t.attribution.method
        if t.attribution.delta is not None:
            record["ig_delta"] = round(t.attribution.delta, 6)
    if align:
        from seq2seq_cli.data.alignments import pharaoh

        links, soft = t.word_alignment()
        words = t.by_words()
        record["alignment"] = {
            "source_words": words.source,
            "target_words": words.output,
            "hard": pharaoh(links),
            "soft": [[round(w, 4) for w in row] for row in soft.tolist()],
        }
    return record
