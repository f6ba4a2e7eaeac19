"""Scoring during training: the teacher-forced loss of a batch (what training minimises), and the
validation loss, perplexity, BLEU and chrF logged at every validation (each process a share)."""

from __future__ import annotations

import math

import torch

from seq2seq_cli import evaluation as evaluate
from seq2seq_cli.config import Config
from seq2seq_cli.data.batches import Batch, Example, bucketed_batches, collate
from seq2seq_cli.data.prepare import TrainingData
from seq2seq_cli.data.text import Vocab
from seq2seq_cli.decoding.translator import Translator
from seq2seq_cli.models.seq2seq import Seq2Seq
from seq2seq_cli.system import SINGLE, Context


def batch_loss(
    model: Seq2Seq, batch: Batch, teacher_forcing: float = 1.0, label_smoothing: float = 0.0, forward=None
) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy over real target tokens (``<eos>`` included) and their count.

    The output layer, the largest matrix product, runs on real positions only, never on padding.
    ``forward`` is the model as wrapped for training (DistributedDataParallel, torch.compile).
    """
    forward = model if forward is None else forward  # not ``or``: a compiled module refuses bool()
    features = forward(batch.src, batch.src_lengths, batch.tgt_in, teacher_forcing)  # (batch, tgt_len, hidden)
    real = batch.tgt_out != Vocab.PAD
    loss = model.decoder.out.summed_nll(features[real], batch.tgt_out[real], label_smoothing)  # features: (tokens, hidden)
    return loss, batch.n_tokens


@torch.inference_mode()
def validation_loss(model: Seq2Seq, examples: list[Example], batch_size: int, context: Context = SINGLE) -> float | None:
    """Mean cross-entropy per target token on held-out pairs, with dropout off (each process a share)."""
    if not examples:
        return None
    model.eval()
    device = next(model.parameters()).device
    total, tokens = 0.0, 0
    for ids in bucketed_batches(examples, batch_size, rng=None)[context.rank :: context.world]:
        loss, n = batch_loss(model, collate([examples[i] for i in ids]).to(device))
        total, tokens = total + float(loss), tokens + n
    model.train()
    total, tokens = context.sum([total, tokens])
    return total / tokens


def validation_scores(model: Seq2Seq, data: TrainingData, config: Config, context: Context = SINGLE) -> dict:
    """Loss and perplexity (teacher-forced), and BLEU and chrF of batched greedy translations."""
    val_loss = validation_loss(model, data.val, config.train.batch_size, context)
    if val_loss is None:
        return {"val_loss": None, "val_ppl": None, "val_bleu": None, "val_chrf": None}
    translator = Translator(model, config, data.src_vocab, data.tgt_vocab, data.tokenizers)
    translator = translator.with_decoding(beam_size=1, n_best=1)
    share = [t.text for t in translator.translate([p.source for p in data.val_pairs[context.rank :: context.world]])]
    shares = context.gather(share)  # shares[r][i] translates val_pairs[i * world + r]
    hypotheses = [shares[i % context.world][i // context.world] for i in range(len(data.val_pairs))]
    model.train()
    # looked up at call time (not imported by name), so a test can wrap evaluate.corpus_scores
    bleu, _, chrf, _ = evaluate.corpus_scores(hypotheses, [p.target for p in data.val_pairs], config.data.lowercase)
    return {
        "val_loss": round(val_loss, 6),
        "val_ppl": round(math.exp(min(val_loss, 50.0)), 4),
        "val_bleu": round(bleu, 2),
        "val_chrf": round(chrf, 2),
    }
