"""The formats corpora come in: TSV, Moses-style parallel files and JSON Lines, each plain or gzip'd.

Every reader streams its files a line at a time (a big corpus is never held as raw bytes and
text at once), takes a UTF-8 byte-order mark and CRLF line ends, skips blank lines and names
``file:line`` in any error, so one corpus reads to the same pairs whichever format it comes in.
A line is read ``data.max_line_bytes`` at most at a time, so a 2 GB line (a file that is not text,
a JSON record gone wrong) is an error naming it, never read whole; a ``.gz`` file may unpack to
``data.max_gzip_ratio`` times its size on disk (at least ``GZIP_FLOOR``), so a gzip bomb stops early.
Stdlib only: the config imports ``is_json_lines`` without pulling in torch.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from itertools import zip_longest
from pathlib import Path
from typing import IO, NamedTuple, Optional

from seq2seq_cli.config import DataConfig, is_json_lines
from seq2seq_cli.errors import DataError

_BOM = b"\xef\xbb\xbf"
Languages = tuple[Optional[str], Optional[str]]  # data.source_lang, data.target_lang
GZIP_FLOOR = 10 << 20  # a small .gz may always unpack this far: a tiny, very repetitive corpus is no bomb
_PIECE = 1 << 20  # the rest of an over-long line is read (and dropped) this much at a time


class Limits(NamedTuple):
    """How far a corpus file may go: bytes in a line, and how many times its size a .gz may unpack to."""

    line_bytes: int = DataConfig.max_line_bytes
    gzip_ratio: int = DataConfig.max_gzip_ratio

    @classmethod
    def of(cls, data: DataConfig) -> Limits:
        return cls(data.max_line_bytes, data.max_gzip_ratio)


DEFAULT_LIMITS = Limits()


class Pair(NamedTuple):
    source: str
    target: str
    line: int


def read_pairs(path: str | Path, languages: Languages = (None, None), limits: Limits = DEFAULT_LIMITS) -> list[Pair]:
    """A TSV (``source<TAB>target``) or JSON Lines file's pairs; a bad line is an error naming ``file:line``.

    JSON Lines is Hugging Face's translation shape, ``{"translation": {"en": ..., "fr": ...}}``:
    ``languages`` (``data.source_lang``, ``data.target_lang``) pick its two sides.
    """
    return list(iter_pairs(path, languages, limits))


def iter_pairs(path: str | Path, languages: Languages = (None, None), limits: Limits = DEFAULT_LIMITS) -> Iterator[Pair]:
    """``read_pairs`` a pair at a time, for corpora too big to hold (the same checks and errors)."""
    path = Path(path)
    if is_json_lines(path):
        source_lang, target_lang = _json_languages(path, languages)
        rows = (_json_pair(path, n, line, source_lang, target_lang) for n, line in enumerate(_lines(path, limits), 1))
        expected = f'{{"translation": {{"{source_lang}": ..., "{target_lang}": ...}}}} lines'
    else:
        rows = (_tsv_pair(path, n, line) for n, line in enumerate(_lines(path, limits), 1))
        expected = "source<TAB>target lines"
    return _some(path, (pair for pair in rows if pair is not None), expected)


def read_parallel(source: str | Path, target: str | Path, limits: Limits = DEFAULT_LIMITS) -> list[Pair]:
    """Moses-style parallel files: line N of ``source`` is translated by line N of ``target``.

    The two are read in step, so a file with more lines than the other is an error at its first
    extra line without reading either twice; a line blank on both sides is skipped, on one only
    it is an error (the files are out of step).
    """
    return list(iter_parallel(source, target, limits))


def iter_parallel(source: str | Path, target: str | Path, limits: Limits = DEFAULT_LIMITS) -> Iterator[Pair]:
    """``read_parallel`` a pair at a time."""
    source, target = Path(source), Path(target)
    return _some(source, _parallel_pairs(source, target, limits), f"one sentence a line, in step with {target}")


def _parallel_pairs(source: Path, target: Path, limits: Limits) -> Iterator[Pair]:
    for number, (src, tgt) in enumerate(zip_longest(_lines(source, limits), _lines(target, limits)), 1):
        if src is None or tgt is None:
            longer, side, shorter = (target, "target", source) if src is None else (source, "source", target)
            raise DataError(f"{longer}:{number}: {side} file has more lines than {shorter} ({number - 1})")
        pair = _parallel_pair(source, target, number, src, tgt)
        if pair is not None:
            yield pair


def _lines(path: Path, limits: Limits) -> Iterator[bytes]:
    """The file's lines without their ends (nor a leading BOM); a ``.gz`` file is decompressed as it is read.
    A line over ``limits.line_bytes``, or a .gz unpacking past its cap, is an error naming the line."""
    if not path.is_file():
        raise DataError(f"{path}: no such data file")
    gzipped, count, unpacked, size = path.name.lower().endswith(".gz"), 0, 0, path.stat().st_size
    cap = max(GZIP_FLOOR, limits.gzip_ratio * size) if gzipped else None
    try:
        with gzip.open(path, "rb") if gzipped else open(path, "rb") as handle:
            for count, (line, over) in enumerate(bounded_lines(handle, limits.line_bytes), 1):
                if over:
                    raise DataError(f"{path}:{count}: line longer than {limits.line_bytes:,} bytes (data.max_line_bytes)")
                unpacked += len(line)
                if cap is not None and unpacked > cap:
                    raise DataError(f"{path}:{count}: unpacks to over {cap:,} bytes, the most a {size:,}-byte .gz may "
                                    f"(data.max_gzip_ratio: {limits.gzip_ratio}, at least 10 MiB): a gzip bomb?")
                yield line.rstrip(b"\n").rstrip(b"\r")
    except (OSError, EOFError, zlib.error) as exc:
        if not gzipped:
            raise DataError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
        after = f" after line {count}" if count else ""
        raise DataError(f"{path}: corrupt gzip file{after} ({exc})") from None


def bounded_lines(handle: IO[bytes], limit: int) -> Iterator[tuple[bytes, bool]]:
    """Each line with its end (a leading BOM dropped), read ``limit`` bytes at most at a time: a longer line
    comes as ``(its first limit + 1 bytes, True)``, the rest still unread (``line_size`` measures it)."""
    first = True
    while line := handle.readline(limit + 1):
        if first and line.startswith(_BOM):
            line = line[len(_BOM):]
            if not line.endswith(b"\n"):
                line += handle.readline(len(_BOM))  # the line's first limit + 1 bytes, after all
        first = False
        yield line, len(line) > limit and not line.endswith(b"\n")


def line_size(handle: IO[bytes], head: bytes, limit: int) -> tuple[bytes, Optional[int]]:
    """After ``bounded_lines`` gave an over-long ``head``: the rest of its line read in pieces and dropped. Its first
    ``limit`` bytes and its length without the line end; or, when only a CRLF end made it long, the line and None."""
    size, tail = len(head), head[-2:]
    while piece := handle.readline(_PIECE):
        size, tail = size + len(piece), (tail + piece)[-2:]
        if piece.endswith(b"\n"):
            break
    size -= 2 if tail == b"\r\n" else 1 if tail.endswith(b"\n") else 0
    return (head + b"\n", None) if size <= limit else (head[:limit], size)


def _some(path: Path, pairs: Iterator[Pair], expected: str) -> Iterator[Pair]:
    """The pairs, then an error if there were none."""
    found = False
    for pair in pairs:
        found = True
        yield pair
    if not found:
        raise DataError(f"{path}: no sentence pairs found (expected {expected})")


def _decode(path: Path, number: int, line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}:{number}: not valid UTF-8 (byte {line[exc.start]:#04x} at column {exc.start + 1})") from None


def _check_sides(path: Path, number: int, source: str, target: str) -> Pair:
    for side, text in (("source", source), ("target", target)):
        if not text.strip():
            raise DataError(f"{path}:{number}: empty {side} side")
    return Pair(source, target, number)


def _tsv_pair(path: Path, number: int, line: bytes) -> Pair | None:
    if not line.strip():
        return None
    columns = _decode(path, number, line).split("\t")
    if len(columns) != 2:
        raise DataError(f"{path}:{number}: expected 2 tab-separated columns (source<TAB>target), found {len(columns)}")
    return _check_sides(path, number, *columns)


def _json_languages(path: Path, languages: Languages) -> tuple[str, str]:
    source_lang, target_lang = languages
    if not source_lang or not target_lang:
        raise DataError(f"{path}: JSON Lines needs data.source_lang and data.target_lang to pick its two sides")
    return source_lang, target_lang


def _json_pair(path: Path, number: int, line: bytes, source_lang: str, target_lang: str) -> Pair | None:
    if not line.strip():
        return None
    try:
        record = json.loads(_decode(path, number, line))
    except (ValueError, RecursionError) as exc:  # a decode error, a 5,000-digit number, nesting 10,000 deep
        reason = f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise DataError(f"{path}:{number}: not valid JSON ({reason})") from None
    translation = record.get("translation") if isinstance(record, dict) else None
    if not isinstance(translation, dict):
        raise DataError(f'{path}:{number}: expected {{"translation": {{"{source_lang}": ..., "{target_lang}": ...}}}}')
    texts = [_json_side(path, number, translation, lang, key)
             for lang, key in ((source_lang, "data.source_lang"), (target_lang, "data.target_lang"))]
    return _check_sides(path, number, *texts)


def _json_side(path: Path, number: int, translation: dict, lang: str, key: str) -> str:
    if lang not in translation:
        has = ", ".join(map(str, list(translation)[:8])) or "no languages"
        raise DataError(f'{path}:{number}: no "{lang}" ({key}) in "translation" (it has {has})')
    text = translation[lang]
    if not isinstance(text, str):
        raise DataError(f'{path}:{number}: "translation" "{lang}" must be a string, got {type(text).__name__}')
    return text


def _parallel_pair(source: Path, target: Path, number: int, src: bytes, tgt: bytes) -> Pair | None:
    if not src.strip() and not tgt.strip():
        return None
    texts = _decode(source, number, src), _decode(target, number, tgt)
    for path, other, side, text in ((source, target, "source", texts[0]), (target, source, "target", texts[1])):
        if not text.strip():
            raise DataError(f"{path}:{number}: empty {side} line, but {other}:{number} is not (are the files out of step?)")
    return Pair(texts[0], texts[1], number)
