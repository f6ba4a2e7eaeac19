"""GRU encoder and attentive GRU decoder.

The decoder follows Luong et al. (2015) without input feeding: the GRU reads only the
previous target word, and attention is applied to its output. That keeps training fast on a
CPU: the whole target sequence goes through one fused ``nn.GRU`` call, and attention and the
output layer run over every time step in one batched matrix product. At decode time the same
code runs with one time step (``step``).
"""

from __future__ import annotations

import torch
from torch import nn

from seq2seq_cli.data.text import Vocab
from seq2seq_cli.models.attention import Attention, Memory
from seq2seq_cli.models.dropout import Dropout
from seq2seq_cli.models.output import SoftmaxOutput
from seq2seq_cli.models.recurrence import gru


class GRUEncoder(nn.Module):
    """Embeds and reads the source; padding never reaches the states (``recurrence.gru``)."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, layers: int, bidirectional: bool, dropout: float):
        super().__init__()
        self.layers, self.hidden_size, self.bidirectional = layers, hidden_size, bidirectional
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=Vocab.PAD)
        self.embedded = nn.Identity()  # the source embeddings, used once: attribution hooks here (attribution.py)
        self.dropout = Dropout(dropout)
        self.rnn = nn.GRU(
            embed_dim, hidden_size, layers, batch_first=True, bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )
        # Both directions are merged back to hidden_size so every attention type sees one size.
        self.merge_outputs = nn.Linear(2 * hidden_size, hidden_size) if bidirectional else None
        self.bridge = nn.Linear(2 * hidden_size, hidden_size) if bidirectional else None

    def forward(self, src: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """src: (batch, src_len) -> states (batch, src_len, hidden), final (layers, batch, hidden)."""
        embedded = self.dropout(self.embedded(self.embedding(src)))
        outputs, final = gru(self.rnn, embedded, None, lengths)
        if self.bidirectional:
            batch = src.size(0)
            final = final.view(self.layers, 2, batch, self.hidden_size)
            final = torch.tanh(self.bridge(torch.cat([final[:, 0], final[:, 1]], dim=-1)))
            outputs = self.merge_outputs(outputs)
        return outputs, final


class GRUDecoder(nn.Module):
    """Predicts the next target word from the previous one, its GRU state and attention."""

    def __init__(
        self, vocab_size: int, embed_dim: int, hidden_size: int, layers: int, dropout: float, attention: Attention,
        output: nn.Module | None = None,
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=Vocab.PAD)
        self.dropout = Dropout(dropout)
        self.rnn = nn.GRU(embed_dim, hidden_size, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.attention = attention
        self.combine = nn.Linear(2 * hidden_size, hidden_size)
        self.out = output or SoftmaxOutput(hidden_size, vocab_size)  # features -> logits

    def project_memory(self, states: torch.Tensor) -> torch.Tensor:
        """Attention keys of the encoder states, once per batch."""
        return self.attention.project_keys(states)

    def init_state(self, memory: Memory, final: torch.Tensor) -> torch.Tensor:
        """The decoder starts from the encoder's final state, (layers, batch, hidden)."""
        return final

    def features(
        self, prev_tokens: torch.Tensor, state: torch.Tensor, memory: Memory, need_weights: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Everything but the output layer: (batch, tgt_len, hidden), attention (batch, tgt_len, src_len), state.

        Training applies the output layer only to real (unpadded) positions, which saves a
        large share of the biggest matrix product.
        """
        embedded = self.dropout(self.embedding(prev_tokens))
        outputs, state = gru(self.rnn, embedded, state)  # (batch, tgt_len, hidden)
        context, weights = self.attention(outputs, memory.keys, memory.values, memory.mask, embedded)
        attentional = torch.tanh(self.combine(torch.cat([outputs, context], dim=-1)))
        return self.dropout(attentional), weights, state

    def forward(
        self, prev_tokens: torch.Tensor, state: torch.Tensor, memory: Memory
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """prev_tokens: (batch, tgt_len) -> logits (batch, tgt_len, vocab), attention (batch, tgt_len, src_len), state."""
        features, weights, state = self.features(prev_tokens, state, memory)
        return self.out(features), weights, state

    def step(
        self, prev_tokens: torch.Tensor, state: torch.Tensor, memory: Memory
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One search step. prev_tokens: (batch,) -> log_probs (batch, vocab), attention (batch, src_len), state."""
        features, weights, state = self.features(prev_tokens.unsqueeze(1), state, memory)
        return self.out.log_probs(features.squeeze(1)), weights.squeeze(1), state

    @staticmethod
    def reorder_state(state: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Keep the states of the hypotheses beam search chose (index into the batch)."""
        return state.index_select(1, index)
