"""Scoring a run: sacreBLEU and chrF on detokenised output, exact match, and attention (or attribution) against gold alignments.

BLEU and chrF come from sacrebleu, so scores are comparable with published ones and carry
their signature; they are computed on detokenised hypotheses against the raw references.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from seq2seq_cli.config import ParallelFiles
from seq2seq_cli.data.alignments import Alignment, hard_alignment, read_alignments
from seq2seq_cli.data.corpora import Pair, read_pairs, read_parallel
from seq2seq_cli.data.tokenizers import merge_attention
from seq2seq_cli.decoding.attribution import Attribution, Attributor, check_method, require_captum
from seq2seq_cli.decoding.translator import ReferenceReading, Translator
from seq2seq_cli.errors import DataError, S2SError


@dataclass
class EvaluationReport:
    """What ``s2s evaluate`` prints and writes to ``<run>/<data>.eval.json``."""

    sentences: int
    bleu: float
    bleu_signature: str
    chrf: float
    chrf_signature: str
    exact_match: float  # share of outputs identical to the reference, token for token
    token_accuracy: float  # share of reference words (and <eos>) predicted right given the reference so far
    sentences_per_s: float
    decode: dict = field(default_factory=dict)
    wmt_bleu: float | None = None  # BLEU by the WMT multimodal recipe (``wmt_bleu``); None without sacremoses
    wmt_signature: str = ""
    alignment_agreement: float | None = None  # share of target words whose top-attended source word is gold
    aer: float | None = None  # alignment error rate of the top-attended links
    # --align/--attribution: {"attention": {"aer", "agreement_with_gold"}, "<method>": {...},
    # "top_word_agreement": share of target words whose top source word is the same for both, "ig_delta"}
    alignment: dict | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def alignment_scores(attention: Sequence[torch.Tensor], gold: Sequence[Alignment]) -> tuple[float, float]:
    """(agreement, AER) of the hard alignment that links each target word to its most attended source word.

    Agreement counts target words that have a gold link; AER (Och and Ney, 2003, with every gold
    link sure) also penalises links predicted for words that should stay unaligned.
    """
    hits = aligned_targets = overlap = predicted = gold_links = 0
    for weights, links in zip(attention, gold):  # weights: (tgt_len, src_len)
        guesses = set(hard_alignment(weights))
        gold_targets = {t for _, t in links}
        hits += sum(1 for s, t in guesses if t in gold_targets and (s, t) in links)
        aligned_targets += len(gold_targets)
        overlap += len(guesses & links)
        predicted += len(guesses)
        gold_links += len(links)
    agreement = hits / aligned_targets if aligned_targets else 0.0
    aer = 1.0 - 2.0 * overlap / (predicted + gold_links) if predicted + gold_links else 0.0
    return agreement, aer


def word_attention(translator: Translator, pair: Pair, attention: torch.Tensor, data: str | Path) -> torch.Tensor:
    """A reading's attention between s2s's word tokens, the units gold alignments count in:
    subword pieces merged as ``s2s attend`` draws them (a word tokeniser's tokens are the words)."""
    src_tokenizer, tgt_tokenizer = translator.src_tokenizer, translator.tgt_tokenizer
    try:
        rows = tgt_tokenizer.word_tokens(pair.target, tgt_tokenizer.tokens(pair.target))
        columns = src_tokenizer.word_tokens(pair.source, translator.tokens(pair.source))
    except DataError as exc:
        raise DataError(f"{data}:{pair.line}: {exc}") from None
    return merge_attention(attention, rows, columns)


def corpus_scores(
    hypotheses: Sequence[str], references: Sequence[str], lowercase: bool = False
) -> tuple[float, str, float, str]:
    """sacreBLEU BLEU and chrF with their signatures (case-insensitive for a lowercasing model)."""
    from sacrebleu.metrics import BLEU, CHRF

    bleu, chrf = BLEU(lowercase=lowercase), CHRF(lowercase=lowercase)
    bleu_score = bleu.corpus_score(list(hypotheses), [list(references)])
    chrf_score = chrf.corpus_score(list(hypotheses), [list(references)])
    return bleu_score.score, str(bleu.get_signature()), chrf_score.score, str(chrf.get_signature())


WMT_INSTALL = 'pip install "seq2seq-cli[wmt]"'


def wmt_bleu(hypotheses: Sequence[str], references: Sequence[str], lang: str) -> tuple[float, str] | None:
    """BLEU as the WMT17/18 multimodal task and the Multi30k papers since report it (MultEval): both
    sides lowercased, punctuation normalised and tokenised by Moses's rules for ``lang``, then BLEU over
    those tokens, unsmoothed. It scores the same output higher than sacreBLEU's cased 13a figure (no case
    errors; French elisions split off: ``l' homme``), so compare it only with figures made the same way.
    None when sacremoses (the maintained Python port of the Moses scripts) is not installed."""
    try:
        from sacremoses import MosesPunctNormalizer, MosesTokenizer
    except ImportError:
        return None
    from sacrebleu.metrics import BLEU

    normalizer, tokenizer = MosesPunctNormalizer(lang=lang), MosesTokenizer(lang=lang)

    def moses(text: str) -> str:
        return tokenizer.tokenize(normalizer.normalize(text.lower()), escape=False, return_str=True)

    bleu = BLEU(tokenize="none", smooth_method="none", force=True)  # already tokenised: sacreBLEU must not re-split
    score = bleu.corpus_score([moses(h) for h in hypotheses], [[moses(r) for r in references]])
    return score.score, f"lc+moses-punct+moses-tok:{lang}|{bleu.get_signature()}"


def read_test_pairs(translator: Translator, data: str | Path | ParallelFiles) -> list[Pair]:
    """A test set: one pair file (TSV, or .jsonl read by the run's languages), or parallel source and reference files."""
    if isinstance(data, ParallelFiles):
        return read_parallel(data.source, data.target)
    return read_pairs(data, (translator.config.data.source_lang, translator.config.data.target_lang))


def _source_tokens(translator: Translator, pair: Pair, where: str | Path) -> list[str]:
    """A test sentence as the model reads it; one too long (or empty) is an error naming its file and line:
    a test set is scored whole, never cropped, or its score would quietly change."""
    try:
        return translator.tokens(pair.source)
    except DataError as exc:
        raise DataError(f"{where}:{pair.line}: {exc}") from None


def evaluate(
    translator: Translator, data: str | Path | ParallelFiles, alignments: str | Path | None = None, lang: str | None = None,
    *, attribution: str | None = None, ig_steps: int = 32, limit: int | None = None,
) -> tuple[EvaluationReport, list[str]]:
    """Translate a test set's sources, score them against its references; also alignments when given.
    ``lang``: the references' language for the WMT-recipe BLEU (default: data.target_lang, else en).
    ``attribution``: also read alignments from that attribution method (attribution.py), beside attention's.
    ``limit``: score only the first N pairs, every figure alike (BLEU too), so they describe one set."""
    if attribution is not None:
        check_method(attribution)
        require_captum()  # before any decoding: a missing extra is one line, not a late traceback
    pairs = read_test_pairs(translator, data)
    total, pairs = len(pairs), _first(pairs, limit)
    sources, references = [p.source for p in pairs], [p.target for p in pairs]
    where = data.source if isinstance(data, ParallelFiles) else data
    tokenised = [_source_tokens(translator, pair, where) for pair in pairs]
    start = time.perf_counter()
    translations = [candidates[0] for candidates in translator.translate_tokens(tokenised)]
    elapsed = time.perf_counter() - start
    hypotheses = [t.text for t in translations]
    lowercase = translator.config.data.lowercase
    reference_tokens = [translator.tgt_tokenizer.tokens(r) for r in references]
    exact = sum(t.output == r for t, r in zip(translations, reference_tokens)) / len(pairs)
    bleu, bleu_signature, chrf, chrf_signature = corpus_scores(hypotheses, references, lowercase)
    readings = translator.read_references(sources, references)
    accuracy = sum(r.correct for r in readings) / sum(r.words for r in readings)
    decode = translator.config.decode
    report = EvaluationReport(
        sentences=len(pairs), bleu=round(bleu, 2), bleu_signature=bleu_signature, chrf=round(chrf, 2),
        chrf_signature=chrf_signature, exact_match=round(exact, 4), token_accuracy=round(accuracy, 4),
        sentences_per_s=round(len(pairs) / elapsed, 1),
        decode={"beam_size": decode.beam_size, "length_penalty": decode.length_penalty},
    )
    wmt = wmt_bleu(hypotheses, references, lang or translator.config.data.target_lang or "en")
    if wmt is not None:
        report.wmt_bleu, report.wmt_signature = round(wmt[0], 2), wmt[1]
    if alignments is not None or attribution is not None:
        gold = read_alignments(alignments, total)[: len(pairs)] if alignments is not None else None
        report.alignment = alignment_report(translator, pairs, readings, where, gold, attribution, ig_steps)
        if gold is not None:
            scores = report.alignment["attention"]
            report.alignment_agreement, report.aer = scores["agreement_with_gold"], scores["aer"]
    return report, hypotheses


def _first(pairs: list[Pair], limit: int | None) -> list[Pair]:
    """The first ``limit`` pairs; a limit that leaves the whole set is an error, as it would do nothing."""
    if limit is None:
        return pairs
    if limit < 1 or limit >= len(pairs):
        raise S2SError(f"--limit {limit}: the test set has {len(pairs)} pairs; give 1 to {len(pairs) - 1}, or no --limit")
    return pairs[:limit]


def alignment_report(
    translator: Translator, pairs: Sequence[Pair], readings: Sequence[ReferenceReading], where: str | Path,
    gold: Sequence[Alignment] | None, method: str | None, steps: int = 32,
) -> dict:
    """Word alignment read from attention and, with ``method``, from |attribution|: each target word linked to
    its top source word. Against gold: agreement and AER per reader; always: how often the two readers agree."""
    attention = [word_attention(translator, pair, r.attention, where) for pair, r in zip(pairs, readings)]
    result: dict = {}
    if gold is not None:
        result["attention"] = _scored(attention, gold)
    if method is None:
        return result
    attributions = attribute_references(translator, pairs, method, steps)
    words = [word_attention(translator, pair, a.scores.abs(), where) for pair, a in zip(pairs, attributions)]
    if gold is not None:
        result[method] = _scored(words, gold)
    result["top_word_agreement"] = round(top_word_agreement(attention, words), 4)
    if method == "ig":
        result["ig_delta"] = float(f"{max((a.delta or 0.0 for a in attributions), default=0.0):.3g}")
    return result


def _scored(weights: Sequence[torch.Tensor], gold: Sequence[Alignment]) -> dict:
    agreement, aer = alignment_scores(weights, gold)
    return {"aer": round(aer, 4), "agreement_with_gold": round(agreement, 4)}


def attribute_references(translator: Translator, pairs: Sequence[Pair], method: str, steps: int = 32) -> list[Attribution]:
    """Each reference attributed to its source, teacher-forced as ``read_references`` reads it (gold links
    describe the reference, not the model's own translation); one row per reference token, no ``<eos>``."""
    attributor = Attributor(translator.model, method, steps)
    encode_source, encode_target = translator.src_vocab.encode, translator.tgt_vocab.encode
    return [
        attributor.attribute(encode_source(translator.tokens(p.source)), encode_target(translator.tgt_tokenizer.tokens(p.target)))
        for p in pairs
    ]


def top_word_agreement(first: Sequence[torch.Tensor], second: Sequence[torch.Tensor]) -> float:
    """Share of target words (rows, over all sentences) whose top source word is the same in both matrices."""
    same = total = 0
    for a, b in zip(first, second):
        same += int((a.argmax(dim=1) == b.argmax(dim=1)).sum()) if len(a) else 0
        total += len(a)
    return same / total if total else 0.0
