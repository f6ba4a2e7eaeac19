"""The model's alternatives at one position of a translation: what it would have said instead.

A learner pokes an output word and sees the words the model weighed there. The model reads the
source and the forced words before the position (teacher forcing, the same reading the search
does, through the same step seam, so an ensemble answers as one), and its next-word distribution
at that position is ranked: the top ``k`` with their
log-probabilities. ``<eos>`` is a real alternative (stop here); padding and ``<sos>`` never are, and
neither is ``<unk>``: it names no word, so it cannot be forced again as one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seq2seq_cli.data.batches import pad_sources
from seq2seq_cli.data.text import Vocab
from seq2seq_cli.decoding.translator import Translator


@dataclass
class Alternative:
    """One candidate next token: the token, its log-probability, and the forced prefix that chooses it
    (as text; None for ``<eos>``, which ends the translation there and cannot be forced)."""

    token: str
    log_prob: float
    prefix: str | None


@torch.inference_mode()
def alternatives(translator: Translator, source: list[str], prefix: list[int], k: int = 5) -> list[Alternative]:
    """The ``k`` likeliest next tokens after ``prefix`` (target ids) for ``source`` (tokens, as
    ``Translator.tokens`` gives them), best first."""
    engine = translator.engine  # the model, or an ensemble: what the search itself drives
    src, lengths = pad_sources([translator.src_vocab.encode(source)])
    src = src.to(translator.device)
    memory, state = engine.encode(src, lengths)
    for word in [Vocab.SOS, *prefix]:  # the step seam, word by word, as search reads a forced prefix
        log_probs, _, state = engine.decoder.step(torch.tensor([word], device=translator.device), state, memory)
    log_probs = log_probs.float()[0]  # (vocab,)
    excluded = [Vocab.PAD, Vocab.SOS, Vocab.UNK]
    log_probs[excluded] = float("-inf")
    top = torch.topk(log_probs, max(0, min(k, log_probs.numel() - len(excluded))))
    words = translator.tgt_vocab.decode(prefix)
    found = []
    for value, index in zip(top.values.tolist(), top.indices.tolist()):
        token = translator.tgt_vocab.itos[index]
        chosen = None if index == Vocab.EOS else translator.tgt_tokenizer.detokenize([*words, token])
        found.append(Alternative(token, value, chosen))
    return found
