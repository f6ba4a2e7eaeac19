"""Word alignments in the Pharaoh format (``0-0 2-1 1-2``: source-target index pairs).

Gold links come from ``.align`` files beside a corpus; hard links are read off an attention or
attribution matrix. Decoding writes them, evaluation and the explorer score them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from seq2seq_cli.errors import DataError

Alignment = set[tuple[int, int]]  # (source index, target index)


def read_alignments(path: str | Path, count: int) -> list[Alignment]:
    """Pharaoh lines (``0-0 1-2 2-1``: source-target index pairs), one per sentence pair."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such alignment file")
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) != count:
        raise DataError(f"{path}: {len(lines)} alignment lines for {count} sentence pairs")
    return [_parse_alignment(path, number, line) for number, line in enumerate(lines, 1)]


def _parse_alignment(path: Path, number: int, line: str) -> Alignment:
    try:
        return {(int(s), int(t)) for s, t in (link.split("-") for link in line.split())}
    except ValueError:
        raise DataError(f"{path}:{number}: expected links like 0-0 1-2, got {line[:40]!r}") from None


def hard_alignment(weights: torch.Tensor) -> list[tuple[int, int]]:
    """(source, target) links: each target word to the source word it attends to most.
    weights: (target words, source words)."""
    return [(int(s), t) for t, s in enumerate(weights.argmax(dim=1).tolist())]


def pharaoh(links: Sequence[tuple[int, int]]) -> str:
    """Links as Pharaoh text, ``0-0 2-1 1-2`` (source-target), sorted by target word."""
    return " ".join(f"{s}-{t}" for s, t in sorted(links, key=lambda link: (link[1], link[0])))
