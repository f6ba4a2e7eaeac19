"""File translation never loses work (issue 30): a line too long for the model is cropped, skipped or an
error naming it, every input line gets one record, and what an error or Ctrl-C stopped is kept in
OUTPUT.partial for ``--resume`` to finish, to the output an uninterrupted run writes."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from seq2seq_cli.decoding import partial, streams
from tests.conftest import ROOT, SEED_PAIRS, run_cli
from tests.test_bad_input import assert_one_line_error

OLD_RUN = ROOT / "tests" / "fixtures" / "run-before-layers"  # a tiny trained run (location attention, width 10)
SOURCES = [source for source, _ in SEED_PAIRS]
LONG = " ".join(["i am a student"] * 15_000)  # 60,000 tokens: over decode.max_input_len (256) and the width (10)
CROPPED = " ".join(LONG.split()[:10])  # what the model reads of it


def rows_with_a_long_line(count: int = 1001, at: int = 501) -> list[str]:
    rows = [" ".join([SOURCES[i % 5]] + ["a"] * (i % 4)) for i in range(count)]
    rows[at - 1] = LONG
    return rows


def write_rows(path: Path, rows: list[str]) -> Path:
    path.write_text("".join(row + "\n" for row in rows), encoding="utf-8")
    return path


def translate(source: Path, target: Path, *options: str, run: Path = OLD_RUN):
    return run_cli("translate", "--run", str(run), "--input", str(source), "--output", str(target), *options)


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def one_sentence(text: str, *options: str) -> str:
    result = run_cli("translate", "--run", str(OLD_RUN), *options, text)
    assert result.exit_code == 0, result.output
    return result.stdout.rstrip("\n")


def test_a_60000_token_line_is_cropped_with_a_warning_and_the_other_1000_lines_are_translated(tmp_path):
    source = write_rows(tmp_path / "in.txt", rows_with_a_long_line())
    result = translate(source, tmp_path / "out.txt")
    assert result.exit_code == 0, result.output
    out = lines_of(tmp_path / "out.txt")
    assert len(out) == 1001
    assert out[500] == one_sentence(CROPPED)
    assert out[499] == one_sentence(rows_with_a_long_line()[499]) and out[501] == one_sentence(rows_with_a_long_line()[501])
    assert result.stderr.splitlines() == [
        "warning: line 501: 60,000 tokens, more than the 10 this model reads (data.max_len: location attention's width): "
        "cropped to its first 10 tokens"
    ]


def test_skip_leaves_one_empty_record_in_every_format(tmp_path):
    source = write_rows(tmp_path / "in.txt", rows_with_a_long_line())
    plain = translate(source, tmp_path / "plain.txt", "--on-long", "skip")
    assert plain.exit_code == 0, plain.output
    assert "line 501: 60,000 tokens" in plain.stderr and "skipped, its output left empty" in plain.stderr
    out = lines_of(tmp_path / "plain.txt")
    assert len(out) == 1001 and out[500] == "" and all(out[:500]) and all(out[501:])

    assert translate(source, tmp_path / "out.jsonl", "--on-long", "skip", "--json").exit_code == 0
    records = [json.loads(line) for line in lines_of(tmp_path / "out.jsonl")]
    assert len(records) == 1001 and [r["source"] for r in records] == rows_with_a_long_line()
    assert records[500]["hypotheses"] == [] and records[500]["error"].startswith("60,000 tokens, more than the 10")
    assert all("error" not in r and r["hypotheses"] for i, r in enumerate(records) if i != 500)

    assert translate(source, tmp_path / "out.nbest", "--on-long", "skip", "--nbest", "2", "--beam", "2").exit_code == 0
    groups: dict[int, list[list[str]]] = {}
    for line in lines_of(tmp_path / "out.nbest"):
        fields = line.split(" ||| ")
        groups.setdefault(int(fields[0]), []).append(fields)
    assert sorted(groups) == list(range(1001))
    assert groups[500] == [["500", "", "F0= -inf", "-inf"]]  # the empty group: other tools read -inf as a number
    assert float(groups[500][0][3]) == float(groups[500][0][2].split()[1]) == -math.inf
    assert all(len(group) == 2 for index, group in groups.items() if index != 500)


def test_fail_names_the_line_keeps_the_lines_before_it_and_resume_finishes_as_an_uninterrupted_run(tmp_path):
    source, target = write_rows(tmp_path / "in.txt", rows_with_a_long_line()), tmp_path / "out.txt"
    target.write_text("last week's\n", encoding="utf-8")
    failed = translate(source, target, "--on-long", "fail", "--chunk", "64")
    assert_one_line_error(failed, "line 501: input has 60000 tokens", f"the first 500 lines' translations are kept in "
                          f"{target}.partial: run the same command with --resume to finish")
    assert lines_of(target) == ["last week's"]  # untouched until a translation is whole
    assert translate(source, tmp_path / "whole.txt", "--chunk", "64").exit_code == 0
    whole = lines_of(tmp_path / "whole.txt")
    assert lines_of(tmp_path / "out.txt.partial") == whole[:500]
    refused = translate(source, target, "--chunk", "64")  # without --resume: the kept work is not overwritten
    assert_one_line_error(refused, f"{target}.partial: an unfinished translation into out.txt", "--resume")
    resumed = translate(source, target, "--chunk", "64", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert lines_of(target) == whole and not (tmp_path / "out.txt.partial").exists()


@pytest.mark.parametrize("form", [("--nbest", "2", "--beam", "2"), ("--json",)], ids=["nbest", "json"])
def test_resume_counts_records_not_lines(tmp_path, form):
    source, target = write_rows(tmp_path / "in.txt", rows_with_a_long_line(300, 201)), tmp_path / "out.txt"
    assert translate(source, target, "--on-long", "fail", "--chunk", "50", *form).exit_code == 2
    assert translate(source, tmp_path / "whole.txt", "--chunk", "50", *form).exit_code == 0
    if form[0] == "--nbest":  # an interruption mid-write: a torn last line, maybe a group short of hypotheses
        kept = tmp_path / "out.txt.partial"
        kept.write_bytes(kept.read_bytes()[:-25])
    resumed = translate(source, target, "--chunk", "50", "--resume", *form)
    assert resumed.exit_code == 0, resumed.output
    assert target.read_text(encoding="utf-8") == (tmp_path / "whole.txt").read_text(encoding="utf-8")


def test_resume_without_a_partial_file_starts_from_the_first_line(tmp_path):
    source = write_rows(tmp_path / "in.txt", SOURCES)
    result = translate(source, tmp_path / "out.txt", "--resume")
    assert result.exit_code == 0, result.output
    assert result.stderr == f"no {tmp_path / 'out.txt.partial'} to resume: translating from the first line\n"
    assert len(lines_of(tmp_path / "out.txt")) == 5


def test_resume_refuses_what_cannot_be_this_output(tmp_path):
    source = write_rows(tmp_path / "in.txt", SOURCES)
    assert_one_line_error(run_cli("translate", "--run", str(OLD_RUN), "--input", str(source), "--resume"),
                          "--resume finishes a translation of --input FILE (or stdin) into --output FILE")
    (tmp_path / "out.txt.partial").write_text("0 ||| je ||| F0= -1.0 ||| -1.0\n", encoding="utf-8")
    assert_one_line_error(translate(source, tmp_path / "out.txt", "--resume"), "out.txt.partial: not one translation a "
                          "line output", "delete it to start again")
    (tmp_path / "out.txt.partial").write_text("je\n" * 9, encoding="utf-8")
    assert_one_line_error(translate(source, tmp_path / "out.txt", "--resume"),
                          "out.txt.partial: holds 9 translations but the input has 5 lines: not its translation")
    assert (tmp_path / "out.txt.partial").read_text(encoding="utf-8") == "je\n" * 9


def test_partial_files_are_cut_after_their_last_whole_record(tmp_path):
    kept = tmp_path / "out.partial"
    kept.write_bytes(b"a\nb\nc")
    assert partial.resume_point(kept, "text") == 2 and kept.read_bytes() == b"a\nb\n"
    kept.write_bytes(b"0 ||| a ||| F0= -1 ||| -1\n0 ||| b ||| F0= -2 ||| -2\n1 |||  ||| F0= -inf ||| -inf\n2 ||| c")
    assert partial.resume_point(kept, "nbest") == 1  # group 1 might have lacked a hypothesis: done again
    assert kept.read_bytes().count(b"\n") == 2
    kept.write_bytes(b"")
    assert partial.resume_point(kept, "json") == 0


def test_stdin_goes_on_past_a_long_line(tmp_path):
    typed = f"i am a student\n{LONG}\nhe is a teacher\n"
    result = run_cli("translate", "--run", str(OLD_RUN), "-", input=typed)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [one_sentence("i am a student"), one_sentence(CROPPED), one_sentence("he is a teacher")]
    assert "warning: line 2: 60,000 tokens" in result.stderr and "cropped" in result.stderr
    skipped = run_cli("translate", "--run", str(OLD_RUN), "-", "--on-long", "skip", input=typed)
    assert skipped.stdout.splitlines() == [one_sentence("i am a student"), "", one_sentence("he is a teacher")]


def test_a_line_over_max_line_bytes_is_cropped_never_read_whole(tmp_path):
    huge = ("i am a student " * 80_000).strip()  # 1.2 MB: over data.max_line_bytes (1 MiB)
    source = write_rows(tmp_path / "in.txt", ["he is a teacher", huge, "she is a doctor"])
    result = translate(source, tmp_path / "out.txt")
    assert result.exit_code == 0, result.output
    assert lines_of(tmp_path / "out.txt")[1] == one_sentence(CROPPED)
    assert result.stderr.splitlines() == [
        "warning: line 2: 1,199,999 bytes, more than data.max_line_bytes (1,048,576): cropped to its first 10 tokens"]
    skipped = translate(source, tmp_path / "skipped.txt", "--on-long", "skip")
    assert lines_of(tmp_path / "skipped.txt")[1] == "" and "skipped" in skipped.stderr

    (tmp_path / "big.txt").write_bytes(b"x" * (20 << 20) + b"\nhi\n")  # one 20 MiB line
    tracemalloc.start()
    read = list(streams.read_lines(tmp_path / "big.txt"))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [len(line) for line in read] == [1 << 20, 2] and read[0].size == 20 << 20
    assert peak < 6 << 20, f"{peak:,} bytes held to read a 20 MiB line"


def test_a_sentence_too_long_is_still_an_error_unless_told(tmp_path, monkeypatch):
    assert_one_line_error(run_cli("translate", "--run", str(OLD_RUN), LONG), "input has 60000 tokens")
    cropped = run_cli("translate", "--run", str(OLD_RUN), "--on-long", "crop", LONG)
    assert cropped.exit_code == 0 and cropped.stdout.strip() == one_sentence(CROPPED)
    assert "warning: 60,000 tokens" in cropped.stderr
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    prompt = run_cli("translate", "--run", str(OLD_RUN), "--interactive", "--on-long", "crop", input=f"{LONG}\n")
    assert prompt.exit_code == 0 and one_sentence(CROPPED) in prompt.stdout and "cropped" in prompt.stdout


def _hears_ctrl_c() -> None:
    """SIGINT as a terminal's foreground job has it: a shell starts background jobs (a CI script's, say)
    with SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_keeps_the_partial_file_and_resume_finishes_it_identically(tmp_path):
    rows = [" ".join([SOURCES[i % 5]] + ["a"] * (i % 4)) for i in range(20_000)]
    source, target = write_rows(tmp_path / "in.txt", rows), tmp_path / "out.txt"
    kept = tmp_path / "out.txt.partial"
    options = ("--chunk", "200", "--beam", "1")
    process = subprocess.Popen([sys.executable, "-m", "seq2seq_cli", "translate", "--run", str(OLD_RUN), "--input",
                                str(source), "--output", str(target), *options], cwd=ROOT, stderr=subprocess.PIPE,
                               preexec_fn=_hears_ctrl_c)
    deadline = time.monotonic() + 120
    while not (kept.exists() and kept.stat().st_size) and process.poll() is None:
        assert time.monotonic() < deadline, "no chunk was ever written"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    errors = process.communicate(timeout=120)[1].decode()
    assert process.returncode == 130, errors
    assert errors.startswith("stopped: interrupted; the first ") and "--resume" in errors and len(errors.splitlines()) == 1
    assert not target.exists() and 0 < len(lines_of(kept)) < len(rows)
    resumed = translate(source, target, *options, "--resume")
    assert resumed.exit_code == 0, resumed.output
    unique = write_rows(tmp_path / "unique.txt", sorted(set(rows)))  # what an uninterrupted run writes for each line
    assert translate(unique, tmp_path / "unique.out", *options).exit_code == 0
    answer = dict(zip(sorted(set(rows)), lines_of(tmp_path / "unique.out")))
    assert lines_of(target) == [answer[row] for row in rows] and not kept.exists()



def test_crop_keeps_what_decode_max_input_len_allows():
    from seq2seq_cli.decoding.lines import translate_chunk
    from seq2seq_cli.decoding.translator import Translator

    translator = Translator.from_run(OLD_RUN).with_decoding(max_input_len=6)  # narrower than the width (10)
    heard: list[str] = []
    done = translate_chunk(translator, ["he is a teacher", LONG], heard.append, first_line=41)
    assert heard == ["line 42: 60,000 tokens, more than the 6 this model reads (decode.max_input_len): "
                     "cropped to its first 6 tokens"]
    assert done.outputs[1][0].source == LONG.split()[:6] and done.failed is None
    assert done.outputs[1][0].text == translator.translate([" ".join(LONG.split()[:6])])[0].text
