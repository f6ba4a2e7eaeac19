"""The user's story: train the notebook's five pairs, translate them, draw the attention."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SEED_PAIRS, run_cli


def test_training_writes_a_self_describing_run_folder(seed_run):
    names = {p.name for p in seed_run.iterdir()}
    assert {"config.yaml", "vocab.src.txt", "vocab.tgt.txt", "best.pt", "last.pt", "metrics.jsonl", "curves.png"} <= names
    records = [json.loads(line) for line in (seed_run / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 60 and records[-1]["val_loss"] < records[0]["val_loss"]
    assert not [p for p in seed_run.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("source,target", SEED_PAIRS)
def test_the_five_pairs_translate_exactly_and_stop(seed_run, runs_dir, source, target):
    result = run_cli("translate", "--runs-dir", str(runs_dir), source)
    assert result.exit_code == 0, result.output
    assert result.stdout == target + "\n"


def test_stdin_translates_one_sentence_a_line(seed_run, runs_dir):
    sources = "\n".join(s for s, _ in SEED_PAIRS) + "\n"
    result = run_cli("translate", "--runs-dir", str(runs_dir), "-", input=sources)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [t for _, t in SEED_PAIRS]


def test_file_in_file_out_keeps_blank_lines(seed_run, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("he is a teacher\n\nshe is a doctor\n", encoding="utf-8")
    target = tmp_path / "out.txt"
    result = run_cli("translate", "--run", str(seed_run), "--input", str(source), "--output", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8") == "il est professeur\n\nelle est medecin\n"


def test_unknown_words_warn_and_still_translate(seed_run, runs_dir):
    result = run_cli("translate", "--runs-dir", str(runs_dir), "she is a dentist")
    assert result.exit_code == 0
    assert "unknown words read as <unk>: dentist" in result.stderr
    assert result.stdout.strip()


@pytest.mark.parametrize("suffix,magic", [(".png", b"\x89PNG\r\n\x1a\n"), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_attend_writes_the_image_type_of_the_extension(seed_run, runs_dir, tmp_path, suffix, magic):
    out = tmp_path / f"heatmap{suffix}"
    result = run_cli("attend", "--runs-dir", str(runs_dir), "--output", str(out), "she is a doctor")
    assert result.exit_code == 0, result.output
    assert result.stdout == "elle est medecin\n"
    assert out.read_bytes().startswith(magic)


@pytest.mark.parametrize("style", ["grid", "annotated"])
def test_attend_png_is_a_readable_image_for_both_styles(seed_run, runs_dir, tmp_path, style):
    import matplotlib.image

    out = tmp_path / "heatmap.png"
    result = run_cli("attend", "--runs-dir", str(runs_dir), "--output", str(out), "--style", style)
    assert result.exit_code == 0, result.output
    height, width, _ = matplotlib.image.imread(out).shape
    assert height > 200 and width > 200


def test_set_overrides_a_key_and_the_resolved_config_is_saved(tmp_path):
    import yaml

    result = run_cli(
        "train", "--config", "configs/seed.yaml", "--set", "train.epochs=2", "--set", f"train.runs_dir={tmp_path}"
    )
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((tmp_path / "seed" / "config.yaml").read_text())
    assert saved["train"]["epochs"] == 2
    assert saved["model"]["attention"] == "location" and saved["decode"]["max_len_ratio"] == 2.0
    assert len((tmp_path / "seed" / "metrics.jsonl").read_text().splitlines()) == 2


def test_same_config_and_seed_give_the_same_losses(tmp_path):
    losses = []
    for name in ("a", "b"):
        result = run_cli(
            "train", "--config", "configs/seed.yaml", "--set", "train.epochs=5",
            "--set", f"train.runs_dir={tmp_path}", "--set", f"train.name={name}",
        )
        assert result.exit_code == 0, result.output
        records = [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        losses.append([(r["train_loss"], r["val_loss"]) for r in records])
    assert losses[0] == losses[1]


def test_a_second_run_with_the_same_name_gets_a_new_folder_and_becomes_the_newest(tmp_path):
    for _ in range(2):
        result = run_cli("train", "-c", "configs/seed.yaml", "--set", "train.epochs=1", "--set", f"train.runs_dir={tmp_path}")
        assert result.exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed", "seed-2"]
    from seq2seq_cli.runs import newest_run

    assert newest_run(tmp_path).name == "seed-2"


def test_module_entry_point_and_help_do_not_import_torch():
    import subprocess
    import sys

    code = "import sys; from seq2seq_cli.cli import app; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    result = subprocess.run([sys.executable, "-m", "seq2seq_cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "translate" in result.stdout


@pytest.mark.parametrize("words,expected", [("s2s tr", ["train", "translate"]), ("s2s attend --ov", ["--over-training"])])
def test_tab_completes_commands_and_options(words, expected):
    """What bash asks after `s2s --install-completion`: the completions of the word under the cursor."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "_S2S_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
    s2s = Path(sys.executable).with_name("s2s")  # the installed command: completion is keyed by its name
    result = subprocess.run([str(s2s)], env=env, capture_output=True, text=True)
    assert result.stdout.split() == expected


def test_version_is_the_installed_packages():
    from importlib.metadata import version

    result = run_cli("--version")
    assert result.exit_code == 0
    assert result.stdout == f"s2s {version('seq2seq-cli')}\n"


def test_runs_dir_given_on_the_command_line_is_where_a_new_run_goes(tmp_path):
    import yaml

    configured, given = tmp_path / "configured", tmp_path / "given"
    short = ["-c", "configs/seed.yaml", "--set", "train.epochs=1", "--set", f"train.runs_dir={configured}"]
    result = run_cli("train", *short, "--runs-dir", str(given))
    assert result.exit_code == 0, result.output
    assert (given / "seed" / "best.pt").is_file() and not configured.exists()
    assert yaml.safe_load((given / "seed" / "config.yaml").read_text())["train"]["runs_dir"] == str(given)
    result = run_cli("train", *short)  # no --runs-dir: the config's train.runs_dir, not the option's default
    assert result.exit_code == 0, result.output
    assert (configured / "seed" / "best.pt").is_file()


def test_a_setting_the_model_does_not_use_is_a_warning_once_not_in_every_later_command(tmp_path):
    result = run_cli("train", "-c", "configs/seed.yaml", "--set", "train.epochs=1", "--set", f"train.runs_dir={tmp_path}",
                     "--set", "model.ff_dim=64")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == ["warning: model.ff_dim does nothing for model.type: gru"]
    result = run_cli("translate", "--runs-dir", str(tmp_path), "i am a student")  # reads the saved config, every default in it
    assert result.exit_code == 0 and result.stderr == ""


def test_stdin_answers_each_line_before_the_next_arrives(seed_run):
    """`tail -f log | s2s translate -`: every answer is written and flushed as its line is read."""
    import queue
    import subprocess
    import sys
    import threading

    from tests.conftest import ROOT

    command = [sys.executable, "-m", "seq2seq_cli", "translate", "--run", str(seed_run), "-"]
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    answers: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [answers.put(line) for line in process.stdout], daemon=True).start()
    try:
        for source, target in SEED_PAIRS[:2]:
            process.stdin.write(source + "\n")
            process.stdin.flush()  # the pipe stays open: the answer must come before more input or EOF
            assert answers.get(timeout=60) == target + "\n"
        process.stdin.close()
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()


def test_align_adds_the_word_alignment_of_each_translation(seed_run):
    result = run_cli("translate", "--run", str(seed_run), "--align", "she is a doctor")
    assert result.exit_code == 0, result.output
    text, links = result.stdout.rstrip("\n").split(" ||| ")
    assert text == "elle est medecin"
    record = json.loads(run_cli("translate", "--run", str(seed_run), "--align", "--json", "she is a doctor").stdout)
    hypothesis = record["hypotheses"][0]
    attention = hypothesis["attention"][:3]  # the three words; the <eos> row has no word to align
    expected = [(max(range(4), key=row.__getitem__), t) for t, row in enumerate(attention)]
    assert links == " ".join(f"{s}-{t}" for s, t in expected) == hypothesis["alignment"]["hard"]
    assert hypothesis["alignment"]["soft"] == attention
    assert hypothesis["alignment"]["target_words"] == ["elle", "est", "medecin"]
    nbest = run_cli("translate", "--run", str(seed_run), "--align", "--beam", "3", "--nbest", "2", "she is a doctor")
    assert [len(line.split(" ||| ")) for line in nbest.stdout.splitlines()] == [5, 5]  # i ||| text ||| F0= lp ||| total ||| links


def test_the_console_script_leaves_quickly_with_its_output_whole_and_its_exit_code(seed_run, tmp_path):
    """``main`` skips the interpreter's teardown (os._exit): output written through a pipe or to a file
    must still arrive whole, and the exit code must be the command's."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    sources = tmp_path / "in.txt"
    sources.write_text("".join(f"{source}\n" for source, _ in SEED_PAIRS[:3]) * 200, encoding="utf-8")
    command = [sys.executable, "-m", "seq2seq_cli", "translate", "--run", str(seed_run), "--input", str(sources)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [target for _, target in SEED_PAIRS[:3]] * 200
    bad = subprocess.run([*command[:4], "--run", str(tmp_path / "nothing"), "x"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and "Traceback" not in bad.stderr
