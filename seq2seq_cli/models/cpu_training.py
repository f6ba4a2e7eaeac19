"""Where s2s's own CPU training paths apply: the fused loss (``output.py``), ``GRULayer`` (``recurrence.py``)
and ``AdditiveScores`` (``attention.py``).

Each was measured to pay only when gradients are wanted, in float32, on a CPU: evaluation
needs no gradients, autocast has its own casts, and a GPU's memory is fast enough for the plain
paths (cuDNN for the GRU). One rule, so they cannot drift apart.
"""

from __future__ import annotations

import torch
from torch import nn


def float32_cpu_training(inputs: torch.Tensor, module: nn.Module) -> bool:
    """Gradients wanted for ``inputs`` or ``module``'s parameters, in float32 on a CPU, outside autocast."""
    training = torch.is_grad_enabled() and (inputs.requires_grad or any(p.requires_grad for p in module.parameters()))
    return (training and inputs.device.type == "cpu" and inputs.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu"))


def eager_float32_cpu_training(inputs: torch.Tensor, module: nn.Module) -> bool:
    """``float32_cpu_training`` outside torch.compile: for paths it must not trace, a Python loop over
    time steps (``GRULayer``) or a backward that overwrites what it saved (``AdditiveScores``)."""
    return float32_cpu_training(inputs, module) and not torch.compiler.is_compiling()
