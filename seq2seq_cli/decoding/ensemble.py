"""Ensembles: several models decoded as one, through the one search.

An ``Ensemble`` has the seam search drives (``encode``, ``decoder.step``, ``decoder.reorder_state``),
so greedy and beam search, forced prefixes and the beam tree serve it unchanged. At each step it
averages the members' log-probabilities (as the issue asks; fairseq and Marian weight them
equally too), and its attention is the members' maps averaged. The members must share the
target vocabulary, word for word: averaging distributions over different words is meaningless.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from seq2seq_cli import runs
from seq2seq_cli.decoding.translator import Translator
from seq2seq_cli.errors import S2SError


@dataclass
class Member:
    """One model of an ensemble: a run folder and which checkpoint of it."""

    run_dir: Path
    checkpoint: str | None  # None: the run's default

    @classmethod
    def parse(cls, spec: str, runs_dir: Path) -> Member:
        """``runs/x`` (its default checkpoint) or ``runs/x:average-last10.pt``; a bare name is looked up in ``runs_dir``."""
        path, _, checkpoint = spec.partition(":")
        run_dir = Path(path) if Path(path).is_dir() else runs_dir / path
        if not (run_dir / runs.CONFIG_FILE).is_file():
            raise S2SError(f"--ensemble {spec}: {run_dir} is not a run folder (no {runs.CONFIG_FILE})")
        return cls(run_dir, checkpoint or None)


class _Memories(list):
    """Each member's memory, selected together (beam search's copies per hypothesis)."""

    def select(self, index: torch.Tensor) -> _Memories:
        return _Memories(memory.select(index) for memory in self)


class _EnsembleDecoder:
    def __init__(self, decoders: Sequence, per_model: bool = False):
        self.decoders, self.per_model = list(decoders), per_model

    def step(self, prev: torch.Tensor, states: list, memories: _Memories):
        """Every member's step; log_probs (batch, vocab) averaged, and attention averaged (batch, src_len) or,
        ``per_model``, kept as one layer whose heads are the members (batch, 1, members, src_len): the
        multi-head views then show each model, and their average is the ensemble's map."""
        log_probs, maps, next_states = [], [], []
        for decoder, state, memory in zip(self.decoders, states, memories):
            member_log_probs, weights, state = decoder.step(prev, state, memory)
            log_probs.append(member_log_probs.float())
            maps.append(weights if weights.dim() == 2 else weights[:, -1].mean(dim=1))  # (batch, src_len)
            next_states.append(state)
        attention = torch.stack(maps, dim=1).float().unsqueeze(1) if self.per_model else torch.stack(maps).float().mean(0)
        return torch.stack(log_probs).mean(0), attention, next_states

    def reorder_state(self, states: list, index: torch.Tensor) -> list:
        return [decoder.reorder_state(state, index) for decoder, state in zip(self.decoders, states)]


class Ensemble:
    """Several models behind the one seam search drives."""

    def __init__(self, models: Sequence, per_model: bool = False):
        self.models = list(models)
        self.decoder = _EnsembleDecoder([model.decoder for model in self.models], per_model)

    def encode(self, src: torch.Tensor, lengths: torch.Tensor):
        encoded = [model.encode(src, lengths) for model in self.models]
        return _Memories(memory for memory, _ in encoded), [state for _, state in encoded]


def load_ensemble(members: Sequence[Member], device: str = "cpu", per_model: bool = False) -> Translator:
    """A translator whose search averages ``members``: the first member's vocabularies, tokenisers and
    decode settings; an error naming the member whose target vocabulary differs. ``per_model``: its
    attention keeps each member's map (``_EnsembleDecoder.step``), even for an ensemble of one."""
    translators = [Translator.from_run(m.run_dir, m.checkpoint, device) for m in members]
    first = translators[0]
    for member, other in zip(members[1:], translators[1:]):
        if other.tgt_vocab.itos != first.tgt_vocab.itos:
            raise S2SError(f"--ensemble {member.run_dir}: its target vocabulary differs from {members[0].run_dir}'s; "
                           "ensemble members must share it")
        if other.src_vocab.itos != first.src_vocab.itos:
            raise S2SError(f"--ensemble {member.run_dir}: its source vocabulary differs from {members[0].run_dir}'s; "
                           "ensemble members must read the same tokens")
    if len(translators) == 1 and not per_model:
        return first
    return first.with_engine(Ensemble([t.model for t in translators], per_model))

