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
from seq2seq_cli.data.text import Vocab, load_vocabs
from seq2seq_cli.data.tokenizers import Tokenizer, load_tokenizers, merge_attention, merge_pieces
from seq2seq_cli.decoding.attribution import Attribution, Attributor
from seq2seq_cli.decoding.fitting import TooLong
from seq2seq_cli.decoding.search import Hypothesis, SearchTrace, TreeNode, max_output_lengths, search
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
    attribution: Attribution | None = None  # shaped as ``attention_map()``: (steps, len(source)), when asked for

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
        attribution = self.attribution and replace(
            self.attribution, scores=merge_attention(self.attribution.scores, self.output_words, self.source_words))
        return Translation(
            merge_pieces(self.source, self.source_words), merge_pieces(self.output, self.output_words), weights,
            self.score, self.unknown, self.text, [[i] for i in range(len(self.source_words))], single, self.ids,
            self.log_prob, attribution,
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
        self.prefix: list[int] = []  # target ids every search starts with (``with_prefix``)

    @classmethod
    def from_run(cls, run_dir: Path, checkpoint: str | Path | None = None, device: str = "cpu") -> Translator:
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

    def with_prefix(self, text: str | None) -> Translator:
        """The same translator with every output forced to start with ``text`` (``--prefix``); the search
        goes on from there, and the translation is the whole sentence, prefix included."""
        return self._with(prefix=[] if text is None else self.prefix_ids(text))

    def prefix_ids(self, text: str) -> list[int]:
        """A forced prefix as target ids: read as the target side is; an error if it holds nothing to force
        or a word the search can never produce."""
        tokens = self.tgt_tokenizer.tokens(text)
        if not tokens:
            raise DataError("--prefix: nothing to force (it is empty)")
        special = [t for t in tokens if t in Vocab.SPECIALS[:3]]
        if special:
            raise DataError(f"--prefix: {special[0]!r} cannot be forced: give the words the translation starts with")
        return self.tgt_vocab.encode(tokens)

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

    def translate_tokens(
        self, tokenised: Sequence[list[str]], batch_size: int | None = None, prefixes: Sequence[list[int]] | None = None,
    ) -> list[list[Translation]]:
        """As ``translate_nbest``, for sentences already through ``tokens``; ``prefixes``: each sentence's
        forced first target ids (default: ``self.prefix`` for all)."""
        batch_size = batch_size or self.batch_size
        prefixes = prefixes if prefixes is not None else [self.prefix] * len(tokenised)
        order = sorted(range(len(tokenised)), key=lambda i: len(tokenised[i]))
        results: list[list[Translation]] = [[] for _ in tokenised]
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            found = self._translate_batch([tokenised[i] for i in chunk], [prefixes[i] for i in chunk])
            for index, candidates in zip(chunk, found):
                results[index] = candidates
        return results

    def search_tree(self, tokens: list[str], prefix: list[int] | None = None) -> tuple[list[Translation], list[TreeNode]]:
        """One sentence's translations and the beam search that found them, as a tree of the
        hypotheses kept and pruned at each step (a beam of one: greedy search's path)."""
        trace = SearchTrace([len(tokens)], self.config.decode.beam_size)
        found = self._translate_batch([tokens], [self.prefix if prefix is None else prefix], trace)
        return found[0], trace.nodes[0]

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

    def _translate_batch(
        self, batch: list[list[str]], prefixes: list[list[int]], trace: SearchTrace | None = None
    ) -> list[list[Translation]]:
        src, lengths = pad_sources([self.src_vocab.encode(tokens) for tokens in batch])
        src = src.to(self.device)
        decode = self.config.decode
        limits = max_output_lengths(lengths, decode.max_len_ratio, decode.max_len_extra)
        found = search(self.engine, src, lengths, limits, decode.beam_size, decode.length_penalty, decode.n_best,
                       prefixes, trace)
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

    def explain(self, translations: Sequence[Translation], method: str, steps: int = 32,
                note: Callable[[str], None] | None = None) -> list[Translation]:
        """The translations with their attribution by ``method`` (attribution.py): each output word the
        search chose, teacher-forced on the words before it, attributed to the source tokens."""
        attributor = Attributor(self.model, method, steps, note)
        return [replace(t, attribution=attributor.attribute(self.src_vocab.encode(t.source), t.ids)) for t in translations]

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
