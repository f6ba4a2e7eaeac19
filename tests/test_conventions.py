"""The habits users bring from Unix filters, sacrebleu, Marian and fairseq, kept by every command:
stdin when no text is given, one spelling per option, the chosen run said aloud, Moses n-best lines,
a device and a batch size, parallel test files and JSON scores, a quiet end on a closed pipe,
choices the shell can complete, NO_COLOR, and old spellings that still work for one release."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer

from seq2seq_cli.cli import app
from tests.conftest import ROOT, SEED_PAIRS, run_cli
from tests.test_bad_input import assert_one_line_error

OLD_RUN = ROOT / "tests" / "fixtures" / "run-before-layers"  # a tiny trained run: no training needed
S2S = [sys.executable, "-m", "seq2seq_cli"]


def command(name: str):
    return typer.main.get_command(app).commands[name]


def option(name: str, flag: str):
    (found,) = [p for p in command(name).params if flag in getattr(p, "opts", [])]
    return found


@pytest.fixture
def two_runs(tmp_path) -> Path:
    """Two copies of the tiny run; ``newer`` started training last."""
    for name in ("older", "newer"):
        shutil.copytree(OLD_RUN, tmp_path / name)
    stamp = time.time()
    os.utime(tmp_path / "older" / "config.yaml", (stamp - 60, stamp - 60))
    os.utime(tmp_path / "newer" / "config.yaml", (stamp, stamp))
    return tmp_path


def test_translate_reads_stdin_when_no_text_is_given_and_stdin_is_a_pipe():
    result = run_cli("translate", "--run", str(OLD_RUN), input="i am a student\nhe is a teacher\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["je suis etudiant", "il est professeur"]


@pytest.mark.parametrize("name", ["translate", "evaluate"])
def test_output_is_output_o_everywhere(name):
    assert option(name, "--output").opts == ["--output", "-o"]


@pytest.mark.parametrize("name", ["attend", "average", "compare"])
def test_the_commands_that_said_out_say_output_o(name):
    assert option(name, "--output").opts == ["--output", "-o"]


@pytest.mark.parametrize("name", ["translate", "evaluate", "attend", "serve", "average", "export", "compare", "train"])
def test_the_run_is_run_r_everywhere(name):
    assert option(name, "--run").opts == ["--run", "-r"]
    arguments = [p for p in command(name).params if not p.opts[0].startswith("-") and "run" in p.name]
    assert all(p.hidden for p in arguments), "a RUN argument beside --run is the old spelling only"


def test_old_spellings_still_work_with_one_warning(tmp_path):
    picture = tmp_path / "old.png"
    result = run_cli("attend", "--run", str(OLD_RUN), "--out", str(picture), "i am a student")
    assert result.exit_code == 0, result.output
    assert picture.is_file()
    assert result.stderr.count("deprecated") == 1 and "use --output" in result.stderr
    both = run_cli("attend", "--run", str(OLD_RUN), "--out", str(picture), "-o", str(picture), "i am a student")
    assert_one_line_error(both, "--out is the old spelling of --output")


def test_the_newest_of_several_runs_is_named_on_stderr(two_runs):
    result = run_cli("translate", "--runs-dir", str(two_runs), "i am a student")
    assert result.exit_code == 0, result.output
    assert result.stdout == "je suis etudiant\n"
    assert f"using {two_runs / 'newer'}, the newest of 2 runs" in result.stderr
    shutil.rmtree(two_runs / "older")
    alone = run_cli("translate", "--runs-dir", str(two_runs), "i am a student")
    assert alone.exit_code == 0 and alone.stderr == ""


def test_nbest_lines_are_moses_four_fields_and_align_a_fifth():
    result = run_cli("translate", "--run", str(OLD_RUN), "--beam", "3", "--nbest", "2", "i am a student")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for line in lines:
        index, text, features, total = line.split(" ||| ")
        assert index == "0" and text
        name, model_score = features.split()
        assert name == "F0=" and float(model_score) <= 0 and float(total) <= 0
    aligned = run_cli("translate", "--run", str(OLD_RUN), "--beam", "3", "--nbest", "2", "--align", "i am a student")
    fields = aligned.stdout.splitlines()[0].split(" ||| ")
    assert len(fields) == 5 and all("-" in link for link in fields[4].split())


def test_device_and_batch_size(tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("".join(f"{s}\n" for s, _ in SEED_PAIRS), encoding="utf-8")
    default = run_cli("translate", "--run", str(OLD_RUN), "--input", str(source))
    one_by_one = run_cli("translate", "--run", str(OLD_RUN), "--input", str(source), "--batch-size", "1", "--device", "cpu")
    assert default.exit_code == one_by_one.exit_code == 0
    assert one_by_one.stdout == default.stdout
    assert option("translate", "--device").default == "cpu"  # the CPU default is unchanged
    missing = [d for d in ("cuda", "mps") if not _available(d)]
    for device in missing:
        assert_one_line_error(run_cli("translate", "--run", str(OLD_RUN), "--device", device, "x"),
                              f"--device: {device} is not available on this machine")


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="no CUDA GPU on this machine")
def test_translating_on_cuda_gives_what_the_cpu_gives():
    cpu = run_cli("translate", "--run", str(OLD_RUN), "--device", "cpu", "i am a student")
    cuda = run_cli("translate", "--run", str(OLD_RUN), "--device", "cuda", "i am a student")
    assert cuda.exit_code == 0 and cuda.stdout == cpu.stdout


def _available(device: str) -> bool:
    import torch

    return torch.cuda.is_available() if device == "cuda" else torch.backends.mps.is_available()


def test_evaluate_takes_parallel_files_and_prints_json(tmp_path):
    pairs = tmp_path / "test.tsv"
    pairs.write_text("".join(f"{s}\t{t}\n" for s, t in SEED_PAIRS), encoding="utf-8")
    (tmp_path / "test.en").write_text("".join(f"{s}\n" for s, _ in SEED_PAIRS), encoding="utf-8")
    (tmp_path / "test.fr").write_text("".join(f"{t}\n" for _, t in SEED_PAIRS), encoding="utf-8")
    run = tmp_path / "run"
    shutil.copytree(OLD_RUN, run)
    tsv = run_cli("evaluate", "--run", str(run), "--data", str(pairs), "--json")
    parallel = run_cli("evaluate", "--run", str(run), "--src", str(tmp_path / "test.en"), "--ref", str(tmp_path / "test.fr"),
                       "--json")
    assert tsv.exit_code == parallel.exit_code == 0, tsv.output + parallel.output
    by_tsv, by_files = json.loads(tsv.stdout), json.loads(parallel.stdout)
    assert by_tsv["sentences"] == by_files["sentences"] == 5
    assert by_tsv["bleu"] == by_files["bleu"] and by_tsv["chrf"] == by_files["chrf"]
    assert (run / "test.hyp.txt").is_file() and (run / "test.eval.json").is_file()
    assert_one_line_error(run_cli("evaluate", "--run", str(run), "--src", str(tmp_path / "test.en")), "--src SOURCES --ref")


def test_a_closed_pipe_ends_quietly(tmp_path):
    source = tmp_path / "big.txt"
    source.write_text("i am a student\n" * 20000, encoding="utf-8")
    process = subprocess.Popen([*S2S, "translate", "--run", str(OLD_RUN), "--input", str(source), "--chunk", "100"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.readline() == b"je suis etudiant\n"
    process.stdout.close()  # `| head -n 1`
    _, errors = process.communicate(timeout=120)
    assert process.returncode == 0
    assert errors == b""


@pytest.mark.parametrize("name, flag, choices", [
    ("translate", "--engine", ["torch", "onnx", "onnx-int8"]),
    ("translate", "--device", ["auto", "cpu", "cuda", "mps"]),
    ("attend", "--style", ["grid", "annotated"]),
    ("compare", "--metric", ["bleu", "chrf", "loss"]),
    ("compare", "--x", ["step", "minutes"]),
    ("export", "--format", ["onnx"]),
])
def test_choices_complete_in_the_shell(name, flag, choices):
    completions = option(name, flag).shell_complete(typer.Context(command(name)), "")
    assert [item.value for item in completions] == choices
    assert_one_line_error(run_cli(name, flag, "nope"), f"Invalid value for '{flag}'", "'nope' is not one of")


def test_no_color_is_respected():
    env = {**os.environ, "FORCE_COLOR": "1", "COLUMNS": "200"}
    coloured = subprocess.run([*S2S, "translate", "--run", "no-such-run", "x"], cwd=ROOT, env=env, capture_output=True)
    assert b"\x1b[" in coloured.stderr  # a terminal gets colour: so the check below can fail
    plain = subprocess.run([*S2S, "translate", "--run", "no-such-run", "x"], cwd=ROOT, env={**env, "NO_COLOR": "1"},
                           capture_output=True)
    assert plain.returncode == 2 and b"\x1b[" not in plain.stderr and plain.stderr.startswith(b"error: ")


def test_the_cache_lives_in_the_user_cache_folder_and_can_be_listed_and_cleared(tmp_path, monkeypatch):
    monkeypatch.delenv("S2S_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)  # not in the folder the user stands in
    seed = str(ROOT / "data" / "seed.tsv")
    trained = run_cli("train", "-c", str(ROOT / "configs" / "seed.yaml"), "--set", f"data.train={seed}", "--set",
                      f"data.val={seed}", "--set", "train.epochs=2", "--set", f"train.runs_dir={tmp_path / 'runs'}")
    assert trained.exit_code == 0, trained.output
    assert not (tmp_path / ".s2s-cache").exists()
    root = tmp_path / "xdg" / "s2s" / "prepared"
    listed = run_cli("cache", "list", "--json")
    assert listed.exit_code == 0, listed.output
    (entry,) = json.loads(listed.stdout)
    assert Path(entry["folder"]).parent == root and entry["pairs"] == 5 and entry["data"] == [seed, seed]
    cleared = run_cli("cache", "clear")
    assert cleared.exit_code == 0 and "removed 1 prepared corpora" in cleared.stderr
    assert json.loads(run_cli("cache", "list", "--json").stdout) == []
    monkeypatch.setenv("S2S_CACHE_DIR", str(tmp_path / "mine"))  # the variable still moves it
    assert run_cli("cache", "list").stderr.strip() == f"the cache {tmp_path / 'mine'}/ is empty"
