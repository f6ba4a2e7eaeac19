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
from seq2seq_cli.models.cpu_training import float32_cpu_training

# Logits one chunk of the fused loss holds: 512 rows x 10,000 words x 4 bytes = 20 MB, reused at once by
# the two products that follow. Measured on an Intel Xeon (Cascade Lake, 2 threads), same batches in turns:
# 512 rows 1.02x 256 rows, 0.97x at 1,024; 128 rows 0.97x, 64 rows 0.88x (thin products).
LOSS_CHUNK_ELEMENTS = 512 * 10_000


class SoftmaxOutput(nn.Linear):
    """One linear layer over the whole vocabulary (its weight can be tied to an embedding)."""

    def log_probs(self, features: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self(features), dim=-1)

    def summed_nll(self, features: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
        """features: (tokens, hidden), targets: (tokens,) -> summed cross-entropy.

        Training in float32 on a CPU takes the fused path (``FusedLinearCrossEntropy``); evaluation,
        autocast and GPUs take the plain one (``cpu_training.float32_cpu_training``).
        """
        if float32_cpu_training(features, self):
            return FusedLinearCrossEntropy.apply(features, self.weight, self.bias, targets, label_smoothing)
        return F.cross_entropy(self(features), targets, reduction="sum", label_smoothing=label_smoothing)


class FusedLinearCrossEntropy(torch.autograd.Function):
    """Output layer and summed cross-entropy with their gradients, chunk by chunk of tokens.

    The plain path writes the whole (tokens, vocab) logits, about 40 MB for a batch of 1,000
    target words, then reads and writes it three more times (log-softmax, its backward, the
    products' backward): on a CPU that is memory traffic and page faults, not arithmetic. Here
    each chunk's logits are used at once: softmax minus the one-hot target is the gradient of the
    logits, taken straight into the features' and the weight's gradients. Backward only scales
    them. Same products, same FLOPs, the same loss up to float rounding.
    """

    @staticmethod
    def forward(ctx, features, weight, bias, targets, label_smoothing: float):  # noqa: ANN001, ANN205
        # features: (tokens, hidden), weight: (vocab, hidden), bias: (vocab,), targets: (tokens,)
        need_features, need_weight, need_bias = ctx.needs_input_grad[:3]
        vocab = weight.size(0)
        chunk = max(1, LOSS_CHUNK_ELEMENTS // vocab)
        grad_features = torch.empty_like(features) if need_features else None
        grad_weight = torch.empty_like(weight) if need_weight else None  # the first chunk's product writes it
        grad_bias = torch.zeros_like(bias) if need_bias else None  # bias may be None: need_bias is False then
        loss = features.new_zeros(())
        for start in range(0, features.size(0), chunk):
            x, gold = features[start : start + chunk], targets[start : start + chunk]
            logits = x @ weight.t() if bias is None else torch.addmm(bias, x, weight.t())  # (chunk, vocab)
            gold_logits = logits.gather(1, gold.unsqueeze(1))  # (chunk, 1)
            mean_logits = logits.mean(dim=-1, keepdim=True) if label_smoothing else None
            # logsumexp by hand, in place, so the one exp pass also gives the softmax: the chunk is
            # read and written five times, not eight (torch.logsumexp copies it and exp runs twice).
            top = logits.amax(dim=-1, keepdim=True)  # (chunk, 1)
            unnormalised = logits.sub_(top).exp_()
            total = unnormalised.sum(dim=-1, keepdim=True)  # (chunk, 1)
            log_norm = top + total.log()
            nll = log_norm - gold_logits
            if label_smoothing:
                nll = (1 - label_smoothing) * nll + label_smoothing * (log_norm - mean_logits)
            loss += nll.sum()
            grad_logits = unnormalised.div_(total)  # softmax, in place of the logits
            grad_logits.scatter_add_(1, gold.unsqueeze(1), grad_logits.new_full((len(gold), 1), label_smoothing - 1))
            if label_smoothing:
                grad_logits.sub_(label_smoothing / vocab)
            if need_features:
                torch.mm(grad_logits, weight, out=grad_features[start : start + chunk])
            if need_weight and start == 0:
                torch.mm(grad_logits.t(), x, out=grad_weight)
            elif need_weight:
                torch.addmm(grad_weight, grad_logits.t(), x, out=grad_weight)  # addmm_, as FLOP counters see it
            if need_bias:
                grad_bias += grad_logits.sum(0)
        ctx.grads = (grad_features, grad_weight, grad_bias)  # made here, not inputs: kept on ctx itself
        return loss

    @staticmethod
    def backward(ctx, grad_loss):  # noqa: ANN001, ANN205
        if ctx.grads is None:
            raise RuntimeError("the fused training loss can be backpropagated once (it scales its gradients in place)")
        grads, ctx.grads = ctx.grads, None  # scaled in place: a fresh 10 MB tensor costs page faults on a CPU
        return *(None if g is None else g.mul_(grad_loss) for g in grads), None, None


class AdaptiveOutput(nn.AdaptiveLogSoftmaxWithLoss):
    """Adaptive softmax; the vocabulary must be ordered most frequent first (``Vocab.build`` is)."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Log-probabilities over the whole vocabulary, (..., vocab)."""
        return self.log_prob(features.reshape(-1, features.size(-1))).view(*features.shape[:-1], self.n_classes)

    def log_probs(self, features: torch.Tensor) -> torch.Tensor:
        return self(features)  # normalised already

    def summed_nll(self, features: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
        """Only each token's own cluster is computed: the rare-word clusters see few rows.

        A word's loss is the head's loss for it (a frequent word) or for its cluster's token, plus,
        for a rarer word, the loss within its cluster; in training each part is fused like
        ``SoftmaxOutput``'s. Label smoothing spreads its share over every word of the vocabulary,
        exactly as the full softmax's does, so every cluster is computed for every token then.
        """
        if label_smoothing:
            return smoothed_nll(self.log_prob(features), targets, label_smoothing)
        if not float32_cpu_training(features, self):
            return -super().forward(features, targets).output.sum()
        head_targets = targets.clone()  # (tokens,): the word, or the token of the cluster it falls in
        loss = features.new_zeros(())
        for cluster, (low, high) in enumerate(zip(self.cutoffs, self.cutoffs[1:])):
            rows = ((targets >= low) & (targets < high)).nonzero().squeeze(1)
            if rows.numel():
                head_targets[rows] = self.shortlist_size + cluster
                projection, words = self.tail[cluster]
                in_cluster = projection(features.index_select(0, rows))  # (rows, hidden / 4**(cluster+1))
                loss = loss + FusedLinearCrossEntropy.apply(in_cluster, words.weight, None, targets[rows] - low, 0.0)
        return loss + FusedLinearCrossEntropy.apply(features, self.head.weight, self.head.bias, head_targets, 0.0)


def smoothed_nll(log_probs: torch.Tensor, targets: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    """Summed label-smoothed cross-entropy from log-probabilities (tokens, vocab): the gold word gets
    1 - label_smoothing of the target mass, every word an equal share of the rest (PyTorch's convention)."""
    nll = -log_probs.gather(1, targets.unsqueeze(1)).squeeze(1)  # (tokens,)
    uniform = -log_probs.mean(dim=-1)  # (tokens,)
    return ((1 - label_smoothing) * nll + label_smoothing * uniform).sum()


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
