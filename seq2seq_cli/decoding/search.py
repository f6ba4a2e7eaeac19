"""Search written once against the decoder step interface, for every model type.

``greedy_search`` is batched: every sentence of the batch advances one word per step, and a
sentence stops at ``<eos>`` or at its own length limit, so a sentence decodes the same alone
or inside a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from seq2seq_cli.data.text import Vocab

# Ids a search must never emit: padding and the start symbol.
NEVER_PREDICTED = [Vocab.PAD, Vocab.SOS]


@dataclass
class Hypothesis:
    """One output sentence: ids (ending in ``<eos>`` when finished), its score, attention.

    ``score`` is what search ranks by: the log-probability, divided by the length penalty under beam
    search; ``log_prob`` is the model's own log-probability (Moses n-best lists print both).
    """

    tokens: list[int]
    score: float
    attention: torch.Tensor  # (len(tokens), src_len), or (len(tokens), layers, heads, src_len) for multi-head models
    log_prob: float | None = None  # None: the same as score

    def __post_init__(self) -> None:
        if self.log_prob is None:
            self.log_prob = self.score


def max_output_lengths(src_lengths: torch.Tensor, ratio: float, extra: int) -> torch.Tensor:
    """Each sentence's output limit, relative to its input: ratio * length + extra (at least 1)."""
    return (src_lengths.float() * ratio).long().add(extra).clamp(min=1)


def forced_ids(prefixes: Sequence[Sequence[int]] | None, rows: int, device: torch.device) -> torch.Tensor | None:
    """Each sentence's forced first words as one (rows, longest prefix) tensor, -1 where a sentence's own
    prefix has ended; None when no sentence has one."""
    if not prefixes or not any(prefixes):
        return None
    forced = torch.full((rows, max(len(p) for p in prefixes)), -1, dtype=torch.long)
    for row, prefix in enumerate(prefixes):
        forced[row, : len(prefix)] = torch.tensor(list(prefix), dtype=torch.long)
    return forced.to(device)


def _force(log_probs: torch.Tensor, forced: torch.Tensor | None, step: int) -> None:
    """Rows still inside their prefix may only take the forced word (its own log-probability kept).
    log_probs: (rows, vocab); forced: (rows, prefix steps)."""
    if forced is None or step >= forced.size(1):
        return
    want = forced[:, step]  # (rows,)
    rows = (want >= 0).nonzero().squeeze(1)
    if len(rows):
        kept = log_probs[rows, want[rows]]
        log_probs[rows] = float("-inf")
        log_probs[rows, want[rows]] = kept


def fit_limits(max_lengths: torch.Tensor, forced: torch.Tensor | None) -> torch.Tensor:
    """Length limits that leave room for each forced prefix and at least one word after it."""
    if forced is None:
        return max_lengths
    return torch.maximum(max_lengths, (forced >= 0).sum(1).to(max_lengths.device) + 1)


@torch.inference_mode()
def greedy_search(model, src: torch.Tensor, src_lengths: torch.Tensor, max_lengths: torch.Tensor,
                  prefixes: Sequence[Sequence[int]] | None = None) -> list[Hypothesis]:
    """The most probable word at every step, for a whole batch at once; a sentence's ``prefixes`` entry
    (target ids) is forced first, and the search goes on from there.

    src: (batch, src_len); src_lengths, max_lengths: (batch,).
    """
    forced = forced_ids(prefixes, src.size(0), src.device)
    max_lengths = fit_limits(max_lengths, forced)
    memory, state = model.encode(src, src_lengths)
    batch = src.size(0)
    prev = torch.full((batch,), Vocab.SOS, dtype=torch.long, device=src.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=src.device)
    scores = torch.zeros(batch, device=src.device)
    lengths = torch.zeros(batch, dtype=torch.long, device=src.device)
    max_lengths = max_lengths.to(src.device)
    tokens, attention = [], []
    for step in range(int(max_lengths.max())):
        log_probs, weights, state = model.decoder.step(prev, state, memory)
        log_probs[:, NEVER_PREDICTED] = float("-inf")
        _force(log_probs, forced, step)
        best_score, prev = log_probs.max(dim=-1)  # (batch,)
        scores += best_score.masked_fill(finished, 0.0)
        tokens.append(prev.masked_fill(finished, Vocab.PAD))
        attention.append(weights)
        lengths += (~finished).long()
        finished |= (prev == Vocab.EOS) | (max_lengths <= step + 1)
        if bool(finished.all()):
            break
    return _hypotheses(torch.stack(tokens, 1), lengths, scores, torch.stack(attention, 1), src_lengths)


def _hypotheses(
    tokens: torch.Tensor, lengths: torch.Tensor, scores: torch.Tensor, attention: torch.Tensor, src_lengths: torch.Tensor
) -> list[Hypothesis]:
    """Each row cut to its own output length, its attention cut to its own source."""
    tokens, attention = tokens.cpu(), attention.float().cpu()
    return [
        Hypothesis(tokens[row, :length].tolist(), float(scores[row]), attention[row, :length, ..., :src_len])
        for row, (length, src_len) in enumerate(zip(lengths.tolist(), src_lengths.tolist()))
    ]


def length_penalty(length: torch.Tensor | int, alpha: float) -> torch.Tensor | float:
    """GNMT's ((5 + length) / 6) ** alpha: alpha 0 compares raw log-probabilities."""
    return ((5.0 + length) / 6.0) ** alpha


@dataclass
class _Finished:
    normalized: float
    hypothesis: Hypothesis


@dataclass
class _Beams:
    """Every live sentence's ``k`` hypotheses, searched as one batch of ``live * k`` rows."""

    live: torch.Tensor  # (live,) -> the sentence it is in ``src``
    scores: torch.Tensor  # (live, k) log-probabilities so far; -inf for an empty slot
    max_lengths: torch.Tensor  # (live,)
    best_possible_lp: torch.Tensor  # (live,) the largest length penalty each sentence can still reach
    prev: torch.Tensor  # (live * k,) each hypothesis's last word
    history: torch.Tensor  # (live * k, steps) each hypothesis's words
    attention: torch.Tensor | None  # (live * k, steps, ..., src_len) once the first step is taken
    memory: Any  # the encoder's output, k rows per sentence (the model's ``select``-able memory)
    state: Any  # the decoder's state, k rows per sentence (reordered by ``decoder.reorder_state``)
    forced: torch.Tensor | None = None  # (live * k, prefix steps) forced words, -1 past a sentence's prefix
    trace: SearchTrace | None = None  # the tree of what was kept and pruned, when asked for


@dataclass
class TreeNode:
    """One hypothesis the beam considered at one step: kept, pruned, or ended (``<eos>`` or the length limit)."""

    parent: int  # the node it extends, in its sentence's list; -1: the start (``<s>``)
    step: int
    token: int
    log_prob: float  # of the whole prefix ending here
    kept: bool  # False: pruned here (it ranked below the beam)
    attention: list[float]  # (src_len,): where this step looked (multi-head: the last layer's heads averaged)


def _one_map(weights: torch.Tensor) -> torch.Tensor:
    """One step's weights as one row, (src_len,): multi-head (layers, heads, src_len) gives the last layer's
    heads averaged, as heatmaps show by default."""
    return weights if weights.dim() == 1 else weights[-1].mean(dim=0)


class SearchTrace:
    """What beam search did, sentence by sentence: every kept hypothesis of every step and as many of
    the best pruned ones, linked to their parents, so a page can draw the search as a tree."""

    def __init__(self, src_lengths: Sequence[int], beam_size: int):
        self.src_lengths = list(src_lengths)
        self.nodes: list[list[TreeNode]] = [[] for _ in self.src_lengths]
        self._slots = [[-1] * beam_size for _ in self.src_lengths]  # each beam slot's node, per sentence

    def record(self, sentence: int, step: int, choices: list[tuple[int, int, float]], keep: int,
               attention: torch.Tensor) -> None:
        """choices: (parent slot, token, log-prob) best first, the first ``keep`` kept; attention: (k, ..., src_len)."""
        slots, nodes = self._slots[sentence], self.nodes[sentence]
        kept = []
        for rank, (slot, token, log_prob) in enumerate(choices):
            if log_prob == float("-inf"):
                continue
            weights = _one_map(attention[slot])[: self.src_lengths[sentence]] if rank < keep else torch.zeros(0)
            nodes.append(TreeNode(slots[slot], step, token, log_prob, rank < keep, [round(w, 4) for w in weights.tolist()]))
            if rank < keep:
                kept.append(len(nodes) - 1)
        self._slots[sentence] = kept + [-1] * (len(slots) - len(kept))


@torch.inference_mode()
def beam_search(
    model,
    src: torch.Tensor,
    src_lengths: torch.Tensor,
    max_lengths: torch.Tensor,
    beam_size: int,
    alpha: float = 0.0,
    n_best: int = 1,
    prefixes: Sequence[Sequence[int]] | None = None,
    trace: SearchTrace | None = None,
) -> list[list[Hypothesis]]:
    """The ``n_best`` highest-scoring outputs per sentence, all sentences' beams in one tensor.

    Each step keeps the top ``beam_size`` continuations of a sentence; one that ends in
    ``<eos>`` (or reaches the length limit) leaves the beam for the finished list, and its slot
    dies. A sentence is done when no live hypothesis can still beat its ``n_best``-th finished
    one under the length penalty, so a longer hypothesis can overtake a short one; a done
    sentence leaves the batch, so the next steps only compute for sentences still searching.
    With ``beam_size`` 1 this is exactly greedy search. Scores are length-penalised log-probabilities.
    A sentence's ``prefixes`` entry (target ids) is forced first; ``trace`` records the search as a tree.
    """
    k = beam_size
    forced = forced_ids(prefixes, src.size(0), src.device)
    beams = _start_beams(model, src, src_lengths, max_lengths.to(src.device), k, alpha, forced)
    beams.trace = trace
    finished: list[list[_Finished]] = [[] for _ in range(src.size(0))]
    src_lens = src_lengths.tolist()
    for step in range(int(beams.max_lengths.max())):
        ended = _advance(model, beams, k, step)  # (live, k)
        live_ids = beams.live.tolist()
        _collect(finished, live_ids, ended, beams.scores, beams.history, beams.attention, src_lens, step + 1, alpha)
        beams.scores = beams.scores.masked_fill(ended, float("-inf"))
        done = _sentences_done([finished[i] for i in live_ids], beams.scores, beams.best_possible_lp, n_best)
        if bool(done.all()):
            break
        if bool(done.any()):
            _drop_done(model, beams, done, k)
    return [[f.hypothesis for f in sorted(found, key=lambda f: -f.normalized)[:n_best]] for found in finished]


def _start_beams(model, src: torch.Tensor, src_lengths: torch.Tensor, max_lengths: torch.Tensor, k: int,
                 alpha: float, forced: torch.Tensor | None) -> _Beams:
    """The source encoded once and repeated ``k`` times; every beam starts as one hypothesis, ``<sos>``."""
    batch, device = src.size(0), src.device
    memory, state = model.encode(src, src_lengths)
    rows = torch.arange(batch, device=device).repeat_interleave(k)  # each sentence k times
    max_lengths = fit_limits(max_lengths, forced)
    scores = torch.full((batch, k), float("-inf"), device=device)
    scores[:, 0] = 0.0  # every beam starts as one hypothesis
    return _Beams(
        live=torch.arange(batch, device=device),
        scores=scores,
        max_lengths=max_lengths,
        best_possible_lp=length_penalty(max_lengths.float(), alpha),
        prev=torch.full((batch * k,), Vocab.SOS, dtype=torch.long, device=device),
        history=torch.empty((batch * k, 0), dtype=torch.long, device=device),
        attention=None,
        memory=memory.select(rows),
        state=model.decoder.reorder_state(state, rows),
        forced=None if forced is None else forced.index_select(0, rows),
    )


def _advance(model, beams: _Beams, k: int, step: int) -> torch.Tensor:
    """One decoder step: each sentence keeps its top ``k`` continuations. Returns (live, k) bool:
    the hypotheses that just ended (``<eos>`` or the length limit), while their scores are still finite."""
    log_probs, weights, beams.state = model.decoder.step(beams.prev, beams.state, beams.memory)
    log_probs[:, NEVER_PREDICTED] = float("-inf")
    _force(log_probs, beams.forced, step)
    n, vocab = beams.scores.size(0), log_probs.size(-1)
    candidates = beams.scores.unsqueeze(-1) + log_probs.view(n, k, vocab)  # (live, k, vocab)
    if beams.trace is not None:
        _trace_step(beams, candidates, weights, k, step)
    beams.scores, choice = candidates.view(n, -1).topk(k, dim=-1)  # (live, k)
    origin = (choice // vocab + torch.arange(n, device=choice.device).unsqueeze(1) * k).view(-1)  # (live * k,) parent rows
    beams.prev = (choice % vocab).view(-1)
    beams.history = torch.cat([beams.history.index_select(0, origin), beams.prev.unsqueeze(1)], dim=1)
    chosen = weights.index_select(0, origin).unsqueeze(1)
    beams.attention = chosen if beams.attention is None else torch.cat([beams.attention.index_select(0, origin), chosen], dim=1)
    beams.state = model.decoder.reorder_state(beams.state, origin)
    ended = (beams.prev.view(n, k) == Vocab.EOS) | (beams.max_lengths.unsqueeze(1) <= step + 1)
    return ended & beams.scores.isfinite()


def _drop_done(model, beams: _Beams, done: torch.Tensor, k: int) -> None:
    """Done sentences leave the batch: the next steps compute only for the rest. done: (live,) bool."""
    keep = (~done).nonzero().squeeze(1)  # (live',)
    rows = (keep.unsqueeze(1) * k + torch.arange(k, device=keep.device)).view(-1)  # (live' * k,)
    beams.live, beams.scores, beams.max_lengths, beams.best_possible_lp = (
        t[keep] for t in (beams.live, beams.scores, beams.max_lengths, beams.best_possible_lp))
    beams.prev, beams.history, beams.attention = (t.index_select(0, rows) for t in (beams.prev, beams.history, beams.attention))
    if beams.forced is not None:
        beams.forced = beams.forced.index_select(0, rows)
    beams.memory, beams.state = beams.memory.select(rows), model.decoder.reorder_state(beams.state, rows)


def _trace_step(beams: _Beams, candidates: torch.Tensor, weights: torch.Tensor, k: int, step: int) -> None:
    """Record each live sentence's best ``2k`` continuations: the first ``k`` are the beam's next step.
    candidates: (live, k, vocab); weights: (live * k, ..., src_len), this step's attention per slot."""
    vocab = candidates.size(-1)
    scores, choice = candidates.view(candidates.size(0), -1).topk(min(2 * k, k * vocab), dim=-1)  # (live, 2k)
    weights = weights.float().cpu()
    for position, sentence in enumerate(beams.live.tolist()):
        choices = [(c // vocab, c % vocab, score) for c, score in zip(choice[position].tolist(), scores[position].tolist())]
        beams.trace.record(sentence, step, choices, k, weights[position * k : (position + 1) * k])


def _collect(
    finished, live: list[int], ended, scores, history, attention, src_lens: list[int], length: int, alpha: float
) -> None:
    """Move hypotheses that just ended into their sentence's finished list (one host copy for all)."""
    where = ended.nonzero()  # (ended, 2): live sentence, slot
    if not len(where):
        return
    rows = where[:, 0] * ended.size(1) + where[:, 1]
    penalty = length_penalty(length, alpha)
    log_probs = scores[ended].tolist()
    tokens = history.index_select(0, rows).tolist()
    maps = attention.index_select(0, rows).float().cpu()
    for (position, _), ids, log_prob, weights in zip(where.tolist(), tokens, log_probs, maps):
        sentence, score = live[position], log_prob / penalty
        hypothesis = Hypothesis(ids, score, weights[..., : src_lens[sentence]], log_prob)
        finished[sentence].append(_Finished(score, hypothesis))


def _sentences_done(finished, scores: torch.Tensor, best_possible_lp: torch.Tensor, n_best: int) -> torch.Tensor:
    """A sentence is done when no live hypothesis can beat its n-best-th finished one.

    Log-probabilities only fall as words are added, so a live hypothesis's best possible final
    score is its current score under the largest length penalty it could still reach.
    """
    best_live = scores.max(dim=1).values / best_possible_lp  # (live,)
    threshold = torch.tensor(
        [sorted((f.normalized for f in found), reverse=True)[n_best - 1] if len(found) >= n_best else float("-inf")
         for found in finished],
        device=scores.device,
    )
    no_live = ~scores.isfinite().any(dim=1)
    return no_live | ((threshold > float("-inf")) & (best_live <= threshold))


def search(
    model, src: torch.Tensor, src_lengths: torch.Tensor, max_lengths: torch.Tensor,
    beam_size: int = 1, alpha: float = 0.0, n_best: int = 1,
    prefixes: Sequence[Sequence[int]] | None = None, trace: SearchTrace | None = None,
) -> list[list[Hypothesis]]:
    """The one entry point every caller uses: greedy for a beam of one, beam search otherwise (or when
    ``trace`` asks for the search's tree: a beam of one is greedy search, step for step)."""
    if beam_size == 1 and n_best == 1 and trace is None:
        return [[hypothesis] for hypothesis in greedy_search(model, src, src_lengths, max_lengths, prefixes)]
    return beam_search(model, src, src_lengths, max_lengths, max(beam_size, n_best), alpha, n_best, prefixes, trace)
