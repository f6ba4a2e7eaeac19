"""Attribution: how much each source word moved the probability of each output word.

Attention says where the decoder looked; attribution says what the output depended on. Both
are (output steps, source tokens) matrices, so every view (picture, table, JSON, the page, AER)
takes either. The output word explained at step t is the one the search chose (or the
reference's, for AER), teacher-forced on the words before it: row t attributes
log p(y_t | y_<t, x) to the source embeddings with captum, the maintained PyTorch library:

- ``grad``: gradient × input, summed over the embedding (one backward pass);
- ``ig``: integrated gradients from the padding embedding (every step of the path in one batch;
  captum's convergence delta says how far the sum is from the change it should explain);
- ``occlusion``: the drop in log-probability when one source word's embedding is replaced by the
  padding embedding, for each word in turn.

Attribution runs in eval mode (no dropout, repeatable), one sentence at a time: its rows are the
batch, so a sentence's matrix never depends on what else is attributed with it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from seq2seq_cli.data.batches import pad_sources
from seq2seq_cli.data.text import Vocab
from seq2seq_cli.errors import S2SError

METHODS = ("grad", "ig", "occlusion")
CAPTUM_INSTALL = 'pip install "seq2seq-cli[explain]"'
IG_BATCH = 1024  # interpolated rows per forward pass: bounds memory on long sentences


@dataclass
class Attribution:
    """One sentence's attribution: ``scores`` (output steps, source tokens), signed; ``delta`` for ``ig``:
    the largest |convergence delta| over its rows (0 is exact)."""

    method: str
    scores: torch.Tensor
    delta: float | None = None


def require_captum() -> None:
    """captum is an optional extra: say how to get it, in one line, before any work."""
    try:
        import captum.attr  # noqa: F401
    except ImportError:
        raise S2SError(f"attribution needs captum: {CAPTUM_INSTALL}") from None


def check_method(method: str) -> str:
    if method not in METHODS:
        raise S2SError(f"--attribution {method!r}: choose one of {', '.join(METHODS)}")
    return method


class Attributor:
    """Attributes outputs of one model to its source words, on the CPU when the model's device cannot
    take gradients in eval mode (cuDNN's GRU), with a one-line ``note`` saying so."""

    def __init__(self, model: nn.Module, method: str, steps: int = 32, note: Callable[[str], None] | None = None):
        require_captum()
        if steps < 1:
            raise S2SError(f"--ig-steps {steps}: integrated gradients need at least 1 step")
        self.method, self.steps = check_method(method), steps
        self.model = _attributable(model, note)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def attribute(self, source_ids: Sequence[int], target_ids: Sequence[int]) -> Attribution:
        """Row t: the attribution of target word t (``<eos>`` too, when it is there) to every source token."""
        if not target_ids:
            return Attribution(self.method, torch.zeros(0, len(source_ids)))
        rows = len(target_ids)
        src, _ = pad_sources([list(source_ids)] * rows)  # (rows, src_len): the sentence once per output word
        src = src.to(self.device)
        lengths = torch.full((rows,), len(source_ids), dtype=torch.long)
        tgt_in = torch.tensor([[Vocab.SOS, *target_ids[:-1]]] * rows, device=self.device)  # (rows, tgt_len)
        targets = torch.tensor(list(target_ids), device=self.device)
        args = (lengths.to(self.device), tgt_in, targets, torch.arange(rows, device=self.device))
        with torch.enable_grad():
            scores, delta = _METHODS[self.method](self, src, args)
        return Attribution(self.method, scores.detach().float().cpu(), delta)

    def log_prob(self, src: torch.Tensor, lengths: torch.Tensor, tgt_in: torch.Tensor, targets: torch.Tensor,
                 positions: torch.Tensor) -> torch.Tensor:
        """log p(targets[r] | tgt_in[r, :positions[r] + 1], src[r]) for every row r: (rows,)."""
        memory, state = self.model.encode(src, lengths)
        features = self.model.decoder.features(tgt_in, state, memory, need_weights=False)[0]  # (rows, tgt_len, hidden)
        picked = features[torch.arange(features.size(0), device=features.device), positions]  # (rows, hidden)
        return self.model.decoder.out.log_probs(picked).gather(1, targets.unsqueeze(1)).squeeze(1)

    def _grad(self, src: torch.Tensor, args: tuple) -> tuple[torch.Tensor, None]:
        from captum.attr import LayerGradientXActivation

        method = LayerGradientXActivation(self.log_prob, self.model.encoder.embedded)
        return method.attribute(src, additional_forward_args=args).sum(-1), None  # (rows, src_len)

    def _ig(self, src: torch.Tensor, args: tuple) -> tuple[torch.Tensor, float]:
        from captum.attr import LayerIntegratedGradients

        method = LayerIntegratedGradients(self.log_prob, self.model.encoder.embedded)
        baseline = torch.full_like(src, Vocab.PAD)  # its embedding is the padding embedding
        scores, delta = method.attribute(
            src, baselines=baseline, additional_forward_args=args, n_steps=self.steps,
            internal_batch_size=max(IG_BATCH, src.size(0)), return_convergence_delta=True,
        )
        return scores.sum(-1), float(delta.abs().max())

    def _occlusion(self, src: torch.Tensor, args: tuple) -> tuple[torch.Tensor, None]:
        from captum.attr import LayerFeatureAblation

        method = LayerFeatureAblation(self.log_prob, self.model.encoder.embedded)
        with torch.no_grad():
            padding = self.model.encoder.embedding.weight[Vocab.PAD].detach()  # (embed,)
        mask = torch.arange(src.size(1), device=src.device).view(1, -1, 1)  # one group per source position
        scores = method.attribute(
            src, layer_baselines=padding.view(1, 1, -1), additional_forward_args=args, layer_mask=mask,
            perturbations_per_eval=src.size(1),
        )  # (rows, src_len, embed): each group's drop, repeated over its cells
        return scores[..., 0], None


_METHODS = {"grad": Attributor._grad, "ig": Attributor._ig, "occlusion": Attributor._occlusion}


def _attributable(model: nn.Module, note: Callable[[str], None] | None) -> nn.Module:
    """The model, or a CPU copy of it when it is a GRU on CUDA: cuDNN's RNN backward works only in
    training mode, and training mode would switch dropout on."""
    on_cuda = next(model.parameters()).device.type == "cuda"
    if on_cuda and any(isinstance(m, nn.GRU) for m in model.modules()):
        if note is not None:
            note("attribution runs on the CPU: cuDNN's GRU cannot take gradients in eval mode")
        model = copy.deepcopy(model).cpu()
    return model.eval()


def attribute_all(
    attributor: Attributor, sources: Sequence[Sequence[int]], targets: Sequence[Sequence[int]]
) -> list[Attribution]:
    """Each (source ids, target ids) pair's attribution, one sentence at a time."""
    return [attributor.attribute(source, target) for source, target in zip(sources, targets)]
