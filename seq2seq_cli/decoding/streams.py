"""Translating files and streams of any length: in chunks, in constant memory, in input order.

A chunk of lines is read, sorted by length into batches (``Translator.translate_tokens``: similar
lengths waste little padding), translated, put back in input order and written before the next
chunk is read, so memory holds one chunk however long the file is. From a pipe, a chunk is
whatever has arrived (at least one line): ``tail -f log | s2s translate -`` answers each line as
it comes, while ``s2s translate - < big.txt`` still gets full chunks. Every line gets one record,
whatever it holds: a line too long is cropped or skipped (fitting.py) and one that fails ends the
stream only after the lines before it are written (partial.py keeps them for ``--resume``).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import BinaryIO, Optional

from seq2seq_cli.data.corpora import DEFAULT_LIMITS, bounded_lines, line_size
from seq2seq_cli.errors import DataError, S2SError

CHUNK_LINES = 10_000  # enough for length-sorted batches to pad little; a few MB of translations in memory


@dataclass
class Summary:
    """What a translation of many lines did: for the closing line on stderr."""

    lines: int = 0  # records written (by this process: --resume counts on from what was kept)
    with_unknown: int = 0  # lines with words the vocabulary does not know
    noted: int = 0  # lines cropped, skipped or left empty
    seconds: float = 0.0


def read_lines(path: Path, max_bytes: int = DEFAULT_LIMITS.line_bytes) -> Iterator[str]:
    """The file's lines, decoded one by one: a bad byte is an error naming ``file:line``, found where it is;
    a line over ``max_bytes`` comes as its first ``max_bytes`` (``fitting.Oversized``), never read whole."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise S2SError(f"{path}: no such file") from None
    except OSError as exc:
        raise S2SError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        yield from decoded_lines(handle, str(path), max_bytes)


def decoded_lines(handle: BinaryIO, name: str, max_bytes: int) -> Iterator[str]:
    """``read_lines`` from an open binary stream (stdin's buffer: a line is given as soon as it has arrived)."""
    from seq2seq_cli.decoding.fitting import Oversized

    for number, (raw, over) in enumerate(bounded_lines(handle, max_bytes), 1):
        size = None
        if over:
            raw, size = line_size(handle, raw, max_bytes)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            if size is None or exc.start < len(raw) - 3 or exc.reason != "unexpected end of data":
                where = f"byte 0x{raw[exc.start]:02x} at column {exc.start + 1}"
                raise DataError(f"{name}:{number}: not valid UTF-8 ({where})") from None
            text = raw[: exc.start].decode("utf-8")  # the crop cut a character in two
        yield text.rstrip("\r\n") if size is None else Oversized(text, size, max_bytes)


def count_lines(path: Path) -> int:
    """Lines in a file, counted in 1 MB blocks (fast: a million lines in well under a second)."""
    count, last = 0, b"\n"
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            count, last = count + block.count(b"\n"), block[-1:]
    return count + (last != b"\n")


def file_chunks(lines: Iterable[str], size: int = CHUNK_LINES, done: int = 0) -> Iterator[list[str]]:
    """Consecutive chunks of ``size`` lines (the last one shorter). After ``done`` lines (``--resume``) the first
    is shorter, so the rest are the chunks an uninterrupted run translated. A line that cannot be read (a bad
    byte) is raised after the lines before it in its chunk are given."""
    iterator, want = iter(lines), size - done % size
    while True:
        chunk: list[str] = []
        try:
            for line in islice(iterator, want):
                chunk.append(line)
        except S2SError:
            if chunk:
                yield chunk
            raise
        if not chunk:
            return
        yield chunk
        want = size


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


def translate_stream(
    translator, chunks: Iterable[list[str]], write: Callable[[list[str]], None], render: Callable[..., list[str]],
    warn: Optional[Callable[[str], None]], progress: Optional[Callable[[int], None]] = None, on_long: str = "crop",
    summary: Optional[Summary] = None, first_line: int = 1,
) -> Summary:
    """Translate chunk after chunk, each written before the next is read; lines numbered across chunks from
    ``first_line``. ``render(lines, outputs, first_index, errors)`` makes the output lines; ``warn`` (None: quiet)
    hears about each line with unknown words, or cropped or skipped (``on_long``); ``progress``, how many lines
    each chunk held. ``summary`` (given: the caller sees how far it got when an error ends it) counts them.
    A line that fails ends it after the lines before it are written."""
    import time

    from seq2seq_cli.decoding.lines import translate_chunk

    summary, start = summary or Summary(), time.perf_counter()
    heard: list[tuple[bool, str]] = []  # (a note about the line, not its unknown words; the message)
    for chunk in chunks:
        heard.clear()
        done = translate_chunk(translator, chunk, lambda m: heard.append((False, m)), first_line + summary.lines,
                               on_long, note=lambda m: heard.append((True, m)))
        lines = chunk[: len(done.outputs)]
        write(render(lines, done.outputs, first_line - 1 + summary.lines, done.errors))
        summary.lines += len(lines)
        summary.noted += sum(noted for noted, _ in heard)
        summary.with_unknown += sum(not noted for noted, _ in heard)
        for _, message in heard if warn is not None else ():
            warn(message)
        if progress is not None:
            progress(len(lines))
        if done.failed is not None:
            raise done.failed
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
