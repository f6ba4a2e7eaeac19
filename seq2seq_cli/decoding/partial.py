"""``translate --output`` never loses work: it is written as ``OUTPUT.partial``, renamed at the end.

An existing OUTPUT stays as it was until the rename. On an error or Ctrl-C the records written so
far stay in ``OUTPUT.partial`` and the message says how to go on: the same command with
``--resume`` counts the records kept (records, not lines: an n-best group, a JSON line), cuts off
an unfinished last one (a line without its newline; under n-best the last group, which may lack
hypotheses: it is translated again), skips that many input lines and appends the rest. Resuming
with no partial file starts from the first line, so a retry loop can always pass ``--resume``;
an existing partial file without ``--resume`` is refused, not overwritten.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Optional

from seq2seq_cli.errors import DataError, S2SError

FORMS = {"text": "one translation a line", "nbest": "--nbest", "json": "--json"}
_STARTS = {"nbest": b"0 ||| ", "json": b'{"source": '}  # how each form's first record begins
_BLOCK = 1 << 20


class Stopped(S2SError):
    """Ctrl-C: what was translated is kept, and the message says how to finish."""

    label = "stopped"
    exit_code = 130


class NotItsOutput(DataError):
    """A partial file that cannot be the start of this command's output: resuming would mix two."""


def partial_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.partial")


@dataclass
class Sink:
    """Where the records go (stdout, or ``OUTPUT.partial``), flushed after every chunk; ``done``: records a
    resumed translation found kept."""

    handle: IO[str]
    path: Optional[Path] = None
    done: int = 0

    def write(self, lines: list[str]) -> None:
        try:
            self.handle.write("".join(line + "\n" for line in lines))
            self.handle.flush()
        except BrokenPipeError:
            raise  # the reader went away (`| head`): the command line ends quietly, not with an error
        except OSError as exc:
            raise S2SError(f"{self.path or 'stdout'}: cannot write ({exc.strerror})") from None


@contextmanager
def output_sink(path: Optional[Path], form: str = "text", resume: bool = False,
                written: Callable[[], int] = lambda: 0) -> Iterator[Sink]:
    """A ``Sink`` to stdout, or to ``OUTPUT.partial`` renamed to OUTPUT at the end. An error or Ctrl-C keeps
    the partial file (when it holds anything) and says so: ``written()`` is how many records this run wrote."""
    if path is None:
        yield Sink(sys.stdout)
        return
    handle, done = _open(path, form, resume)
    partial = partial_path(path)
    try:
        with handle:
            yield Sink(handle, path, done)
            os.fsync(handle.fileno())  # on disk before the rename makes it OUTPUT (power loss too)
    except BaseException as exc:
        kept = done + written()
        if kept == 0:
            partial.unlink(missing_ok=True)
        if kept == 0 or isinstance(exc, NotItsOutput) or not isinstance(exc, (S2SError, KeyboardInterrupt)):
            raise
        raise _kept(exc, partial, kept) from None
    os.replace(partial, path)


def _open(path: Path, form: str, resume: bool) -> tuple[IO[str], int]:
    partial = partial_path(path)
    if partial.exists() and not resume:
        raise S2SError(f"{partial}: an unfinished translation into {path.name} is kept there: add --resume to finish "
                       "it, or delete it to start again")
    done = resume_point(partial, form) if resume and partial.is_file() else 0
    try:
        return open(partial, "a" if done else "w", encoding="utf-8", newline="\n"), done
    except OSError as exc:
        raise S2SError(f"{path}: cannot write ({exc.strerror})") from None


def _kept(exc: BaseException, partial: Path, kept: int) -> S2SError:
    how = f"the first {kept:,} lines' translations are kept in {partial}: run the same command with --resume to finish"
    if isinstance(exc, KeyboardInterrupt):
        return Stopped(f"interrupted; {how}")
    error = S2SError(f"{exc}; {how}")
    error.label, error.exit_code = exc.label, exc.exit_code
    return error


def skip_lines(lines: Iterable[str], count: int, partial: Path) -> Iterator[str]:
    """The lines after the first ``count``, whose records ``partial`` holds; too few lines is an error."""
    iterator = iter(lines)
    for seen in range(count):
        if next(iterator, None) is None:
            raise NotItsOutput(f"{partial}: holds {count:,} translations but the input has {seen:,} lines: not its "
                               "translation (delete it to start again)")
    yield from iterator


def resume_point(partial: Path, form: str) -> int:
    """How many records ``partial`` holds, the file cut after the last whole one (see the module's docstring)."""
    with open(partial, "r+b") as handle:
        end = _last_line_end(handle)
        handle.truncate(end)
        handle.seek(0)
        first = handle.readline(64)
        if first and next((f for f, start in _STARTS.items() if first.startswith(start)), "text") != form:
            raise NotItsOutput(f"{partial}: not {FORMS[form]} output ({first[:20]!r}...): was it written with "
                               "other options? (delete it to start again)")
        if form != "nbest":
            return _count_lines(handle, end)
        start, index = _last_group(handle, end, partial)
        handle.truncate(start)
        return index


def _last_line_end(handle: IO[bytes]) -> int:
    """Where the last whole line ends (after its newline): 0 when there is none."""
    end = handle.seek(0, os.SEEK_END)
    while end > 0:
        start = max(0, end - _BLOCK)
        handle.seek(start)
        found = handle.read(end - start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        end = start
    return 0


def _count_lines(handle: IO[bytes], end: int) -> int:
    handle.seek(0)
    count = 0
    while end > 0 and (block := handle.read(min(_BLOCK, end))):
        count, end = count + block.count(b"\n"), end - len(block)
    return count


def _last_group(handle: IO[bytes], end: int, partial: Path) -> tuple[int, int]:
    """Where the last n-best group starts and its index, which is also how many whole groups come before it."""
    if end == 0:
        return 0, 0
    size = _BLOCK
    while True:
        start = max(0, end - size)
        handle.seek(start)
        lines = handle.read(end - start).split(b"\n")[:-1]
        offset, index = end, _index(lines[-1], partial)
        for line in reversed(lines[1:] if start else lines):
            if _index(line, partial) != index:
                return offset, index
            offset -= len(line) + 1
        if start == 0:
            return 0, index
        size *= 4


def _index(line: bytes, partial: Path) -> int:
    try:
        return int(line.split(b" ||| ", 1)[0])
    except ValueError:
        raise NotItsOutput(f"{partial}: {line[:20]!r}... is not an n-best line: was it written with other options? "
                           "(delete it to start again)") from None
