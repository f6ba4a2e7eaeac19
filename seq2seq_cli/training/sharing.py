"""Sharing the cores with other processes: fewer torch threads while others keep cores busy.

torch's OpenMP threads meet at a barrier in every parallel region. When two processes with two
threads each share two cores, a thread reaching the barrier waits (spinning) for a partner that the
scheduler has just taken off its core, and most of the machine's time is lost: on a 2-core AMD EPYC,
two trainings side by side ran at 25% of one solo run *together*; with one thread each, at 131%
(bench/SHARING.md). No OpenMP setting fixes both cases: waiting without spinning (``GOMP_SPINCOUNT=0``)
shares well but costs a run alone a third of its speed there.

So a training run with ``train.threads: 0`` (the default) on the CPU looks every few seconds at how
many cores other processes keep busy, and trains with the cores left over (at least one); alone, it
keeps them all. On the machines measured, a GRU's weights after one epoch are bitwise the same with
one thread as with two, so a change of thread count changes the speed, not the result. A
``train.threads`` set in the config is kept as set, and so is a distributed run's.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from seq2seq_cli.system import CoreUse

LOOK_EVERY_S = 1.0  # between readings of the machine's CPU use
AGREEING_LOOKS = 2  # a new thread count must be what this many readings in a row ask for


def threads_beside(others: float, cores: int) -> int:
    """The thread count that fits beside ``others`` cores of other work: the free cores, at least one."""
    return max(1, min(cores, round(cores - others)))


class FairShare:
    """Watches the cores other processes use and sets torch's thread count to what is left of them."""

    def __init__(self, cores: int, enabled: bool, say: Callable[[str], None]):
        self.cores = cores  # the run's thread count when it has the machine to itself
        self.threads = cores
        self.enabled = enabled and cores > 1
        self.say = say
        self.use = CoreUse() if self.enabled else None
        self.next_look = time.monotonic() + LOOK_EVERY_S
        self.asked: list[int] = []  # the latest readings' thread counts
        self.changes = 0

    def poll(self) -> None:
        """Called after every update; reads the machine every ``LOOK_EVERY_S`` seconds at most."""
        if not self.enabled or time.monotonic() < self.next_look:
            return
        self.next_look = time.monotonic() + LOOK_EVERY_S
        others = self.use.others()
        if others is None:
            return
        self.asked = [*self.asked, threads_beside(others, self.cores)][-AGREEING_LOOKS:]
        wanted = self.asked[0]
        if len(self.asked) == AGREEING_LOOKS and all(n == wanted for n in self.asked) and wanted != self.threads:
            self._set(wanted, others)

    def _set(self, threads: int, others: float) -> None:
        torch.set_num_threads(threads)
        self.threads, self.changes = threads, self.changes + 1
        if threads < self.cores:
            self.say(f"sharing the CPU: {threads} of {self.cores} threads while other processes keep "
                     f"{others:.1f} cores busy (train.threads sets a fixed count)")
        else:
            self.say(f"the CPU is free again: back to {threads} threads")
