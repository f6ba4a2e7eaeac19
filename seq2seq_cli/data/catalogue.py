"""What the prepared-data cache holds, and emptying it (``s2s cache list``, ``s2s cache clear``).

An entry is finished when its ``meta.json`` exists (``cache.py`` writes it last); a folder without
one is a preparation that was interrupted (cleared like the rest) or one running now (left alone).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from seq2seq_cli.data.cache_entry import META
from seq2seq_cli.data.cache_work import is_live_build


@dataclass
class CacheEntry:
    folder: Path
    size_bytes: int
    pairs: int | None  # None: unfinished (no meta.json)
    created: str  # ISO time from meta.json, or "" when unfinished
    data: list[str]  # the data files it was prepared from

    def as_dict(self) -> dict:
        return {**asdict(self), "folder": str(self.folder)}


def cache_entries(root: Path) -> list[CacheEntry]:
    """Every entry under ``root``, newest first; none when the folder does not exist yet."""
    if not root.is_dir():
        return []
    entries = [_entry(folder) for folder in root.iterdir() if folder.is_dir()]
    return sorted(entries, key=lambda entry: entry.created, reverse=True)


def clear_cache(root: Path) -> tuple[int, int]:
    """Remove every entry (finished or not) under ``root``, but for preparations running now (``cache_work``):
    how many, and the bytes freed."""
    entries = [entry for entry in cache_entries(root) if not is_live_build(entry.folder)]
    for entry in entries:
        shutil.rmtree(entry.folder, ignore_errors=True)
    return len(entries), sum(entry.size_bytes for entry in entries)


def _entry(folder: Path) -> CacheEntry:
    size = sum(_size(f) for f in folder.rglob("*"))
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return CacheEntry(folder, size, None, "", [])
    files = meta.get("data_files") or {}
    data = [str(spec.get("path", key)) for key, spec in files.items() if isinstance(spec, dict)]
    return CacheEntry(folder, size, meta.get("pairs"), str(meta.get("created", "")), data)


def _size(path: Path) -> int:
    """A file's size; 0 for a folder, or a file a running preparation removed meanwhile."""
    try:
        return path.stat().st_size if path.is_file() else 0
    except OSError:
        return 0
