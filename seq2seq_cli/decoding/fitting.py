"""What becomes of a line the model cannot take as it is (``s2s translate --on-long``).

A line longer than the model reads (``decode.max_input_len`` tokens, or location attention's
fixed width) or than a line may be (``data.max_line_bytes``) is cropped to what fits (the
default, as Marian's ``--max-length-crop``), skipped (its record left empty, as
``fairseq-interactive`` skips it) or an error naming it, so one bad line of a million never costs
the others. Each cropped or skipped line is one warning naming it.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

from seq2seq_cli.errors import DataError

ON_LONG = ("crop", "skip", "fail")


class TooLong(DataError):
    """Input longer than the model takes: its tokens, the most it takes and the setting that says so."""

    def __init__(self, message: str, tokens: list[str], limit: int, key: str):
        super().__init__(message)
        self.tokens, self.limit, self.key = tokens, limit, key


class Oversized(str):
    """A line longer than ``data.max_line_bytes``: its first ``limit`` bytes, decoded, and its full ``size``
    (the rest was read in pieces and dropped, never held)."""

    size: int
    limit: int

    def __new__(cls, text: str, size: int, limit: int) -> Oversized:
        line = super().__new__(cls, text)
        line.size, line.limit = size, limit
        return line


class Fitted(NamedTuple):
    """A line as the model will read it."""

    tokens: Optional[list[str]]  # None: nothing to translate, its record stays empty
    note: Optional[str] = None  # the warning about it: cropped, skipped, left empty
    error: Optional[str] = None  # why its record is empty (--json's "error")


def fit_line(translator, line: str, where: str, on_long: str, lenient: bool) -> Fitted:
    """The tokens ``line`` is translated from under ``on_long`` (crop, skip, fail); ``where`` ("line 7: " or "")
    starts every message. ``lenient`` (files, stdin): any other line the model cannot take is an empty record
    and a warning, not an error."""
    too_long = None
    try:
        tokens = translator.tokens(line)
    except TooLong as exc:
        tokens, too_long = exc.tokens, exc
    except DataError as exc:
        if not lenient:
            raise DataError(f"{where}{exc}") from None
        return Fitted(None, f"{where}{exc}: its output left empty", str(exc))
    if not isinstance(line, Oversized) and too_long is None:
        return Fitted(tokens)
    if isinstance(line, Oversized):
        reason = f"{line.size:,} bytes, more than data.max_line_bytes ({line.limit:,})"
    else:
        reason = f"{len(tokens):,} tokens, more than the {too_long.limit:,} this model reads ({too_long.key})"
    if on_long == "fail":
        detail = str(too_long) if too_long is not None and not isinstance(line, Oversized) else reason
        raise DataError(f"{where}{detail}")
    if on_long == "skip":
        return Fitted(None, f"{where}{reason}: skipped, its output left empty (--on-long skip)", reason)
    if too_long is None:
        return Fitted(tokens, f"{where}{reason}: cropped to its first {line.limit:,} bytes")
    return Fitted(tokens[: too_long.limit], f"{where}{reason}: cropped to its first {too_long.limit:,} tokens")
