"""The one decode path: text in, tokens, scores and attention out.

``translate``, ``attend``, ``evaluate`` and validation BLEU all go through
``Translator.translate``, so what a heatmap shows is exactly what ``s2s translate`` printed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from seq2seq_cli import runs
from seq2seq_cli.config import Config, load_run_config
from seq2seq_cli.data.batches import pad_sources
from seq2seq_cli.data.text import Vocab, load_vocabs, tokenize
from seq2seq_cli.data.tokenizers import Tokenizer, load_tokenizers, merge_attention, merge_pieces
from seq2seq_cli.decoding.fitting import Fitted, TooLong, fit_line
from seq2seq_cli.decoding.search import Hypothesis, max_output_lengths, search
from seq2seq_cli.errors import DataError, RunError
from seq2seq_cli.models.attention import LocationAttention, attention_map
from seq2seq_cli.models.seq2seq import Seq2Seq, build_model
from seq2seq_cli.system import resolve_device


@dataclass
class Translation:
    source: list[str]  # the tokens the model read (unknown words as typed)
    output: list[str]  # the words produced, without <eos> (unknown words replaced if asked)
    attention: torch.Tensor  # (output steps incl. <eos>, len(source)); multi-head: (steps, layers, heads, len(source))
    score: float  # log-probability (length-penalised under beam search)
    unknown: list[str]  # source words the vocabulary does not know
    text: str  # the output as text: detokenised, pieces joined
    source_words: list[list[int]]  # which source tokens make up each word (subword models: several)
    output_words: list[list[int]]
    ids: list[int] = field(default_factory=list)  # the target ids searched, <eos> included when it stopped
    log_prob: float | None = None  # the model's log-probability, before any length penalty (None: the score)

    def attention_map(self, layer: int | None = None, head: int | None = None) -> torch.Tensor:
        """(steps, len(source)): one head of one layer, or (default) the average of the last layer's heads."""
        return attention_map(self.attention, layer, head)

    def word_alignment(self) -> tuple[list[tuple[int, int]], torch.Tensor]:
        """Over words (subword pieces merged, ``<eos>`` left out): the hard (source, target) links
        and the soft alignment they come from, (target words, source words)."""
        from seq2seq_cli.data.alignments import hard_alignment

        words = self.by_words()
        soft = words.attention_map()[: len(words.output)]
        return hard_alignment(soft), soft

    @property
    def steps(self) -> list[str]:
        """The output as the decoder produced it, ``<eos>`` included when it stopped."""
        return self.output + ["<eos>"] * (self.attention.size(0) - len(self.output))

    def by_words(self) -> Translation:
        """Subword pieces merged back into words: attention summed over a word's source pieces
        (what it attends to, as a whole) and averaged over its output pieces."""
        weights = merge_attention(self.attention, self.output_words, self.source_words)
        single = [[i] for i in range(len(self.output_words))]
        return Translation(
            merge_pieces(self.source, self.source_words), merge_pieces(self.output, self.output_words), weights,
            self.score, self.unknown, self.text, [[i] for i in range(len(self.source_words))], single, self.ids,
            self.log_prob,
        )


class Translator:
    def __init__(
        self, model: Seq2Seq, config: Config, src_vocab: Vocab, tgt_vocab: Vocab, tokenizers: tuple[Tokenizer, Tokenizer],
        engine=None, batch_size: int = 64,
    ):
        self.model, self.config = model.eval(), config
        self.batch_size = batch_size  # sentences decoded together
        # What search drives: the model itself, or an exported copy with the same seam (export.OnnxEngine).
        self.engine = engine if engine is not None else self.model
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab
        self.src_tokenizer, self.tgt_tokenizer = tokenizers

    @classmethod
    def from_run(cls, run_dir: Path, checkpoint: str | Path = runs.BEST, device: str = "cpu") -> Translator:
        """Rebuild the model from a run folder alone (``checkpoint``: a file in it, or a path), on ``device``
        (cpu, cuda, mps, or auto: the first of those three this machine has)."""
        config = load_run_config(run_dir)
        src_vocab, tgt_vocab = load_vocabs(run_dir)
        model = build_model(config.model, len(src_vocab), len(tgt_vocab), config.data.max_len)
        path = runs.checkpoint_path(run_dir, checkpoint)
        payload = runs.load_checkpoint(path)
        try:
            model.load_state_dict(payload["model"])
        except RuntimeError:
            raise RunError(f"{path}: weights do not match the run's config ({run_dir / runs.CONFIG_FILE})") from None
        model.to(resolve_device(device, "--device"))
        return cls(model, config, src_vocab, tgt_vocab, load_tokenizers(config.data, run_dir))

    def with_decoding(self, **changes) -> Translator:
        """The same model with other decode settings (``beam_size=1`` ...); ``None`` keeps a setting."""
        decode = replace(self.config.decode, **{k: v for k, v in changes.items() if v is not None})
        return self._with(config=replace(self.config, decode=decode))

    def with_engine(self, engine) -> Translator:
        """The same translator with search driven by ``engine`` (``encode`` and ``decoder.step``, as the model)."""
        return self._with(engine=engine)

    def with_batch_size(self, batch_size: int | None) -> Translator:
        """The same translator decoding ``batch_size`` sentences together (``None`` keeps it)."""
        return self._with(batch_size=batch_size or self.batch_size)

    def _with(self, **changes) -> Translator:
        """A shallow copy with some attributes changed: the model and vocabularies are shared, never copied."""
        changed = copy.copy(self)
        changed.__dict__.update(changes)
        return changed

    def translate(self, sentences: Sequence[str], batch_size: int | None = None) -> list[Translation]:
        """The best translation of each sentence, in input order."""
        return [candidates[0] for candidates in self.translate_nbest(sentences, batch_size)]

    def translate_nbest(self, sentences: Sequence[str], batch_size: int | None = None) -> list[list[Translation]]:
        """``decode.n_best`` translations per sentence, best first, decoded in length-sorted batches."""
        return self.translate_tokens([self.tokens(sentence) for sentence in sentences], batch_size)

    def translate_tokens(self, tokenised: Sequence[list[str]], batch_size: int | None = None) -> list[list[Translation]]:
        """As ``translate_nbest``, for sentences already through ``tokens``."""
        batch_size = batch_size or self.batch_size
        order = sorted(range(len(tokenised)), key=lambda i: len(tokenised[i]))
        results: list[list[Translation]] = [[] for _ in tokenised]
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            for index, candidates in zip(chunk, self._translate_batch([tokenised[i] for i in chunk])):
                results[index] = candidates
        return results

    def tokens(self, sentence: str) -> list[str]:
        """The sentence as the model reads it; an error if it is empty, ``TooLong`` (with the tokens and the
        most the model takes, for ``--on-long crop``) if it is longer than the model reads."""
        tokens = self.src_tokenizer.tokens(sentence)
        if not tokens:
            raise DataError("empty sentence: nothing to translate")
        limit, location = self.config.decode.max_input_len, "data.max_len: location attention's width"
        attention = getattr(self.model.decoder, "attention", None)
        width = attention.width if isinstance(attention, LocationAttention) else limit
        if len(tokens) > limit:
            raise TooLong(
                f"input has {len(tokens)} tokens; this model translates at most {limit} (decode.max_input_len): "
                f"{' '.join(tokens[:6])} ...", tokens, min(limit, width), "decode.max_input_len" if limit <= width else location,
            )
        if len(tokens) > width:  # location attention's fixed width, narrower than decode.max_input_len
            try:
                attention.check_length(len(tokens))
            except DataError as exc:
                raise TooLong(str(exc), tokens, width, location) from None
        return tokens

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _translate_batch(self, batch: list[list[str]]) -> list[list[Translation]]:
        src, lengths = pad_sources([self.src_vocab.encode(tokens) for tokens in batch])
        src = src.to(self.device)
        decode = self.config.decode
        limits = max_output_lengths(lengths, decode.max_len_ratio, decode.max_len_extra)
        found = search(self.engine, src, lengths, limits, decode.beam_size, decode.length_penalty, decode.n_best)
        return [[self._translation(tokens, h) for h in hypotheses] for tokens, hypotheses in zip(batch, found)]

    def _translation(self, source: list[str], hypothesis: Hypothesis) -> Translation:
        ids = hypothesis.tokens[:-1] if hypothesis.tokens[-1:] == [Vocab.EOS] else hypothesis.tokens
        output = self.tgt_vocab.decode(ids)
        if self.config.decode.unk_replace:
            output = replace_unknown(output, source, attention_map(hypothesis.attention))
        return Translation(
            source, output, hypothesis.attention, hypothesis.score, self.src_vocab.unknown(source),
            self.tgt_tokenizer.detokenize(output), self.src_tokenizer.words(source), self.tgt_tokenizer.words(output),
            hypothesis.tokens, hypothesis.log_prob,
        )

    @torch.inference_mode()
    def self_attention(self, candidates: Sequence[Translation]) -> tuple[torch.Tensor, list[torch.Tensor]] | None:
        """A Transformer's self-attention for translations it made of one sentence, read again
        teacher-forced: the encoder's (layers, heads, src, src), read once, and each translation's
        decoder (layers, heads, steps, steps), column j the word read at step j (``<s>``, then the
        output). None for other models."""
        encoder = self.model.encoder
        if not hasattr(encoder, "self_attention"):
            return None
        src, lengths = pad_sources([self.src_vocab.encode(candidates[0].source)])
        src = src.to(self.device)
        memory, _ = self.model.encode(src, lengths)
        decoder = []
        for translation in candidates:
            prev = torch.tensor([[Vocab.SOS] + translation.ids[:-1]], device=self.device)  # the words each step read
            decoder.append(self.model.decoder.self_attention(prev, memory)[0].float().cpu())
        return encoder.self_attention(src, lengths)[0].float().cpu(), decoder

    @torch.inference_mode()
    def read_references(
        self, sources: Sequence[str], targets: Sequence[str], batch_size: int | None = None
    ) -> list[ReferenceReading]:
        """Let the model read the given translations (teacher forcing) and report what it did.

        Attention row t is what the model attends to while predicting target word t, so it can
        be compared with gold word alignments of that very translation.
        """
        pairs = [(self.tokens(s), self.tgt_tokenizer.tokens(t)) for s, t in zip(sources, targets)]
        readings, batch_size = [], batch_size or self.batch_size
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start : start + batch_size]
            src, lengths = pad_sources([self.src_vocab.encode(s) for s, _ in chunk])
            targets_ids = [self.tgt_vocab.encode(t) for _, t in chunk]
            tgt_in, _ = pad_sources([[Vocab.SOS] + ids for ids in targets_ids])
            src, tgt_in = src.to(self.device), tgt_in.to(self.device)
            memory, state = self.model.encode(src, lengths)
            logits, weights, _ = self.model.decoder(tgt_in, state, memory)  # (batch, tgt_len + 1, ...)
            guesses, weights = logits.argmax(-1).cpu(), weights.float().cpu()
            for row, ((source, target), ids) in enumerate(zip(chunk, targets_ids)):
                gold = torch.tensor(ids + [Vocab.EOS])
                correct = int((guesses[row, : len(gold)] == gold).sum())
                full = weights[row, : len(target), ..., : len(source)].clone()
                readings.append(ReferenceReading(attention_map(full), correct, len(gold), full))
        return readings


@dataclass
class ReferenceReading:
    attention: torch.Tensor  # (len(target), len(source)): the <eos> step left out
    correct: int  # reference words (and the final <eos>) the model would have predicted itself
    words: int
    weights: torch.Tensor  # every head of every layer for multi-head models: (len(target), layers, heads, len(source))


def replace_unknown(output: list[str], source: list[str], attention: torch.Tensor) -> list[str]:
    """Each output ``<unk>`` becomes the source word it attends to most (names, numbers, rare words)."""
    return [
        source[int(attention[step].argmax())] if word == "<unk>" else word for step, word in enumerate(output)
    ]


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
