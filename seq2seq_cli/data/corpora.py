"""The formats corpora come in: TSV, Moses-style parallel files and JSON Lines, each plain or gzip'd.

Every reader streams its files a line at a time (a big corpus is never held as raw bytes and
text at once), takes a UTF-8 byte-order mark and CRLF line ends, skips blank lines and names
``file:line`` in any error, so one corpus reads to the same pairs whichever format it comes in.
Stdlib only: the config imports ``is_json_lines`` without pulling in torch.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from itertools import zip_longest
from pathlib import Path
from typing import NamedTuple, Optional

from seq2seq_cli.config import is_json_lines
from seq2seq_cli.errors import DataError

_BOM = b"\xef\xbb\xbf"
Languages = tuple[Optional[str], Optional[str]]  # data.source_lang, data.target_lang


class Pair(NamedTuple):
    source: str
    target: str
    line: int


def read_pairs(path: str | Path, languages: Languages = (None, None)) -> list[Pair]:
    """A TSV (``source<TAB>target``) or JSON Lines file's pairs; a bad line is an error naming ``file:line``.

    JSON Lines is Hugging Face's translation shape, ``{"translation": {"en": ..., "fr": ...}}``:
    ``languages`` (``data.source_lang``, ``data.target_lang``) pick its two sides.
    """
    return list(iter_pairs(path, languages))


def iter_pairs(path: str | Path, languages: Languages = (None, None)) -> Iterator[Pair]:
    """``read_pairs`` a pair at a time, for corpora too big to hold (the same checks and errors)."""
    path = Path(path)
    if is_json_lines(path):
        source_lang, target_lang = _json_languages(path, languages)
        rows = (_json_pair(path, n, line, source_lang, target_lang) for n, line in enumerate(_lines(path), 1))
        expected = f'{{"translation": {{"{source_lang}": ..., "{target_lang}": ...}}}} lines'
    else:
        rows = (_tsv_pair(path, n, line) for n, line in enumerate(_lines(path), 1))
        expected = "source<TAB>target lines"
    return _some(path, (pair for pair in rows if pair is not None), expected)


def read_parallel(source: str | Path, target: str | Path) -> list[Pair]:
    """Moses-style parallel files: line N of ``source`` is translated by line N of ``target``.

    The two are read in step, so a file with more lines than the other is an error at its first
    extra line without reading either twice; a line blank on both sides is skipped, on one only
    it is an error (the files are out of step).
    """
    return list(iter_parallel(source, target))


def iter_parallel(source: str | Path, target: str | Path) -> Iterator[Pair]:
    """``read_parallel`` a pair at a time."""
    source, target = Path(source), Path(target)
    return _some(source, _parallel_pairs(source, target), f"one sentence a line, in step with {target}")


def _parallel_pairs(source: Path, target: Path) -> Iterator[Pair]:
    for number, (src, tgt) in enumerate(zip_longest(_lines(source), _lines(target)), 1):
        if src is None or tgt is None:
            longer, side, shorter = (target, "target", source) if src is None else (source, "source", target)
            raise DataError(f"{longer}:{number}: {side} file has more lines than {shorter} ({number - 1})")
        pair = _parallel_pair(source, target, number, src, tgt)
        if pair is not None:
            yield pair


def _lines(path: Path) -> Iterator[bytes]:
    """The file's lines without their ends (nor a leading BOM); a ``.gz`` file is decompressed as it is read."""
    if not path.is_file():
        raise DataError(f"{path}: no such data file")
    gzipped, count = path.name.lower().endswith(".gz"), 0
    try:
        with gzip.open(path, "rb") if gzipped else open(path, "rb") as handle:
            for count, line in enumerate(handle, 1):
                if count == 1 and line.startswith(_BOM):
                    line = line[len(_BOM):]
                yield line.rstrip(b"\n").rstrip(b"\r")
    except (OSError, EOFError, zlib.error) as exc:
        if not gzipped:
            raise DataError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
        after = f" after line {count}" if count else ""
        raise DataError(f"{path}: corrupt gzip file{after} ({exc})") from None


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
