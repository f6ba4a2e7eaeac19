"""Attention scorers behind one call: ``(query, keys, values, mask, inputs) -> (context, weights)``.

Masking lives here, once: a padded source position gets a score of -inf, so after the
softmax its weight is exactly 0 and every row still sums to 1. Keys are projected once per
batch (``project_keys``), not once per decoder step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from seq2seq_cli.errors import DataError
from seq2seq_cli.models.cpu_training import eager_float32_cpu_training


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over source positions with padded positions forced to exactly 0.

    scores: (batch, tgt_len, src_len); mask: (batch, src_len), True on real tokens.
    """
    return torch.softmax(scores.masked_fill(~mask.unsqueeze(1), float("-inf")), dim=-1)


class Attention(nn.Module):
    """Base class: subclasses say how a query scores each key; masking and mixing are shared."""

    def project_keys(self, memory: torch.Tensor) -> torch.Tensor:
        """Keys from encoder states, computed once per batch. (batch, src_len, hidden) -> (batch, src_len, key)."""
        return memory

    def score(self, query: torch.Tensor, keys: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Unnormalised scores, (batch, tgt_len, src_len)."""
        raise NotImplementedError

    def forward(
        self,
        query: torch.Tensor,  # (batch, tgt_len, hidden): decoder states
        keys: torch.Tensor,  # (batch, src_len, key)
        values: torch.Tensor,  # (batch, src_len, hidden)
        mask: torch.Tensor,  # (batch, src_len)
        inputs: torch.Tensor,  # (batch, tgt_len, embed): decoder inputs (location attention only)
    ) -> tuple[torch.Tensor, torch.Tensor]:
        weights = masked_softmax(self.score(query, keys, inputs), mask)  # (batch, tgt_len, src_len)
        return weights @ values, weights


class BahdanauAttention(Attention):
    """Additive: v . tanh(W_q q + W_k k) (Bahdanau et al., 2015)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.key_layer = nn.Linear(hidden_size, hidden_size, bias=False)
        self.query_layer = nn.Linear(hidden_size, hidden_size, bias=False)
        self.energy = nn.Linear(hidden_size, 1, bias=False)

    def project_keys(self, memory: torch.Tensor) -> torch.Tensor:
        return self.key_layer(memory)

    def score(self, query: torch.Tensor, keys: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        queries = self.query_layer(query)  # (batch, tgt_len, hidden)
        if eager_float32_cpu_training(queries, self):
            return AdditiveScores.apply(queries, keys, self.energy.weight)
        # (b, t, s, h): the largest tensor of the step; tanh in place spares a second copy of it
        hidden = (queries.unsqueeze(2) + keys.unsqueeze(1)).tanh_()
        return self.energy(hidden).squeeze(-1)


class AdditiveScores(torch.autograd.Function):
    """v . tanh(q + k) for every query and key, with a backward that passes over (b, t, s, h) four times.

    Autograd's backward of the plain expression writes two more tensors of that size (v's outer
    product with the scores' gradient, then tanh's gradient) and forms v's gradient and the
    outer product as a matrix product with an inner dimension of 1, far below a CPU's matrix speed.
    Here tanh's gradient is taken in place and v comes in after the sums over source and target
    positions, on tensors a source (target) length smaller. Measured on an Intel Xeon (Cascade Lake,
    2 threads), forward and backward of a (64, 16, 15, 256) batch: 1.4x faster. FLOP counters see the
    two products with v, not the outer product the plain backward forms (it is no arithmetic).
    """

    @staticmethod
    def forward(ctx, queries, keys, energy):  # noqa: ANN001, ANN205
        # queries: (batch, tgt_len, hidden), keys: (batch, src_len, hidden), energy: (1, hidden)
        hidden = (queries.unsqueeze(2) + keys.unsqueeze(1)).tanh_()  # (batch, tgt_len, src_len, hidden)
        ctx.save_for_backward(hidden, energy)
        return (hidden.view(-1, hidden.size(-1)) @ energy.t()).view(hidden.shape[:-1])  # mm: FLOP counters see it

    @staticmethod
    def backward(ctx, grad_scores):  # noqa: ANN001, ANN205
        if getattr(ctx, "used", False):
            raise RuntimeError("additive attention's scores can be backpropagated once (backward overwrites tanh's output)")
        ctx.used = True
        hidden, energy = ctx.saved_tensors
        grad_energy = None
        if ctx.needs_input_grad[2]:
            grad_energy = grad_scores.reshape(1, -1) @ hidden.view(-1, hidden.size(-1))  # (1, hidden)
        # g (1 - tanh^2), in place: the gradient of the pre-activation, before the factor v
        torch.ops.aten.tanh_backward.grad_input(grad_scores.unsqueeze(-1).expand_as(hidden), hidden, grad_input=hidden)
        weight = energy.view(-1)
        grad_queries = hidden.sum(2).mul_(weight) if ctx.needs_input_grad[0] else None  # (batch, tgt_len, hidden)
        grad_keys = hidden.sum(1).mul_(weight) if ctx.needs_input_grad[1] else None  # (batch, src_len, hidden)
        return grad_queries, grad_keys, grad_energy


class LuongDotAttention(Attention):
    """Multiplicative without parameters: q . k (Luong et al., 2015)."""

    def score(self, query: torch.Tensor, keys: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        return query @ keys.transpose(1, 2)


class LuongGeneralAttention(LuongDotAttention):
    """Multiplicative with a learned bilinear form: q . W k, with W k computed once per batch."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.key_layer = nn.Linear(hidden_size, hidden_size, bias=False)

    def project_keys(self, memory: torch.Tensor) -> torch.Tensor:
        return self.key_layer(memory)


class LocationAttention(Attention):
    """The teaching notebook's attention: scores come from the decoder's input and state alone.

    It never looks at the source, so it learns one weight per *position* and has a fixed
    width (``data.max_len``). Unlike the notebook, scores past the real input are masked.
    """

    def __init__(self, hidden_size: int, embed_dim: int, width: int):
        super().__init__()
        self.width = width
        self.scorer = nn.Linear(hidden_size + embed_dim, width)

    def check_length(self, src_len: int) -> None:
        """A clear error, instead of the notebook's crash, for input wider than the scorer."""
        if src_len > self.width:
            raise DataError(
                f"input has {src_len} tokens but location attention covers at most {self.width} "
                "(data.max_len); shorten the sentence or train with another model.attention"
            )

    def score(self, query: torch.Tensor, keys: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        self.check_length(keys.size(1))
        return self.scorer(torch.cat([query, inputs], dim=-1))[..., : keys.size(1)]


class MultiHeadAttention(Attention):
    """Scaled dot-product attention in several heads, each free to look somewhere else.

    Its weights come back per head, (batch, tgt_len, 1, heads, src_len): one layer, like the
    Transformer's (batch, tgt_len, layers, heads, src_len), so heatmaps treat both alike.
    """

    def __init__(self, hidden_size: int, heads: int):
        super().__init__()
        self.heads = heads
        self.query_layer = nn.Linear(hidden_size, hidden_size, bias=False)
        self.key_value_layer = nn.Linear(hidden_size, 2 * hidden_size, bias=False)
        self.output_layer = nn.Linear(hidden_size, hidden_size, bias=False)

    def project_keys(self, memory: torch.Tensor) -> torch.Tensor:
        return self.key_value_layer(memory)  # keys and values side by side: (batch, src_len, 2 * hidden)

    def forward(self, query, keys, values, mask, inputs) -> tuple[torch.Tensor, torch.Tensor]:
        q = split_heads(self.query_layer(query), self.heads)
        k, v = (split_heads(part, self.heads) for part in keys.chunk(2, dim=-1))
        context, weights = scaled_dot_product(q, k, v, mask[:, None, None, :], 0.0, need_weights=True)
        return self.output_layer(merge_heads(context)), weights.transpose(1, 2).unsqueeze(2)


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(batch, len, d_model) -> (batch, heads, len, d_head)."""
    batch, length, d_model = x.shape
    return x.view(batch, length, heads, d_model // heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(batch, heads, len, d_head) -> (batch, len, d_model)."""
    batch, heads, length, d_head = x.shape
    return x.transpose(1, 2).reshape(batch, length, heads * d_head)


def scaled_dot_product(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, dropout: float, need_weights: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """q: (batch, heads, tgt, d); k, v: (batch, heads, src, d); mask broadcastable to (batch, heads, tgt, src), True = keep.

    Without ``need_weights`` PyTorch's fused kernel does it and no weights come back.
    """
    if not need_weights:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout), None
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # padded positions: exactly 0
    return F.dropout(weights, dropout) @ v if dropout else weights @ v, weights


def attention_map(weights: torch.Tensor, layer: int | None = None, head: int | None = None) -> torch.Tensor:
    """One (steps, src_len) map from any model's attention: GRU weights are one already; multi-head
    weights (steps, layers, heads, src_len) give one head of one layer (default: the last layer),
    or the average of its heads."""
    if weights.dim() == 2:
        return weights
    chosen = weights[:, -1 if layer is None else layer]  # (steps, heads, src_len)
    return chosen.mean(dim=1) if head is None else chosen[:, head]


def build_attention(kind: str, hidden_size: int, embed_dim: int, width: int, heads: int = 1) -> Attention:
    """The attention module named by ``model.attention``."""
    if kind == "bahdanau":
        return BahdanauAttention(hidden_size)
    if kind == "luong-dot":
        return LuongDotAttention()
    if kind == "luong-general":
        return LuongGeneralAttention(hidden_size)
    if kind == "location":
        return LocationAttention(hidden_size, embed_dim, width)
    if kind == "multihead":
        return MultiHeadAttention(hidden_size, heads)
    raise ValueError(f"unknown attention type {kind!r}")


@dataclass
class Memory:
    """What the decoder attends over: encoder states, their keys, and which positions are real."""

    values: torch.Tensor  # (batch, src_len, hidden)
    keys: torch.Tensor  # (batch, src_len, key)
    mask: torch.Tensor  # (batch, src_len), True on real tokens

    def select(self, index: torch.Tensor) -> Memory:
        """The rows ``index`` names, in that order: beam search's copies per hypothesis."""
        return Memory(*(t.index_select(0, index) for t in (self.values, self.keys, self.mask)))
