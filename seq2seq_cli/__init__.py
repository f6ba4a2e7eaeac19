"""s2s: train attention-based sequence-to-sequence translation models and see their attention."""

import os
from importlib import metadata

DISTRIBUTION = "seq2seq-cli"  # the name on the package index; the command stays `s2s`
try:
    __version__ = metadata.version(DISTRIBUTION)  # written once, in pyproject.toml
except metadata.PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0+unknown"

# torch's OpenMP threads (GNU libgomp) spin up to 300,000 times waiting for work or at a barrier.
# When another process shares the cores, a spinning thread burns the time slice its partner
# needs: two trainings on a 2-core machine ran at 12% of one solo run *together*. 10,000 spins
# (tens of microseconds) keep the hand-offs between torch's parallel regions fast for a run
# alone and give up the core soon enough for a neighbour on the Intel Xeon (bench/SIDE_BY_SIDE.md);
# on the AMD EPYC it was not enough, and training also drops to the cores other processes leave
# (training/sharing.py, bench/SHARING.md). Set before torch loads (s2s imports it lazily); a
# user's own GOMP_SPINCOUNT or OMP_WAIT_POLICY wins.
SPIN_COUNT_IS_OURS = "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ
if SPIN_COUNT_IS_OURS:
    os.environ["GOMP_SPINCOUNT"] = "10000"


def wait_passively() -> None:
    """No spinning at all (before torch loads): for ``s2s serve``, whose event loop must parse the next
    requests while torch decodes; spinning threads starved it into batches of 10 instead of 25
    (bench/SERVE.md). A user's own setting still wins."""
    if SPIN_COUNT_IS_OURS:
        os.environ["GOMP_SPINCOUNT"] = "0"

# The Python API (seq2seq_cli/api.py), loaded on first use so that `s2s --help` never imports torch.
__all__ = ["AttentionMap", "Hypothesis", "Model", "Result", "load", "train", "__version__"]


def __getattr__(name: str):
    if name in __all__:
        from seq2seq_cli import api

        return getattr(api, name)
    raise AttributeError(f"module 'seq2seq_cli' has no attribute {name!r}")
