"""Search written once against the decoder step interface, for every model type.

``greedy_search`` is batched: every sentence of the batch advances one word per step, and a
sentence stops at ``<eos>`` or at its own length limit, so a sentence decodes the same alone
or inside a batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seq2seq_cli.data.text import Vocab

# Ids a search must never emit: padding and the start symbol.
NEVER_PREDICTED = [Vocab.PAD, Vocab.SOS]


@dataclass
class Hypothesis:
    """One output sentence: ids (ending in ``<eos>`` when finished), log-probability, attention."""

    tokens: list[int]
    score: float
    attention: torch.Tensor  # (len(tokens), src_len), or (len(tokens), layers, heads, src_len) for multi-head models


def max_output_lengths(src_lengths: torch.Tensor, ratio: float, extra: int) -> torch.Tensor:
    """Each sentence's output limit, relative to its input: ratio * length + extra (at least 1)."""
    return (src_lengths.float() * ratio).long().add(extra).clamp(min=1)


@torch.inference_mode()
def greedy_search(model, src: torch.Tensor, src_lengths: torch.Tensor, max_lengths: torch.Tensor) -> list[Hypothesis]:
    """The most probable word at every step, for a whole batch at once.

    src: (batch, src_len); src_lengths, max_lengths: (batch,).
    """
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


@torch.inference_mode()
def beam_search(
    model,
    src: torch.Tensor,
    src_lengths: torch.Tensor,
    max_lengths: torch.Tensor,
    beam_size: int,
    alpha: float = 0.0,
    n_best: int = 1,
) -> list[list[Hypothesis]]:
    """The ``n_best`` highest-scoring outputs per sentence, all sentences' beams in one tensor.

    Each step keeps the top ``beam_size`` continuations of a sentence; one that ends in
    ``<eos>`` (or reaches the length limit) leaves the beam for the finished list, and its slot
    dies. A sentence is done when no live hypothesis can still beat its ``n_best``-th finished
    one under the length penalty, so a longer hypothesis can overtake a short one; a done
    sentence leaves the batch, so the next steps only compute for sentences still searching.
    With ``beam_size`` 1 this is exactly greedy search. Scores are length-penalised log-probabilities.
    """
    batch, k, device = src.size(0), beam_size, src.device
    memory, state = model.encode(src, src_lengths)
    rows = torch.arange(batch, device=device).repeat_interleave(k)  # each sentence k times
    memory, state = memory.select(rows), model.decoder.reorder_state(state, rows)
    live = torch.arange(batch, device=device)  # (live,) -> the sentence it is in ``src``
    max_lengths = max_lengths.to(device)
    best_possible_lp = length_penalty(max_lengths.float(), alpha)  # (live,)
    scores = torch.full((batch, k), float("-inf"), device=device)
    scores[:, 0] = 0.0  # every beam starts as one hypothesis
    prev = torch.full((batch * k,), Vocab.SOS, dtype=torch.long, device=device)
    history = torch.empty((batch * k, 0), dtype=torch.long, device=device)
    attention = None  # (live * k, steps, ..., src_len) once the first step is taken
    finished: list[list[_Finished]] = [[] for _ in range(batch)]
    src_lens = src_lengths.tolist()
    for step in range(int(max_lengths.max())):
        log_probs, weights, state = model.decoder.step(prev, state, memory)
        log_probs[:, NEVER_PREDICTED] = float("-inf")
        n, vocab = scores.size(0), log_probs.size(-1)
        candidates = scores.unsqueeze(-1) + log_probs.view(n, k, vocab)  # (live, k, vocab)
        scores, choice = candidates.view(n, -1).topk(k, dim=-1)  # (live, k)
        origin = (choice // vocab + torch.arange(n, device=device).unsqueeze(1) * k).view(-1)
        prev = (choice % vocab).view(-1)
        history = torch.cat([history.index_select(0, origin), prev.unsqueeze(1)], dim=1)
        chosen = weights.index_select(0, origin).unsqueeze(1)
        attention = chosen if attention is None else torch.cat([attention.index_select(0, origin), chosen], dim=1)
        state = model.decoder.reorder_state(state, origin)
        ended = ((prev.view(n, k) == Vocab.EOS) | (max_lengths.unsqueeze(1) <= step + 1)) & scores.isfinite()
        live_ids = live.tolist()
        _collect(finished, live_ids, ended, scores, history, attention, src_lens, step + 1, alpha)
        scores = scores.masked_fill(ended, float("-inf"))
        done = _sentences_done([finished[i] for i in live_ids], scores, best_possible_lp, n_best)
        if bool(done.all()):
            break
        if bool(done.any()):  # done sentences leave the batch
            keep = (~done).nonzero().squeeze(1)  # (live',)
            rows = (keep.unsqueeze(1) * k + torch.arange(k, device=device)).view(-1)
            live, scores, max_lengths, best_possible_lp = (t[keep] for t in (live, scores, max_lengths, best_possible_lp))
            prev, history, attention = (t.index_select(0, rows) for t in (prev, history, attention))
            memory, state = memory.select(rows), model.decoder.reorder_state(state, rows)
    return [[f.hypothesis for f in sorted(found, key=lambda f: -f.normalized)[:n_best]] for found in finished]


def _collect(
    finished, live: list[int], ended, scores, history, attention, src_lens: list[int], length: int, alpha: float
) -> None:
    """Move hypotheses that just ended into their sentence's finished list (one host copy for all)."""
    where = ended.nonzero()  # (ended, 2): live sentence, slot
    if not len(where):
        return
    rows = where[:, 0] * ended.size(1) + where[:, 1]
    penalty = length_penalty(length, alpha)
    normalized = [score / penalty for score in scores[ended].tolist()]
    tokens = history.index_select(0, rows).tolist()
    maps = attention.index_select(0, rows).float().cpu()
    for (position, _), ids, score, weights in zip(where.tolist(), tokens, normalized, maps):
        sentence = live[position]
        hypothesis = Hypothesis(ids, score, weights[..., : src_lens[sentence]])
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
) -> list[list[Hypothesis]]:
    """The one entry point every caller uses: greedy for a beam of one, beam search otherwise."""
    if beam_size == 1 and n_best == 1:
        return [[hypothesis] for hypothesis in greedy_search(model, src, src_lengths, max_lengths)]
    return beam_search(model, src, src_lengths, max_lengths, max(beam_size, n_best), alpha, n_best)
