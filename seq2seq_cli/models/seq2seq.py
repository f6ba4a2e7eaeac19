"""``Seq2Seq``: an encoder, a decoder and the seam that search drives.

Search only needs ``encode`` and the decoder's ``init_state`` / ``step`` / ``reorder_state``,
so greedy and beam search serve every model type without knowing which one they drive.
"""

from __future__ import annotations

import torch
from torch import nn

from seq2seq_cli.config import ModelConfig
from seq2seq_cli.models.attention import Memory, build_attention
from seq2seq_cli.models.output import build_output_layer
from seq2seq_cli.models.rnn import GRUDecoder, GRUEncoder


class Seq2Seq(nn.Module):
    def __init__(self, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def encode(self, src: torch.Tensor, lengths: torch.Tensor) -> tuple[Memory, torch.Tensor]:
        """src: (batch, src_len) -> the memory to attend over and the decoder's first state."""
        states, final = self.encoder(src, lengths)
        mask = torch.arange(src.size(1), device=src.device).unsqueeze(0) < lengths.to(src.device).unsqueeze(1)
        memory = Memory(values=states, keys=self.decoder.project_memory(states), mask=mask)
        return memory, self.decoder.init_state(memory, final)

    def forward(
        self, src: torch.Tensor, lengths: torch.Tensor, tgt_in: torch.Tensor, teacher_forcing: float = 1.0
    ) -> torch.Tensor:
        """Decoder features for every target position, (batch, tgt_len, hidden); ``decoder.out`` makes logits.

        With full teacher forcing every step runs at once; otherwise each step's input is the
        gold word with probability ``teacher_forcing`` and the model's own guess otherwise.
        """
        memory, state = self.encode(src, lengths)
        if teacher_forcing >= 1.0:
            return self.decoder.features(tgt_in, state, memory, need_weights=False)[0]
        prev, steps = tgt_in[:, 0], []
        for t in range(tgt_in.size(1)):
            features, _, state = self.decoder.features(prev.unsqueeze(1), state, memory)
            steps.append(features)
            if t + 1 < tgt_in.size(1):
                use_gold = torch.rand(prev.shape, device=prev.device) < teacher_forcing
                guess = self.decoder.out(features.squeeze(1)).argmax(-1)  # (batch,)
                prev = torch.where(use_gold, tgt_in[:, t + 1], guess)
        return torch.cat(steps, dim=1)


def build_model(config: ModelConfig, src_vocab_size: int, tgt_vocab_size: int, max_len: int) -> Seq2Seq:
    """The model ``config`` describes; ``max_len`` is location attention's width."""
    model = _build(config, src_vocab_size, tgt_vocab_size, max_len)
    if config.share_embeddings:
        share_embeddings(model)
    return model


def share_embeddings(model: Seq2Seq) -> None:
    """One embedding table for both sides (a joint vocabulary), and for a tied output layer too:
    a word seen on either side trains the one vector, which a corpus of 29k pairs needs."""
    encoder, decoder = model.encoder.embedding, model.decoder.embedding
    if encoder.weight.shape != decoder.weight.shape:
        raise ValueError(f"shared embeddings need one vocabulary and width: {tuple(encoder.weight.shape)} "
                         f"vs {tuple(decoder.weight.shape)}")
    tied = getattr(model.decoder.out, "weight", None) is decoder.weight
    decoder.weight = encoder.weight
    if tied:
        model.decoder.out.weight = encoder.weight


def _build(config: ModelConfig, src_vocab_size: int, tgt_vocab_size: int, max_len: int) -> Seq2Seq:
    if config.type == "transformer":
        from seq2seq_cli.models.transformer import TransformerDecoder, TransformerEncoder

        size = (config.hidden_size, config.heads, config.ff_dim, config.layers, config.dropout)
        return Seq2Seq(
            TransformerEncoder(src_vocab_size, *size),
            TransformerDecoder(tgt_vocab_size, *size, tie=config.tie_embeddings),
        )
    encoder = GRUEncoder(
        src_vocab_size, config.embed_dim, config.hidden_size, config.layers, config.bidirectional, config.dropout
    )
    attention = build_attention(config.attention, config.hidden_size, config.embed_dim, max_len, config.heads)
    output = build_output_layer(config.output, config.hidden_size, tgt_vocab_size, config.adaptive_cutoffs)
    decoder = GRUDecoder(
        tgt_vocab_size, config.embed_dim, config.hidden_size, config.layers, config.dropout, attention, output
    )
    return Seq2Seq(encoder, decoder)


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Trainable parameters per sub-module (``encoder.rnn``, ``decoder.attention`` ...)."""
    counts: dict[str, int] = {}
    for name, parameter in model.named_parameters():
        module = ".".join(name.split(".")[:2])
        counts[module] = counts.get(module, 0) + parameter.numel()
    return counts
