"""Search written once against the decoder step interface, for every model type.

``greedy_search`` is batched: every sentence of the batch advances one word per step, and a
sentence stops at ``<eos>`` or at its own length limit, so a sentence decodes the same alone
or inside a batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seq2seq_cli.data import Vocab

# Ids a search must never emit: padding and the start symbol.
NEVER_PREDICTED = [Vocab.PAD, Vocab.SOS]


@dataclass
class Hypothesis:
    """One output sentence: ids (ending in ``<eos>`` when finished), log-probability, attention."""

    tokens: list[int]
    score: float
    attention: torch.Tensor  # (len(tokens), src_len)


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
        Hypothesis(tokens[row, :length].tolist(), float(scores[row]), attention[row, :length, :src_len])
        for row, (length, src_len) in enumerate(zip(lengths.tolist(), src_lengths.tolist()))
    ]
