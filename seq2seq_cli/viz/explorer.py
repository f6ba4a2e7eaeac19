"""What the attention explorer shows, gathered into one JSON-ready document.

Translations, their beams, every head of every layer, a Transformer's self-attention, gold
alignments and several runs side by side; or the probe sentences a run followed while it trained.
Everything comes through ``Translator`` (the one decode path), so the page shows exactly the
attention ``s2s translate --json`` prints. ``page.py`` turns the document into one HTML file.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from seq2seq_cli import runs
from seq2seq_cli.data.alignments import Alignment
from seq2seq_cli.data.corpora import Pair
from seq2seq_cli.data.tokenizers import merge_attention, merge_pieces
from seq2seq_cli.decoding.attribution import Attribution, Attributor
from seq2seq_cli.decoding.translator import Translation, Translator
from seq2seq_cli.errors import RunError
from seq2seq_cli.evaluation import alignment_scores, word_attention
from seq2seq_cli.models.attention import attention_map
from seq2seq_cli.viz.maps import SCALE, encode_map, encode_maps

FORMAT = "s2s-attention/1"


@dataclass
class Run:
    """A run to show: its name on the page, and its model ready to decode."""

    name: str
    translator: Translator

    @classmethod
    def load(cls, run_dir: Path, name: str, device: str = "cpu", **decoding) -> Run:
        return cls(name, Translator.from_run(run_dir, device=device).with_decoding(**decoding))


@dataclass
class Explaining:
    """Attribution to show beside attention: the method (grad, ig, occlusion), integrated gradients'
    steps, and where to say that it runs on the CPU instead of cuDNN."""

    method: str
    steps: int = 32
    note: Callable[[str], None] | None = None


def run_names(run_dirs: Sequence[Path]) -> list[str]:
    """Folder names, or whole paths where two runs share a name."""
    names = [d.name for d in run_dirs]
    return [str(d) if names.count(d.name) > 1 else d.name for d in run_dirs]


def describe_run(run: Run) -> dict:
    """The page's heading for a run: its name, what model it is, how its attention is laid out."""
    model = run.translator.config.model
    if model.type == "transformer":
        kind, layers, heads = "transformer", model.layers, model.heads
        what = f"Transformer, {layers} layers × {heads} heads"
    else:
        kind = "multihead" if model.attention == "multihead" else "single"
        layers, heads = 1, model.heads if kind == "multihead" else 1
        what = f"GRU, {model.attention} attention" + (f", {heads} heads" if kind == "multihead" else "")
    decode = run.translator.config.decode
    search = "greedy" if decode.beam_size == 1 else f"beam {decode.beam_size}"
    return {"name": run.name, "describe": f"{what}; {search}", "kind": kind, "layers": layers, "heads": heads}


def translations_document(
    runs_to_show: Sequence[Run],
    sources: Sequence[str],
    pieces: bool = False,
    references: Sequence[Pair] | None = None,
    gold: Sequence[Alignment] | None = None,
    title: str = "",
    data: str | Path = "input",
    explaining: Explaining | None = None,
    tree: bool = False,
) -> dict:
    """Each sentence as every run translates it (n-best as its decode settings say), with gold
    alignments over the reference's teacher-forced reading when ``references`` and ``gold`` are given
    (``data`` names their file in errors); with ``explaining``, each hypothesis's attribution beside its
    attention; with ``tree``, each sentence's beam search as a tree."""
    shown = _Shown(pieces, explaining, tree, data)
    views_per_run = [_run_views(run, sources, shown, references, gold) for run in runs_to_show]
    sentences = [
        {"source": source, "views": [views[index] for views in views_per_run]} for index, source in enumerate(sources)
    ]
    return {
        "format": FORMAT,
        "title": title or "s2s attention",
        "runs": [describe_run(run) for run in runs_to_show],
        "sentences": sentences,
        "training": None,
    }


@dataclass
class _Shown:
    """What every view of a document holds beyond attention (``translations_document``'s options)."""

    pieces: bool
    explaining: Explaining | None
    tree: bool
    data: str | Path


def _run_views(run: Run, sources, shown: _Shown, references, gold) -> list[dict]:
    translator = run.translator
    explaining = shown.explaining
    attributor = Attributor(translator.model, explaining.method, explaining.steps, explaining.note) if explaining else None
    if shown.tree:  # the search that draws the tree also gives the translations, so both always agree
        tokenised = [translator.tokens(source) for source in sources]
        searched = [translator.search_tree(tokens) for tokens in tokenised]
        candidates = [found for found, _ in searched]
    else:
        candidates = translator.translate_nbest(sources)
    views = [_view(translator, found, shown.pieces, attributor) for found in candidates]
    if shown.tree:
        from seq2seq_cli.viz.beam_tree import tree_document

        for view, tokens, (found, nodes) in zip(views, tokenised, searched):
            view["search_tree"] = tree_document(translator, tokens, nodes, found[0])
    if references is not None and gold is not None:
        readings = translator.read_references([p.source for p in references], [p.target for p in references])
        for view, pair, reading, links in zip(views, references, readings, gold):
            reference = _reference_hypothesis(translator, pair, reading.weights, links, shown.data, attributor)
            view["hypotheses"].append(reference)
    return views


def _view(translator: Translator, candidates: list[Translation], pieces: bool, attributor: Attributor | None) -> dict:
    """One run's translations of one sentence, best first."""
    if attributor is not None:
        candidates = [replace(t, attribution=attributor.attribute(translator.src_vocab.encode(t.source), t.ids))
                      for t in candidates]
    best = candidates[0] if pieces else candidates[0].by_words()
    encoder, decoders = translator.self_attention(candidates) or (None, [None] * len(candidates))
    if encoder is not None and not pieces:
        columns = candidates[0].source_words
        encoder = merge_attention(encoder.permute(2, 0, 1, 3), columns, columns).permute(1, 2, 0, 3)
    return {
        "source_tokens": best.source,
        "unknown": best.unknown,
        "encoder_self": _per_head(encoder) if encoder is not None else None,
        "hypotheses": [
            _hypothesis(str(rank), t, own, pieces) for rank, (t, own) in enumerate(zip(candidates, decoders), 1)
        ],
    }


def _per_head(weights: torch.Tensor) -> list[list[dict]]:
    """(layers, heads, rows, cols) -> one map per head of each layer."""
    return [[encode_map(head) for head in layer] for layer in weights]


def _hypothesis(label: str, translation: Translation, decoder_self: torch.Tensor | None, pieces: bool) -> dict:
    inputs = ["<s>", *translation.steps[:-1]]  # what the decoder read at each step
    if not pieces:
        if decoder_self is not None:
            decoder_self, inputs = _decoder_self_by_words(translation, decoder_self)
        translation = translation.by_words()
    return {
        "label": label,
        "text": translation.text,
        "tokens": translation.steps,
        "score": round(translation.score, 4),
        "cross": encode_maps(translation.attention),
        "decoder_self": _per_head(decoder_self) if decoder_self is not None else None,
        "decoder_inputs": inputs if decoder_self is not None else None,
        "gold": None,
        "aer": None,
        **(_attribution_keys(translation.attribution, translation.attention_map()[: len(translation.output)])
           if translation.attribution is not None else {}),
    }


def _attribution_keys(attribution: Attribution, attention: torch.Tensor) -> dict:
    """The page's keys for a hypothesis's attribution: its signed map, its method, integrated gradients'
    convergence delta, and how often attention's top source word is attribution's (over the output words)."""
    keys = {
        "attribution": encode_signed(attribution.scores),
        "attribution_method": attribution.method,
        "agreement": {"top_match": top_match(attention, attribution.scores[: attention.size(0)])},
    }
    if attribution.delta is not None:
        keys["ig_delta"] = round(attribution.delta, 4)
    return keys


def top_match(attention: torch.Tensor, scores: torch.Tensor) -> float | None:
    """The share of rows (output words) whose most attended source word is also the one with the
    largest |attribution|; None with no rows."""
    if attention.size(0) == 0:
        return None
    same = attention.argmax(dim=-1) == scores.abs().argmax(dim=-1)
    return round(float(same.double().mean()), 4)


def encode_signed(scores: torch.Tensor) -> dict:
    """A signed (rows, cols) map as ``encode_map`` stores weights, but int16: each score over ``bound`` (the
    largest magnitude, to 4 significant digits) times 10000, so the page gets 4 digits of every score."""
    bound = float(f"{float(scores.abs().max()) if scores.numel() else 0.0:.4g}") or 1.0
    values = (scores.double() / bound * SCALE).round().clamp(-32767, 32767).to(torch.int32).numpy().astype("<i2")
    return {"shape": list(scores.shape), "b64": base64.b64encode(values.tobytes()).decode("ascii"), "bound": bound,
            "signed": True}


def decode_signed(record: dict) -> torch.Tensor:
    """The scores an ``encode_signed`` record holds, (rows, cols)."""
    import numpy

    values = numpy.frombuffer(base64.b64decode(record["b64"]), dtype="<i2").astype("float64") / SCALE * record["bound"]
    return torch.from_numpy(values.reshape(record["shape"]))


def _decoder_self_by_words(translation: Translation, weights: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
    """Decoder self-attention between words: rows are output words (and ``<eos>``), columns the
    words read, ``<s>`` first; weights: (layers, heads, steps, steps)."""
    steps = weights.size(-1)
    columns = [[0]] + [[p + 1 for p in group if p + 1 < steps] for group in translation.output_words]
    columns = [group for group in columns if group]
    merged = merge_attention(weights.permute(2, 0, 1, 3), translation.output_words, columns).permute(1, 2, 0, 3)
    labels = ["<s>", *merge_pieces(translation.output, translation.output_words)][: len(columns)]
    return merged, labels


def _reference_hypothesis(translator: Translator, pair: Pair, weights: torch.Tensor, links: Alignment, data,
                          attributor: Attributor | None = None) -> dict:
    """The model reading the reference (teacher-forced) in word units, with the gold links and this sentence's AER
    (with ``attributor``: of attention and of |attribution| both)."""
    merged = word_attention(translator, pair, weights, data)  # (target words, [layers, heads,] source words)
    tokens = translator.tgt_tokenizer.tokens(pair.target)
    labels = merge_pieces(tokens, translator.tgt_tokenizer.word_tokens(pair.target, tokens))
    source_tokens = translator.tokens(pair.source)
    columns = merge_pieces(source_tokens, translator.src_tokenizer.word_tokens(pair.source, source_tokens))
    _, aer = alignment_scores([attention_map(merged)], [links])
    return {
        "label": "reference (teacher-forced)",
        "text": pair.target,
        "tokens": labels,
        "source_tokens": columns,  # gold links count in these word units
        "score": None,
        "cross": encode_maps(merged),
        "decoder_self": None,
        "decoder_inputs": None,
        "gold": sorted([s, t] for s, t in links),
        "aer": round(aer, 4),
        **(_reference_attribution(translator, pair, attention_map(merged), links, data, attributor)
           if attributor is not None else {}),
    }


def _reference_attribution(translator: Translator, pair: Pair, attention: torch.Tensor, links: Alignment, data,
                           attributor: Attributor) -> dict:
    """The reference's attribution in word units, with the AER of attention and of |attribution| against gold."""
    target_ids = translator.tgt_vocab.encode(translator.tgt_tokenizer.tokens(pair.target))
    attribution = attributor.attribute(translator.src_vocab.encode(translator.tokens(pair.source)), target_ids)
    scores = word_attention(translator, pair, attribution.scores, data)  # (target words, source words)
    keys = _attribution_keys(replace(attribution, scores=scores), attention)
    _, aer_attention = alignment_scores([attention], [links])
    _, aer_attribution = alignment_scores([scores.abs()], [links])
    keys["agreement"].update(aer_attention=round(aer_attention, 4), aer_attribution=round(aer_attribution, 4))
    return keys


def training_document(run_dir: Path, name: str, title: str = "") -> dict:
    """The probe sentences' attention at every validation of a run, with the step, loss and BLEU of each."""
    from seq2seq_cli.viz.probes import read_probes

    records = read_probes(run_dir)
    if not records:
        raise RunError(
            f"{run_dir}: no probe attention kept ({runs.PROBES} missing or empty): the run was trained before s2s "
            "kept it, or with train.probes=0 and no train.probe_sentences; train it again to watch it learn"
        )
    metrics = {record["step"]: record for record in runs.read_metrics(run_dir)}
    validations = [
        {"step": r["step"], "val_loss": metrics.get(r["step"], {}).get("val_loss"),
         "val_bleu": metrics.get(r["step"], {}).get("val_bleu")}
        for r in records
    ]
    first = records[0]["probes"]
    probes = [
        {"source": probe["source"], "source_tokens": probe["source_tokens"],
         "frames": [{key: r["probes"][index][key] for key in ("tokens", "text", "cross")} for r in records]}
        for index, probe in enumerate(first)
    ]
    return {
        "format": FORMAT,
        "title": title or f"{name}: attention while it learns",
        "runs": [],
        "sentences": [],
        "training": {"run": name, "validations": validations, "probes": probes},
    }
