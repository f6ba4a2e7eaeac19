"""The validation split: which training pairs are held out when no ``data.val`` file is given.

One function draws it, for the cache (a mask over a count it streams, never the pairs in memory)
and for the in-memory preparation (``prepare.read_training_pairs``). The draws are those s2s has
always made, a ``random.Random(seed)`` shuffle of the row numbers, so a run's validation pairs
stay the same from one version to the next.
"""

from __future__ import annotations

import random
from array import array

import numpy as np


def held_out(count: int, fraction: float, seed: int) -> np.ndarray:
    """(count,) bool: the ``round(count * fraction)`` rows held out of train (none of a single pair).

    The order is shuffled in an ``array`` of 8-byte ints (a list of ints costs over four times as much
    for a corpus of millions); ``shuffle`` draws the same numbers for either, given the same length.
    """
    held = round(count * fraction) if count > 1 else 0
    order = array("q", range(count))
    random.Random(seed).shuffle(order)
    mask = np.zeros(count, dtype=bool)
    mask[np.frombuffer(order, dtype=np.int64)[:held]] = True
    return mask
