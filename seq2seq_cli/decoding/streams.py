"""Translating files and streams of any length: in chunks, in constant memory, in input order.

A chunk of lines is read, sorted by length into batches (``Translator.translate_tokens``: similar
lengths waste little padding), translated, put back in input order and written before the next
chunk is read, so memory holds one chunk however long the file is. From a pipe, a chunk is
whatever has arrived (at least one line): ``tail -f log | s2s translate -`` answers each line as
it comes, while ``s2s translate - < big.txt`` still gets full chunks.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Optional

from seq2seq_cli.errors import DataError, S2SError

CHUNK_LINES = 10_000  # enough for length-sorted batches to pad little; a few MB of translations in memory


@dataclass
class Summary:
    """What a translation of many lines did: for the closing line on stderr."""

    lines: int = 0
    with_unknown: int = 0  # lines with words the vocabulary does not know
    seconds: float = 0.0


def read_lines(path: Path) -> Iterator[str]:
    """The file's lines, decoded one by one: a bad byte is an error naming ``file:line``, found where it is."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise S2SError(f"{path}: no such file") from None
    except OSError as exc:
        raise S2SError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        for number, raw in enumerate(handle, 1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                where = f"byte 0x{raw[exc.start]:02x} at column {exc.start + 1}"
                raise DataError(f"{path}:{number}: not valid UTF-8 ({where})") from None


def count_lines(path: Path) -> int:
    """Lines in a file, counted in 1 MB blocks (fast: a million lines in well under a second)."""
    count, last = 0, b"\n"
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            count, last = count + block.count(b"\n"), block[-1:]
    return count + (last != b"\n")


def file_chunks(lines: Iterable[str], size: int = CHUNK_LINES) -> Iterator[list[str]]:
    """Consecutive chunks of ``size`` lines (the last one shorter)."""
    iterator = iter(lines)
    while chunk := list(islice(iterator, size)):
        yield chunk


def arrived_chunks(lines: Iterable[str], size: int = CHUNK_LINES) -> Iterator[list[str]]:
    """Chunks of the lines that have arrived so far (at least one, at most ``size``) from a stream that may pause.

    A reader thread fills a bounded queue, so memory stays bounded however fast the input comes.
    """
    arrived: queue.Queue = queue.Queue(maxsize=2 * size)
    finished = object()

    def read() -> None:
        try:
            for line in lines:
                arrived.put(line)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which raises it
            arrived.put(exc)
        arrived.put(finished)

    threading.Thread(target=read, daemon=True).start()
    while True:
        chunk, item = [], arrived.get()  # wait for the next line, however long it takes
        while item is not finished and not isinstance(item, BaseException):
            chunk.append(item)
            if len(chunk) == size:
                break
            try:
                item = arrived.get_nowait()
            except queue.Empty:
                break
        if chunk:
            yield chunk
        if item is finished:
            return
        if isinstance(item, BaseException):
            raise item


@contextmanager
def output_sink(path: Optional[Path]) -> Iterator[Callable[[list[str]], None]]:
    """A writer of output lines, flushed after every chunk; to a file, through a temporary file renamed at the
    end, so an error half-way leaves an existing output file as it was."""
    if path is None:
        yield lambda lines: _write(sys.stdout, lines)
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        handle = open(temporary, "w", encoding="utf-8")
    except OSError as exc:
        raise S2SError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with handle:
            yield lambda lines: _write(handle, lines, path)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _write(handle: IO[str], lines: list[str], path: Optional[Path] = None) -> None:
    try:
        handle.write("".join(line + "\n" for line in lines))
        handle.flush()
    except BrokenPipeError:
        raise  # the reader went away (`| head`): the command line ends quietly, not with an error
    except OSError as exc:
        raise S2SError(f"{path or 'stdout'}: cannot write ({exc.strerror})") from None


def translate_stream(
    translator, chunks: Iterable[list[str]], write: Callable[[list[str]], None], render: Callable[..., list[str]],
    warn: Optional[Callable[[str], None]], progress: Optional[Callable[[int], None]] = None,
) -> Summary:
    """Translate chunk after chunk, each written before the next is read; lines numbered across chunks.

    ``render(lines, outputs, first_index)`` makes the output lines; ``warn`` (None: quiet) hears about
    each line with unknown words; ``progress`` hears how many lines each chunk held.
    """
    import time

    from seq2seq_cli.decoding.translator import translate_lines

    summary, start = Summary(), time.perf_counter()
    unknown: list[str] = []
    for chunk in chunks:
        unknown.clear()
        outputs = translate_lines(translator, chunk, unknown.append, True, first_line=summary.lines + 1)
        write(render(chunk, outputs, summary.lines))
        if warn is not None:
            for message in unknown:
                warn(message)
        summary.lines += len(chunk)
        summary.with_unknown += len(unknown)
        if progress is not None:
            progress(len(chunk))
    summary.seconds = time.perf_counter() - start
    return summary


@contextmanager
def progress_bar(total: Optional[int], shown: bool) -> Iterator[tuple[Optional[Callable[[int], None]], Callable[[str], None]]]:
    """A rich bar with sentences/s and ETA on stderr (when ``shown``), and a warn function that prints above it."""
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True, highlight=False, soft_wrap=True)

    def warn(message: str) -> None:
        console.print(f"[yellow]warning:[/] {escape(message)}")

    if not shown:
        yield None, warn
        return
    with Progress(
        TextColumn("[bold]translating"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} sentences/s"), TimeRemainingColumn(), console=console, transient=False,
    ) as bar:
        task = bar.add_task("translating", total=total, rate="-")

        def advance(lines: int) -> None:
            bar.advance(task, lines)
            speed = bar.tasks[0].speed
            bar.update(task, rate=f"{speed:,.0f}" if speed else "-")

        yield advance, warn
