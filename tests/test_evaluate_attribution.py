"""s2s evaluate --attribution: word alignment read from attribution beside attention's, against gold links."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from seq2seq_cli.evaluation import top_word_agreement
from tests.conftest import run_cli

pytest.importorskip("captum")
GOLD = "0-0 1-1 3-2\n0-0 1-1 3-2\n0-0 1-1 3-2\n0-0 1-1 2-2\n0-0 1-1 2-2\n"  # data/seed.tsv's five pairs


@pytest.fixture
def gold(tmp_path) -> Path:
    path = tmp_path / "seed.align"
    path.write_text(GOLD, encoding="utf-8")
    return path


def evaluate_json(seed_run: Path, tmp_path: Path, *args: str) -> dict:
    result = run_cli("evaluate", "--runs-dir", str(seed_run.parent), "--data", "data/seed.tsv",
                     "--output", str(tmp_path / "hyps.txt"), "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_top_word_agreement_by_hand():
    first = [torch.tensor([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([[0.6, 0.4]])]
    second = [torch.tensor([[3.0, 1.0], [5.0, 1.0]]), torch.tensor([[0.0, 2.0]])]
    assert top_word_agreement(first, second) == pytest.approx(1 / 3)
    assert top_word_agreement([torch.zeros(0, 3)], [torch.zeros(0, 3)]) == 0.0


@pytest.mark.parametrize("method", ["grad", "ig", "occlusion"])
def test_each_method_scores_against_gold_beside_attention(seed_run, tmp_path, gold, method):
    steps = ["--ig-steps", "8"] if method == "ig" else []
    report = evaluate_json(seed_run, tmp_path, "--align", str(gold), "--attribution", method, *steps)
    alignment = report["alignment"]
    assert set(alignment) == {"attention", method, "top_word_agreement"} | ({"ig_delta"} if method == "ig" else set())
    for reader in ("attention", method):
        assert set(alignment[reader]) == {"aer", "agreement_with_gold"}
        assert all(0.0 <= value <= 1.0 for value in alignment[reader].values())
    assert 0.0 <= alignment["top_word_agreement"] <= 1.0
    attention = alignment["attention"]
    assert (report["alignment_agreement"], report["aer"]) == (attention["agreement_with_gold"], attention["aer"])
    if method == "ig":
        assert alignment["ig_delta"] >= 0.0


def test_the_table_names_a_row_per_reader(seed_run, tmp_path, gold):
    result = run_cli("evaluate", "--runs-dir", str(seed_run.parent), "--data", "data/seed.tsv", "--output",
                     str(tmp_path / "hyps.txt"), "--align", str(gold), "--attribution", "ig", "--ig-steps", "4")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(line.lstrip("│ ").startswith("attention ") for line in lines), result.stdout
    assert "attribution: integrated gradients" in result.stdout and "AER" in result.stdout


def test_without_gold_only_the_agreement_of_the_two_readers_and_a_warning(seed_run, tmp_path):
    result = run_cli("evaluate", "--runs-dir", str(seed_run.parent), "--data", "data/seed.tsv", "--output",
                     str(tmp_path / "hyps.txt"), "--attribution", "grad", "--json")
    assert result.exit_code == 0, result.output
    assert "no gold links, so no AER" in result.stderr
    report = json.loads(result.stdout)
    assert set(report["alignment"]) == {"top_word_agreement"} and report["aer"] is None


def test_limit_scores_the_first_pairs_everywhere_and_keeps_the_whole_sets_files(seed_run, tmp_path, gold):
    report = evaluate_json(seed_run, tmp_path, "--align", str(gold), "--attribution", "grad", "--limit", "2")
    assert report["sentences"] == 2
    assert json.loads((seed_run / "seed.first2.eval.json").read_text())["sentences"] == 2


@pytest.mark.parametrize(("args", "message"), [
    (["--ig-steps", "4"], "--ig-steps sets integrated gradients' path: it needs --attribution ig"),
    (["--attribution", "grad", "--ig-steps", "4"], "it needs --attribution ig"),
    (["--limit", "5"], "--limit 5: the test set has 5 pairs"),
    (["--limit", "9", "--attribution", "occlusion"], "--limit 9: the test set has 5 pairs"),
    (["--attribution", "shap"], "shap"),
])
def test_bad_combinations_are_one_line_errors(seed_run, tmp_path, args, message):
    result = run_cli("evaluate", "--runs-dir", str(seed_run.parent), "--data", "data/seed.tsv", "--output",
                     str(tmp_path / "hyps.txt"), *args)
    assert result.exit_code != 0
    assert message in result.output
    if args[-1] != "shap":  # typer's own usage box for a bad choice
        assert result.stderr.strip().count("\n") == 0, result.stderr


def test_gold_links_are_checked_against_the_whole_set_under_limit(seed_run, tmp_path):
    short = tmp_path / "short.align"
    short.write_text("0-0\n0-0\n", encoding="utf-8")
    result = run_cli("evaluate", "--runs-dir", str(seed_run.parent), "--data", "data/seed.tsv", "--output",
                     str(tmp_path / "hyps.txt"), "--align", str(short), "--limit", "2")
    assert result.exit_code != 0 and "2 alignment lines for 5 sentence pairs" in result.output
