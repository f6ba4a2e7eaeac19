"""Run ``s2s ARGS...`` and send this process SIGNAL at the N-th call of a chosen moment, not by timing.

    python tests/interrupt_at.py MOMENT N SIGNAL ARGS...

MOMENT is where training is when the signal lands:
  step        mid-step: after the backward pass, before the optimizer update (gradient clipping)
  validation  mid-validation: translations done, scores not yet computed
  checkpoint  mid-checkpoint: while a checkpoint file is being written
The tests use it to interrupt at each kind of moment deliberately; a machine's speed cannot move it.
"""

from __future__ import annotations

import os
import signal
import sys

import torch

import seq2seq_cli.evaluation
from seq2seq_cli.cli import main


def interrupt_on_call(owner, name: str, nth: int, signal_number: int, after: bool = False) -> None:
    """Wrap ``owner.name`` so that its ``nth`` call sends the signal (before or after the real call)."""
    real = getattr(owner, name)
    calls = 0

    def wrapper(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == nth and not after:
            os.kill(os.getpid(), signal_number)
        result = real(*args, **kwargs)
        if calls == nth and after:
            os.kill(os.getpid(), signal_number)
        return result

    setattr(owner, name, wrapper)


MOMENTS = {
    "step": (torch.nn.utils, "clip_grad_norm_"),
    "validation": (seq2seq_cli.evaluation, "corpus_scores"),
    "checkpoint": (torch, "save"),
}

if __name__ == "__main__":
    moment, nth, signal_name, *arguments = sys.argv[1:]
    owner, name = MOMENTS[moment]
    interrupt_on_call(owner, name, int(nth), signal.Signals[signal_name], after=moment == "checkpoint")
    sys.argv = ["s2s", *arguments]
    main()
