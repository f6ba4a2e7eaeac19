"""Output layers: decoder features in, scores over the target vocabulary out.

Both kinds answer the same three calls, so training, validation and search never ask which
one they have:

* ``layer(features)`` gives logits, (..., vocab); log-probabilities count as logits.
* ``layer.log_probs(features)`` gives log-probabilities, what search ranks.
* ``layer.summed_nll(features, targets, label_smoothing)`` gives the summed training loss.

``adaptive`` (Grave et al., 2017) gives the most frequent words a full-size softmax and the
rare ones smaller clusters behind it. With 10,000 words the output layer is most of the
model's arithmetic, and most target tokens are frequent words, so it trains several times
cheaper there; search pays for the whole distribution, still about a third of the cost.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seq2seq_cli.errors import ConfigError


class SoftmaxOutput(nn.Linear):
    """One linear layer over the whole vocabulary (its weight can be tied to an embedding)."""

    def log_probs(self, features: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self(features), dim=-1)

    def summed_nll(self, features: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
        """features: (tokens, hidden), targets: (tokens,) -> summed cross-entropy."""
        return F.cross_entropy(self(features), targets, reduction="sum", label_smoothing=label_smoothing)


class AdaptiveOutput(nn.AdaptiveLogSoftmaxWithLoss):
    """Adaptive softmax; the vocabulary must be ordered most frequent first (``Vocab.build`` is)."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Log-probabilities over the whole vocabulary, (..., vocab)."""
        return self.log_prob(features.reshape(-1, features.size(-1))).view(*features.shape[:-1], self.n_classes)

    def log_probs(self, features: torch.Tensor) -> torch.Tensor:
        return self(features)  # normalised already

    def summed_nll(self, features: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
        """Only each token's own cluster is computed: the rare-word clusters see few rows."""
        return -super().forward(features, targets).output.sum()


def build_output_layer(kind: str, hidden_size: int, vocab_size: int, cutoffs: list[int]) -> nn.Module:
    """The output layer ``model.output`` names; ``cutoffs`` split the adaptive vocabulary into clusters."""
    if kind == "softmax":
        return SoftmaxOutput(hidden_size, vocab_size)
    if any(b <= a for a, b in zip(cutoffs, cutoffs[1:])) or not cutoffs or cutoffs[-1] >= vocab_size - 1:
        raise ConfigError(
            f"model.adaptive_cutoffs must rise and stay below the target vocabulary size minus one "
            f"({vocab_size - 1}); got {cutoffs}"
        )
    return AdaptiveOutput(hidden_size, vocab_size, cutoffs, div_value=4.0)
