"""Checking a prepared-cache entry before it is trusted, and sealing a new one so that it can be checked.

Training reads sentences by the offsets and lengths an entry holds, and allocates by its lengths: a
damaged entry (a disk error, a copy cut short, a file edited by hand) must never make it read past a
file or ask for a huge allocation. So ``meta.json`` lists every file of the entry with its size (the
arrays with their dtype and shape, the small files with their sha256) and carries a checksum of itself;
an entry is opened only when all of that matches and each side's offsets and lengths agree with one
another and with its ids file. ``cache.py`` prepares a damaged entry again, with a warning.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from seq2seq_cli.data.cache_entry import META
from seq2seq_cli.data.cache_work import LOCK
from seq2seq_cli.data.dataset import SIDES
from seq2seq_cli.runs import fsync_file

ROWS_AT_ONCE = 1 << 20  # pairs of offsets and lengths checked at a time: bounded memory for any corpus


def seal(meta: dict, work: Path) -> dict:
    """``meta`` with every file in ``work`` listed (each fsynced: on disk before ``meta.json`` says it is) and
    the checksum of it all."""
    files = {}
    for path in sorted(work.iterdir()):
        if path.name in (META, LOCK) or not path.is_file():
            continue
        fsync_file(path)
        entry: dict = {"size": path.stat().st_size}
        if path.suffix == ".npy":
            dtype, shape, _ = _array_header(path)
            entry.update(dtype=dtype.str, shape=list(shape))
        else:
            entry["sha256"] = _sha256(path)
        files[path.name] = entry
    sealed = json.loads(json.dumps({**meta, "files": files}))  # as it will read back
    sealed["checksum"] = _checksum(sealed)
    return sealed


def damage(folder: Path) -> str | None:
    """Why the entry in ``folder`` cannot be trusted, in a few words; None when it can."""
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("checksum") != _checksum(meta):
            return f"{META} does not match its checksum"
        for name, expected in meta["files"].items():
            wrong = _file_damage(folder / name, expected)
            if wrong:
                return f"{name}: {wrong}"
        for side in SIDES:
            wrong = _index_damage(folder, side, meta["pairs"], meta["max_len"])
            if wrong:
                return wrong
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"unreadable ({type(exc).__name__}: {exc})"
    return None


def _file_damage(path: Path, expected: dict) -> str | None:
    """What is wrong with one listed file (size; an array's header; a small file's sha256), or None."""
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if size != expected["size"]:
        return f"{size:,} bytes, {expected['size']:,} expected"
    if "sha256" in expected:
        return "content changed (sha256)" if _sha256(path) != expected["sha256"] else None
    dtype, shape, offset = _array_header(path)
    if dtype.str != expected["dtype"] or list(shape) != expected["shape"]:
        return f"{dtype.str} {list(shape)}, {expected['dtype']} {expected['shape']} expected"
    if offset + dtype.itemsize * int(np.prod(shape)) != size:
        return "header and size disagree"
    return None


def _index_damage(folder: Path, side: str, pairs: int, max_len: int) -> str | None:
    """Whether one side's offsets are its lengths summed, within its ids file, every length at most ``max_len``."""
    lengths = np.load(folder / f"{side}.lengths.npy", mmap_mode="r")
    offsets = np.load(folder / f"{side}.offsets.npy", mmap_mode="r")
    tokens = _array_header(folder / f"{side}.ids.npy")[1]
    if lengths.shape != (pairs,) or offsets.shape != (pairs,) or len(tokens) != 1:
        return f"{side}: {pairs:,} pairs in {META}, arrays of shapes {lengths.shape}, {offsets.shape}, {tokens}"
    if lengths.dtype.kind != "u" or offsets.dtype != np.int64:
        return f"{side}: unexpected dtypes {lengths.dtype}, {offsets.dtype}"
    total = 0
    for start in range(0, pairs, ROWS_AT_ONCE):
        chunk = np.asarray(lengths[start : start + ROWS_AT_ONCE], dtype=np.int64)
        if chunk.size and int(chunk.max()) > max_len:
            return f"{side}.lengths.npy: a length of {int(chunk.max()):,} (data.max_len is {max_len})"
        expected = total + np.concatenate([[0], np.cumsum(chunk[:-1])])
        if not np.array_equal(np.asarray(offsets[start : start + ROWS_AT_ONCE]), expected):
            return f"{side}.offsets.npy does not match {side}.lengths.npy"
        total += int(chunk.sum())
    if total != tokens[0]:
        return f"{side}: the lengths add up to {total:,} tokens, {side}.ids.npy holds {tokens[0]:,}"
    return None


def _array_header(path: Path) -> tuple[np.dtype, tuple, int]:
    """An ``.npy`` file's dtype, shape and where its data starts, read from its header alone."""
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"unknown .npy version {version}")
        if fortran or dtype.hasobject:
            raise ValueError("not a plain C-ordered array")
        return dtype, tuple(shape), handle.tell()


def _checksum(meta: dict) -> str:
    rest = {key: value for key, value in meta.items() if key != "checksum"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


