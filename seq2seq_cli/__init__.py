"""s2s: train attention-based sequence-to-sequence translation models and see their attention."""

import os

__version__ = "0.1.0"

# torch's OpenMP threads (GNU libgomp) spin up to 300,000 times while waiting at a barrier.
# When another process shares the cores, a spinning thread burns the time slice its partner
# needed: two trainings on a 2-core machine ran 25x slower each instead of 2x. 1,000 spins is
# what libgomp itself uses once it knows the cores are oversubscribed; it cannot know that
# another process does it. Set before torch loads (it is imported lazily); a user's own
# GOMP_SPINCOUNT or OMP_WAIT_POLICY wins. Measurements: bench/CONCURRENT.md.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "1000")
