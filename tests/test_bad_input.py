"""Everything a user can get wrong: one line on stderr naming the culprit, exit code 2, no traceback."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def _train(config, tmp_path, *extra):
    return run_cli("train", "--config", str(config), "--set", f"train.runs_dir={tmp_path / 'runs'}", *extra)


def _config(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "content,message",
    [
        (b"i am\tje suis\nbroken line without tab\n", "bad.tsv:2: expected 2 tab-separated columns"),
        (b"i am\tje suis\na\tb\tc\n", "bad.tsv:2: expected 2 tab-separated columns (source<TAB>target), found 3"),
        (b"i am\tje suis\n\t\tx\n", "bad.tsv:2: expected 2"),
        (b"i am\tje suis\nhello\t   \n", "bad.tsv:2: empty target side"),
        (b"i am\tje suis\n \tbonjour\n", "bad.tsv:2: empty source side"),
        (b"ok\tok\nok\tok\ncaf\xe9\tcafe\n", "bad.tsv:3: not valid UTF-8"),
        (b"\n\n", "bad.tsv: no sentence pairs"),
    ],
)
def test_malformed_tsv_names_file_and_line(tmp_path, content, message):
    (tmp_path / "bad.tsv").write_bytes(content)
    result = _train("configs/seed.yaml", tmp_path, "--set", f"data.train={tmp_path / 'bad.tsv'}", "--set", "data.val=null")
    assert_one_line_error(result, message)
    assert not (tmp_path / "runs").exists()


def test_unknown_config_key_suggests_the_right_one(tmp_path):
    config = _config(tmp_path, "data:\n  train: data/seed.tsv\nmodel:\n  hiden_size: 64\n")
    assert_one_line_error(_train(config, tmp_path), "unknown key model.hiden_size", "did you mean hidden_size?")


def test_unknown_section_suggests_the_right_one(tmp_path):
    assert_one_line_error(
        _train("configs/seed.yaml", tmp_path, "--set", "trian.epochs=3"), "unknown key trian", "did you mean train?"
    )


@pytest.mark.parametrize(
    "override,fragments",
    [
        ("train.epochs=many", ["train.epochs must be an integer, got str 'many'"]),
        ("train.epochs=0", ["train.epochs must be at least 1"]),
        ("model.bidirectional=3", ["model.bidirectional must be true or false"]),
        ("model.attention=bahdanu", ["model.attention must be one of", "did you mean bahdanau?"]),
        ("train.lr=fast", ["train.lr must be a number"]),
        ("train=5", ["train must be a mapping"]),
        ("model.adaptive_cutoffs=[4, x]", ["model.adaptive_cutoffs[1] must be an integer, got str 'x'"]),
        ("model.adaptive_cutoffs=4", ["model.adaptive_cutoffs must be a list, got int 4"]),
    ],
)
def test_wrong_type_names_the_key(tmp_path, override, fragments):
    assert_one_line_error(_train("configs/seed.yaml", tmp_path, "--set", override), *fragments)


def test_adaptive_softmax_needs_cutoffs_inside_the_vocabulary_and_leaves_no_run_behind(tmp_path):
    result = _train("configs/seed.yaml", tmp_path, "--set", "model.output=adaptive")
    assert_one_line_error(result, "model.adaptive_cutoffs must rise and stay below the target vocabulary size", "[2000, 6000]")
    assert not any((tmp_path / "runs").iterdir())


def test_shared_embeddings_need_a_joint_vocabulary(tmp_path):
    result = _train("configs/seed.yaml", tmp_path, "--set", "model.share_embeddings=true")
    assert_one_line_error(result, "configs/seed.yaml: model.share_embeddings needs data.joint_vocab: true")


def test_missing_data_file(tmp_path):
    result = _train("configs/seed.yaml", tmp_path, "--set", "data.train=data/nope.tsv")
    assert_one_line_error(result, "data/nope.tsv: no such data file")


def test_missing_config_file(tmp_path):
    assert_one_line_error(_train(tmp_path / "missing.yaml", tmp_path), "missing.yaml: no such config file")


def test_config_without_training_data(tmp_path):
    assert_one_line_error(_train(_config(tmp_path, "model:\n  layers: 1\n"), tmp_path), "data.train is required")


def test_invalid_yaml_names_the_line(tmp_path):
    config = _config(tmp_path, "data:\n  train: data/seed.tsv\nmodel: [unclosed\n")
    assert_one_line_error(_train(config, tmp_path), "config.yaml:", "invalid YAML")


def test_translate_before_any_training(tmp_path):
    assert_one_line_error(run_cli("translate", "--runs-dir", str(tmp_path), "hello"), "no trained runs")


def test_translate_a_run_that_does_not_exist(seed_run, runs_dir):
    assert_one_line_error(run_cli("translate", "--runs-dir", str(runs_dir), "--run", "nope", "hi"), "nope: no such run")


@pytest.mark.parametrize("sentence", ["", "   ", "\u200b\x00"])
def test_empty_sentence(seed_run, runs_dir, sentence):
    assert_one_line_error(run_cli("translate", "--runs-dir", str(runs_dir), sentence), "empty sentence")


def test_input_longer_than_location_attention(seed_run, runs_dir):
    long_sentence = " ".join(["i am a student"] * 3)
    result = run_cli("translate", "--runs-dir", str(runs_dir), long_sentence)
    assert_one_line_error(result, "input has 12 tokens but location attention covers at most 10")
    result = run_cli("attend", "--runs-dir", str(runs_dir), "--output", "/tmp/never.png", long_sentence)
    assert_one_line_error(result, "location attention covers at most 10")


def test_attend_rejects_an_unknown_image_type(seed_run, runs_dir, tmp_path):
    result = run_cli("attend", "--runs-dir", str(runs_dir), "--output", str(tmp_path / "map.bmp"))
    assert_one_line_error(result, "map.bmp: unsupported file type .bmp; use .png, .svg, .pdf, .html or .gif")


def test_missing_input_file(seed_run, runs_dir, tmp_path):
    result = run_cli("translate", "--runs-dir", str(runs_dir), "--input", str(tmp_path / "none.txt"))
    assert_one_line_error(result, "none.txt: no such file")


def test_training_sentences_longer_than_translation_accepts_are_refused_before_training(tmp_path):
    result = _train("configs/seed.yaml", tmp_path, "--set", "decode.max_input_len=8")
    assert_one_line_error(result, "configs/seed.yaml: data.max_len (10) is larger than decode.max_input_len (8)")
    assert not (tmp_path / "runs").exists()
