"""Encoder-decoder Transformer (Vaswani et al., 2017) with pre-layer-norm, sinusoidal positions.

It plugs into the same search as the GRU model: ``encode`` gives the memory (with every
decoder layer's cross-attention keys and values computed once), the decoder state is the
key/value cache of its self-attention, and ``step`` reads one word and extends the cache, so
a decoding step costs one position, not the whole prefix.

Attention runs through ``scaled_dot_product`` (attention.py), which uses PyTorch's fused kernel
unless a caller needs the weights (heatmaps, alignment scores, decoding).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from seq2seq_cli.data.text import Vocab
from seq2seq_cli.models.attention import Memory, merge_heads, scaled_dot_product, split_heads
from seq2seq_cli.models.dropout import Dropout
from seq2seq_cli.models.output import SoftmaxOutput


def sinusoids(length: int, dim: int, offset: int = 0) -> torch.Tensor:
    """Fixed position encodings, (length, dim)."""
    positions = torch.arange(offset, offset + length, dtype=torch.float32).unsqueeze(1)
    frequencies = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(positions * frequencies)
    table[:, 1::2] = torch.cos(positions * frequencies[: dim // 2])
    return table


class FeedForward(nn.Sequential):
    def __init__(self, d_model: int, ff_dim: int, dropout: float):
        super().__init__(nn.Linear(d_model, ff_dim), nn.ReLU(), Dropout(dropout), nn.Linear(ff_dim, d_model))


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, cache: torch.Tensor | None = None, need_weights: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """x: (batch, len, d_model); cache: (batch, 2, heads, past, d_head) of earlier positions (decoder).

        Returns the output, the extended cache and, when asked, weights (batch, heads, len, past + len).
        """
        q, k, v = (split_heads(t, self.heads) for t in self.qkv(x).chunk(3, dim=-1))
        if cache is not None:
            k, v = torch.cat([cache[:, 0], k], dim=2), torch.cat([cache[:, 1], v], dim=2)
        context, weights = scaled_dot_product(q, k, v, mask, self.dropout if self.training else 0.0, need_weights)
        return self.out(merge_heads(context)), torch.stack([k, v], dim=1), weights


class CrossAttention(nn.Module):
    def __init__(self, d_model: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.q = nn.Linear(d_model, d_model)
        self.kv = nn.Linear(d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def project(self, memory: torch.Tensor) -> torch.Tensor:
        """Keys and values of the encoder output, once per batch: (batch, 2, heads, src_len, d_head)."""
        k, v = (split_heads(t, self.heads) for t in self.kv(memory).chunk(2, dim=-1))
        return torch.stack([k, v], dim=1)

    def forward(
        self, x: torch.Tensor, kv: torch.Tensor, mask: torch.Tensor, need_weights: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        q = split_heads(self.q(x), self.heads)
        context, weights = scaled_dot_product(q, kv[:, 0], kv[:, 1], mask, self.dropout if self.training else 0.0, need_weights)
        return self.out(merge_heads(context)), weights  # weights: (batch, heads, tgt, src)


class EncoderLayer(nn.Module):
    def __init__(self, d_model: int, heads: int, ff_dim: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attention = SelfAttention(d_model, heads, dropout)
        self.feed_forward = FeedForward(d_model, ff_dim, dropout)
        self.dropout = Dropout(dropout)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, need_weights: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, _, weights = self.attention(self.norm1(x), mask, need_weights=need_weights)
        x = x + self.dropout(attended)
        return x + self.dropout(self.feed_forward(self.norm2(x))), weights


class DecoderLayer(nn.Module):
    def __init__(self, d_model: int, heads: int, ff_dim: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d_model), nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.self_attention = SelfAttention(d_model, heads, dropout)
        self.cross_attention = CrossAttention(d_model, heads, dropout)
        self.feed_forward = FeedForward(d_model, ff_dim, dropout)
        self.dropout = Dropout(dropout)

    def forward(self, x, causal, cache, kv, src_mask, need_weights, need_self_weights=False):
        """Returns the output, the extended cache, cross-attention and (when asked) self-attention weights."""
        attended, cache, self_weights = self.self_attention(self.norm1(x), causal, cache, need_self_weights)
        x = x + self.dropout(attended)
        attended, weights = self.cross_attention(self.norm2(x), kv, src_mask, need_weights)
        x = x + self.dropout(attended)
        return x + self.dropout(self.feed_forward(self.norm3(x))), cache, weights, self_weights


def scaled_embedding(vocab_size: int, d_model: int) -> nn.Embedding:
    """Embeddings drawn with std d_model^-1/2: times sqrt(d_model) they enter at unit scale, and
    as a tied output layer they start with small logits (N(0, 1) made the loss explode)."""
    embedding = nn.Embedding(vocab_size, d_model, padding_idx=Vocab.PAD)
    nn.init.normal_(embedding.weight, std=d_model**-0.5)
    with torch.no_grad():
        embedding.weight[Vocab.PAD].zero_()
    return embedding


class TransformerEncoder(nn.Module):
    def __init__(self, vocab_size: int, d_model: int, heads: int, ff_dim: int, layers: int, dropout: float):
        super().__init__()
        self.d_model = d_model
        self.embedding = scaled_embedding(vocab_size, d_model)
        self.embedded = nn.Identity()  # the source embeddings, used once: attribution hooks here (attribution.py)
        self.layers = nn.ModuleList(EncoderLayer(d_model, heads, ff_dim, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)
        self.dropout = Dropout(dropout)

    def forward(self, src: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, None]:
        """src: (batch, src_len) -> states (batch, src_len, d_model); no final state to hand over."""
        return self._encode(src, lengths, need_weights=False)[0], None

    def self_attention(self, src: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """What each source position attends to: (batch, layers, heads, src_len, src_len)."""
        return torch.stack(self._encode(src, lengths, need_weights=True)[1], dim=1)

    def _encode(self, src: torch.Tensor, lengths: torch.Tensor, need_weights: bool) -> tuple[torch.Tensor, list]:
        mask = (torch.arange(src.size(1), device=src.device) < lengths.to(src.device).unsqueeze(1))[:, None, None, :]
        x = self.embedded(self.embedding(src)) * math.sqrt(self.d_model) + sinusoids(src.size(1), self.d_model).to(src.device)
        x = self.dropout(x)
        weights = []
        for layer in self.layers:
            x, layer_weights = layer(x, mask, need_weights)
            weights.append(layer_weights)
        return self.norm(x), weights


class TransformerDecoder(nn.Module):
    """Decoder whose state is the self-attention key/value cache: (batch, layers, 2, heads, past, d_head)."""

    def __init__(self, vocab_size: int, d_model: int, heads: int, ff_dim: int, layers: int, dropout: float, tie: bool):
        super().__init__()
        self.d_model, self.heads, self.n_layers = d_model, heads, layers
        self.use_cache = True  # False: every step re-reads the whole prefix (the benchmark's baseline)
        self.embedding = scaled_embedding(vocab_size, d_model)
        self.layers = nn.ModuleList(DecoderLayer(d_model, heads, ff_dim, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)
        self.dropout = Dropout(dropout)
        self.out = SoftmaxOutput(d_model, vocab_size)
        if tie:
            self.out.weight = self.embedding.weight

    def project_memory(self, states: torch.Tensor) -> torch.Tensor:
        """Every layer's cross-attention keys and values: (batch, layers, 2, heads, src_len, d_head)."""
        return torch.stack([layer.cross_attention.project(states) for layer in self.layers], dim=1)

    def init_state(self, memory: Memory, final: None) -> torch.Tensor:
        """An empty cache, or without the cache an empty prefix of token ids (batch, 0)."""
        if not self.use_cache:
            return torch.zeros(memory.values.size(0), 0, dtype=torch.long, device=memory.values.device)
        return self._empty_cache(memory)

    def _empty_cache(self, memory: Memory) -> torch.Tensor:
        batch, d_head = memory.values.size(0), self.d_model // self.heads
        return memory.values.new_zeros(batch, self.n_layers, 2, self.heads, 0, d_head)

    def features(
        self, prev_tokens: torch.Tensor, state: torch.Tensor, memory: Memory, need_weights: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """prev_tokens: (batch, tgt_len) after ``state.size(4)`` earlier positions.

        Returns features (batch, tgt_len, d_model), cross-attention weights
        (batch, tgt_len, layers, heads, src_len) when asked, and the extended cache.
        """
        features, weights, state, _ = self._decode(prev_tokens, state, memory, need_weights, need_self_weights=False)
        return features, weights, state

    def self_attention(self, prev_tokens: torch.Tensor, memory: Memory) -> torch.Tensor:
        """What each position of a whole output attends to among the words before it (teacher-forced):
        prev_tokens (batch, tgt_len) -> (batch, layers, heads, tgt_len, tgt_len), upper triangle 0."""
        return self._decode(prev_tokens, self._empty_cache(memory), memory, False, need_self_weights=True)[3]

    def _decode(self, prev_tokens, state, memory, need_weights: bool, need_self_weights: bool):
        if state.dim() == 2:  # an uncached prefix of ids (use_cache off): read it from scratch
            state = self._empty_cache(memory)
        past, length = state.size(4), prev_tokens.size(1)
        positions = sinusoids(length, self.d_model, offset=past).to(prev_tokens.device)
        x = self.dropout(self.embedding(prev_tokens) * math.sqrt(self.d_model) + positions)
        causal = torch.ones(length, past + length, dtype=torch.bool, device=x.device).tril(diagonal=past)
        src_mask = memory.mask[:, None, None, :]
        caches, cross, own = [], [], []
        for index, layer in enumerate(self.layers):
            x, cache, weights, self_weights = layer(
                x, causal, state[:, index], memory.keys[:, index], src_mask, need_weights, need_self_weights
            )
            caches.append(cache)
            cross.append(weights)
            own.append(self_weights)
        cross_weights = torch.stack(cross, dim=1).permute(0, 3, 1, 2, 4) if need_weights else None
        self_weights = torch.stack(own, dim=1) if need_self_weights else None
        return self.norm(x), cross_weights, torch.stack(caches, dim=1), self_weights

    def forward(self, prev_tokens: torch.Tensor, state: torch.Tensor, memory: Memory):
        features, weights, state = self.features(prev_tokens, state, memory)
        return self.out(features), weights, state

    def step(self, prev_tokens: torch.Tensor, state: torch.Tensor, memory: Memory):
        """One search step: log_probs (batch, vocab), attention (batch, layers, heads, src_len), new state."""
        if self.use_cache:
            logits, weights, state = self(prev_tokens.unsqueeze(1), state, memory)
        else:
            state = torch.cat([state, prev_tokens.unsqueeze(1)], dim=1)  # the whole prefix, again
            logits, weights, _ = self(state, self._empty_cache(memory), memory)
        return torch.log_softmax(logits[:, -1], dim=-1), weights[:, -1], state

    @staticmethod
    def reorder_state(state: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return state.index_select(0, index)
