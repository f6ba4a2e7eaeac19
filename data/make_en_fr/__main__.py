"""Command line: ``python data/make_en_fr [--out DIR] [--seed N]`` (or ``python -m make_en_fr`` from data/)."""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:
    # Run as a folder (python data/make_en_fr): Python put the package's own folder first on sys.path,
    # where its module names could shadow others; import it as the package it is, from data/, instead.
    HERE = Path(__file__).resolve().parent
    sys.path = [str(HERE.parent) if Path(p or ".").resolve() == HERE else p for p in sys.path]
    if str(HERE.parent) not in sys.path:
        sys.path.insert(0, str(HERE.parent))

from make_en_fr.writer import main  # noqa: E402  (needs data/ on sys.path when run as a folder)

if __name__ == "__main__":
    sys.exit(main())
