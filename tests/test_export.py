"""``s2s export --format onnx`` and ``--engine onnx``: the exported graphs, driven by the one search,
translate as torch does; int8 graphs translate; the user's mistakes are one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import sys

import pytest

from tests.conftest import SEED_PAIRS, run_cli, train_seed_run
from tests.test_bad_input import assert_one_line_error

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def exported(seed_run, tmp_path_factory):
    """A copy of the seed run (the shared one stays untouched) exported with its int8 graphs."""
    run = tmp_path_factory.mktemp("export") / "seed"
    shutil.copytree(seed_run, run, ignore=shutil.ignore_patterns("*.hyp.txt", "*.eval.json", "onnx"))
    result = run_cli("export", "-r", str(run), "--format", "onnx", "--int8")
    assert result.exit_code == 0, result.output
    return run


def translations(run, engine: str, beam: int, tmp_path) -> list[dict]:
    """Every seed sentence's n-best list through ``s2s translate --json`` with ``engine``."""
    sources = tmp_path / "sources.txt"
    sources.write_text("".join(f"{source}\n" for source, _ in SEED_PAIRS), encoding="utf-8")
    nbest = "2" if beam > 1 else "1"
    result = run_cli("translate", "--run", str(run), "--engine", engine, "--beam", str(beam), "--nbest", nbest,
                     "--json", "-q", "--input", str(sources))
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def assert_same(expected: list[dict], got: list[dict], tolerance: float) -> None:
    for mine, theirs in zip(expected, got, strict=True):
        assert [h["tokens"] for h in mine["hypotheses"]] == [h["tokens"] for h in theirs["hypotheses"]]
        for a, b in zip(mine["hypotheses"], theirs["hypotheses"]):
            assert b["score"] == pytest.approx(a["score"], abs=tolerance)
            flat = [w for row in a["attention"] for w in row]  # rounded to 4 decimals in JSON
            assert [w for row in b["attention"] for w in row] == pytest.approx(flat, abs=tolerance)


def test_export_writes_checked_graphs_and_a_record(exported):
    folder = exported / "onnx"
    names = ["encoder.onnx", "decoder_step.onnx", "encoder.int8.onnx", "decoder_step.int8.onnx"]
    assert all((folder / name).is_file() for name in names)
    record = json.loads((folder / "export.json").read_text())
    assert record["files"] == names and record["checkpoint"] == "best.pt"
    assert record["fp32"]["same_tokens"] and record["fp32"]["max_log_prob_diff"] < 1e-4
    assert "int8" in record and not list(folder.glob("*.partial"))


@pytest.mark.parametrize("beam", [1, 3])
def test_onnx_engine_translates_as_torch_does(exported, tmp_path, beam):
    assert_same(translations(exported, "torch", beam, tmp_path), translations(exported, "onnx", beam, tmp_path), 1e-3)


def test_int8_engine_translates_the_seed_sentences(exported, tmp_path):
    outputs = translations(exported, "onnx-int8", 3, tmp_path)
    assert [o["hypotheses"][0]["text"] for o in outputs] == [target for _, target in SEED_PAIRS]


def test_evaluate_with_the_onnx_engine_scores_as_torch(exported):
    for engine in ("torch", "onnx"):
        result = run_cli("evaluate", "--run", str(exported), "--data", "data/seed.tsv", "--engine", engine)
        assert result.exit_code == 0, result.output
    torch_report = json.loads((exported / "seed.eval.json").read_text())
    onnx_report = json.loads((exported / "seed.onnx.eval.json").read_text())
    assert onnx_report["decode"]["engine"] == "onnx"
    assert (onnx_report["bleu"], onnx_report["chrf"]) == (torch_report["bleu"], torch_report["chrf"])
    assert (exported / "seed.onnx.hyp.txt").read_text() == (exported / "seed.hyp.txt").read_text()


@pytest.mark.parametrize(
    "overrides",
    [
        ["model.output=adaptive", "model.adaptive_cutoffs=[6,10]", "model.attention=bahdanau", "model.bidirectional=true"],
        ["model.type=transformer", "model.hidden_size=32", "model.heads=2", "model.ff_dim=64", "model.layers=2"],
    ],
    ids=["adaptive-gru", "transformer"],
)
def test_other_models_export_and_translate_as_torch(tmp_path, overrides):
    """A few steps of training are enough: the check is that the graphs compute what torch does."""
    run = train_seed_run(tmp_path / "runs", [*overrides, "train.epochs=3"])
    result = run_cli("export", "-r", str(run))
    assert result.exit_code == 0, result.output
    assert json.loads((run / "onnx" / "export.json").read_text())["fp32"]["same_tokens"]
    assert_same(translations(run, "torch", 3, tmp_path), translations(run, "onnx", 3, tmp_path), 1e-3)


def test_engine_without_an_export_says_to_export(seed_run, exported, tmp_path):
    result = run_cli("translate", "--run", str(seed_run), "--engine", "onnx", "he is a teacher")
    assert_one_line_error(result, "has no ONNX export", "s2s export")
    fp32_only = tmp_path / "seed"
    shutil.copytree(exported, fp32_only)
    assert run_cli("export", "-r", str(fp32_only)).exit_code == 0  # without --int8: the earlier int8 graphs go
    assert not list((fp32_only / "onnx").glob("*.int8.onnx"))
    result = run_cli("evaluate", "--run", str(fp32_only), "--data", "data/seed.tsv", "--engine", "onnx-int8")
    assert_one_line_error(result, "has no int8 ONNX export", "--int8")
    result = run_cli("translate", "--run", str(exported), "--engine", "tensorrt", "he is a teacher")
    assert_one_line_error(result, "Invalid value for '--engine'", "'tensorrt' is not one of 'torch', 'onnx', 'onnx-int8'")
    result = run_cli("translate", "--run", str(exported), "--engine", "onnx", "--checkpoint", "last.pt", "he is a teacher")
    assert_one_line_error(result, "holds best.pt, not last.pt")
    os.utime(fp32_only / "best.pt", ns=(1, 1))  # as if training had written a new best.pt since the export
    result = run_cli("translate", "--run", str(fp32_only), "--engine", "onnx", "he is a teacher")
    assert_one_line_error(result, "exported from an earlier best.pt", "again")


def test_unsupported_format_is_a_one_line_error(exported):
    result = run_cli("export", "-r", str(exported), "--format", "tflite")
    assert_one_line_error(result, "'--format'", "'tflite' is not one of 'onnx'")


@pytest.mark.parametrize("missing", ["onnx", "onnxruntime"])
def test_missing_extra_is_a_one_line_error(exported, monkeypatch, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # import fails as if it were not installed
    assert_one_line_error(run_cli("export", "-r", str(exported)), 'seq2seq-cli[onnx]')
    result = run_cli("translate", "--run", str(exported), "--engine", "onnx", "he is a teacher")
    assert_one_line_error(result, 'pip install "seq2seq-cli[onnx]"')
