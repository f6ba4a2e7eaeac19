"""Translating big files and streams in chunks, and the interactive prompt, as a user meets them:
files in, files out, a progress bar on a terminal only, errors that keep earlier output intact."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seq2seq_cli.decoding import streams
from tests.conftest import ROOT, SEED_PAIRS, run_cli
from tests.test_bad_input import assert_one_line_error

SOURCES = [source for source, _ in SEED_PAIRS]


def mixed_file(tmp_path: Path, lines: int = 23) -> tuple[Path, list[str]]:
    """Lines of differing lengths (so sorting by length reorders them) with blank lines among them."""
    rows = []
    for i in range(lines):
        rows.append("" if i % 7 == 3 else " ".join([SOURCES[i % 5]] + ["a"] * (i % 4)))
    path = tmp_path / "in.txt"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path, rows


def translate_file(run_dir: Path, source: Path, target: Path, *options: str):
    result = run_cli("translate", "--run", str(run_dir), "--input", str(source), "--output", str(target), *options)
    assert result.exit_code == 0, result.output
    return target.read_text(encoding="utf-8").splitlines()


def test_chunks_give_the_same_lines_in_the_same_order_as_one_batch(seed_run, tmp_path):
    source, rows = mixed_file(tmp_path)
    whole = translate_file(seed_run, source, tmp_path / "whole.txt", "--chunk", "100000")
    chunked = translate_file(seed_run, source, tmp_path / "chunked.txt", "--chunk", "4")
    assert chunked == whole and len(whole) == len(rows)
    assert [line == "" for line in whole] == [row == "" for row in rows]  # blank stays blank, in place
    for row, out in zip(rows[:5], whole[:5]):
        if row:
            assert out == run_cli("translate", "--run", str(seed_run), row).stdout.strip()


def test_nbest_numbers_run_on_across_chunks(seed_run, tmp_path):
    source, rows = mixed_file(tmp_path, 9)
    lines = translate_file(seed_run, source, tmp_path / "out.txt", "--chunk", "2", "--nbest", "2")
    numbers = sorted({int(line.split(" ||| ")[0]) for line in lines})
    assert numbers == list(range(len(rows)))  # one group a line: a blank one is the empty group
    assert [line for line in lines if line.startswith("3 ")] == ["3 |||  ||| F0= -inf ||| -inf"]


def test_a_chunk_is_written_before_the_next_is_read(seed_run):
    """Constant memory: the lines held are one chunk's, whatever the file's length."""
    from seq2seq_cli.decoding.lines import render_lines
    from seq2seq_cli.decoding.translator import Translator

    consumed, seen_at_write = [], []

    def lines():
        for i in range(10):
            consumed.append(i)
            yield SOURCES[i % 5]

    translator = Translator.from_run(seed_run)
    summary = streams.translate_stream(
        translator, streams.file_chunks(lines(), 3), lambda out: seen_at_write.append((len(consumed), len(out))),
        lambda chunk, outputs, first, errors: render_lines(chunk, outputs, 1, False), warn=None,
    )
    assert seen_at_write == [(3, 3), (6, 3), (9, 3), (10, 1)]
    assert summary.lines == 10


def test_an_error_half_way_leaves_the_previous_output_file_as_it_was(seed_run, tmp_path):
    source = tmp_path / "in.txt"
    source.write_bytes(("\n".join(SOURCES) + "\n").encode() * 2 + b"caf\xe9\n")
    target = tmp_path / "out.txt"
    target.write_text("yesterday's translations\n", encoding="utf-8")
    result = run_cli("translate", "--run", str(seed_run), "--input", str(source), "--output", str(target), "--chunk", "3")
    assert_one_line_error(result, f"{source}:11: not valid UTF-8 (byte 0xe9 at column 4)",
                          f"the first 10 lines' translations are kept in {target}.partial", "--resume")
    assert target.read_text(encoding="utf-8") == "yesterday's translations\n"
    assert len((tmp_path / "out.txt.partial").read_text(encoding="utf-8").splitlines()) == 10  # the lines before it
    source.write_bytes(source.read_bytes().replace(b"\xe9", b"e"))  # fixed, the same command finishes it
    resumed = run_cli("translate", "--run", str(seed_run), "--input", str(source), "--output", str(target), "--chunk", "3",
                      "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert target.read_text(encoding="utf-8").splitlines() == translate_file(seed_run, source, tmp_path / "again.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.txt", "in.txt", "out.txt"]  # no partial file left


def test_an_error_on_the_first_line_leaves_no_partial_file(seed_run, tmp_path):
    source = tmp_path / "in.txt"
    source.write_bytes(b"caf\xe9\n")
    result = run_cli("translate", "--run", str(seed_run), "--input", str(source), "--output", str(tmp_path / "out.txt"))
    assert_one_line_error(result, f"{source}:1: not valid UTF-8")
    assert "--resume" not in result.stderr and sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]


def test_quiet_sums_up_unknown_words_in_one_line(seed_run, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("she is a dentist\ni am a student\nhe is a pilot\n", encoding="utf-8")
    loud = run_cli("translate", "--run", str(seed_run), "--input", str(source))
    assert loud.stderr.count("unknown words read as <unk>") == 2 and "line 3: " in loud.stderr
    quiet = run_cli("translate", "--run", str(seed_run), "--input", str(source), "--quiet")
    assert quiet.stdout == loud.stdout
    assert quiet.stderr.strip().splitlines() == [
        "warning: 2 of 3 lines have unknown words, read as <unk> (without --quiet: which)"
    ]


def test_stdin_redirected_from_a_file_translates_it_all(seed_run, tmp_path):
    source, rows = mixed_file(tmp_path)
    result = run_cli("translate", "--run", str(seed_run), "-", "--chunk", "5", input=source.read_text())
    assert result.stdout.splitlines() == translate_file(seed_run, source, tmp_path / "out.txt")


def test_count_lines_counts_a_last_line_without_newline(tmp_path):
    for text, count in [("", 0), ("a", 1), ("a\n", 1), ("a\nb", 2), ("\n\n", 2)]:
        (tmp_path / "f").write_text(text)
        assert streams.count_lines(tmp_path / "f") == count


def test_piped_interactive_session_shows_translations_attention_and_survives_errors(seed_run, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    typed = f"i am a student\n{'word ' * 300}\nshe is a dentist\n"
    result = run_cli("translate", "--run", str(seed_run), "--interactive", "--attend", input=typed)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "je suis etudiant" in out and "elle est medecin" in out  # the session went on after the error
    assert "error: " in out and "300" in out  # the over-long sentence, reported at the prompt
    assert "warning: unknown words read as <unk>: dentist" in out
    header = next(line for line in out.splitlines() if "student" in line)
    assert all(word in header for word in ("i", "am", "a", "student"))  # the attention table's columns
    assert (tmp_path / "s2s" / "history").read_text().splitlines()[-1] == "she is a dentist"


def test_attend_outside_the_prompt_is_an_error(seed_run):
    assert_one_line_error(run_cli("translate", "--run", str(seed_run), "--attend", "hi"), "--interactive")


class Terminal:
    """A process on a pseudo-terminal: what a user sees and types."""

    def __init__(self, command: list[str], env: dict, stdin_tty: bool = True):
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=slave if stdin_tty else subprocess.DEVNULL, stdout=slave, stderr=slave,
        )
        os.close(slave)
        self.seen = b""

    def wait_for(self, text: str, timeout: float = 60, times: int = 1) -> str:
        """Until ``text`` has been seen ``times`` times."""
        deadline = time.monotonic() + timeout
        while self.seen.count(text.encode()) < times:
            assert time.monotonic() < deadline, f"never saw {text!r} in {self.seen.decode(errors='replace')!r}"
            if select.select([self.master], [], [], 0.2)[0]:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:  # the process ended and the terminal closed
                    break
        return self.seen.decode(errors="replace")

    def read_to_end(self, timeout: float = 60) -> str:
        """Everything the process writes until it ends."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if select.select([self.master], [], [], 0.2)[0]:
                try:
                    self.seen += os.read(self.master, 65536)
                    continue
                except OSError:  # the process ended and the terminal closed
                    break
            if self.process.poll() is not None:
                break
        return self.seen.decode(errors="replace")

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> int:
        code = self.process.wait(timeout=60)
        os.close(self.master)
        return code


def s2s(*args: str) -> list[str]:
    return [sys.executable, "-m", "seq2seq_cli", *args]


@pytest.fixture
def terminal_env(tmp_path):
    return {**os.environ, "XDG_STATE_HOME": str(tmp_path), "COLUMNS": "120", "TERM": "xterm"}


def test_no_sentence_on_a_terminal_opens_the_prompt(seed_run, terminal_env, tmp_path):
    terminal = Terminal(s2s("translate", "--run", str(seed_run)), terminal_env)
    try:
        terminal.wait_for("s2s> ")
        terminal.type("he is a teacher\n")
        terminal.wait_for("il est professeur")
        terminal.wait_for("s2s> ", times=2)  # the prompt is back (readline reads keys): before it, ^D could be lost
        terminal.type("\x04")  # Ctrl-D
        assert terminal.close() == 0
    finally:
        terminal.process.kill()
    assert (tmp_path / "s2s" / "history").read_text().splitlines() == ["he is a teacher"]


def test_a_progress_bar_on_a_terminal_and_none_when_quiet(seed_run, terminal_env, tmp_path):
    source, _ = mixed_file(tmp_path, 40)
    for options, shown in (((), True), (("--quiet",), False)):
        target = tmp_path / "out.txt"
        command = s2s("translate", "--run", str(seed_run), "--input", str(source), "--output", str(target), "--chunk", "8",
                      *options)
        terminal = Terminal(command, terminal_env, stdin_tty=False)
        try:
            seen = terminal.read_to_end()
            assert terminal.close() == 0
        finally:
            terminal.process.kill()
        assert ("sentences/s" in seen and "40/40" in seen) == shown, seen
        assert len(target.read_text().splitlines()) == 40
