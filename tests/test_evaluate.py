"""Scoring: alignment agreement and AER, Pharaoh files, unknown-word replacement, detokenisation, evaluate CLI."""

from __future__ import annotations

import json

import pytest
import torch

from seq2seq_cli.data import detokenize, tokenize
from seq2seq_cli.errors import DataError
from seq2seq_cli.evaluate import alignment_scores, read_alignments
from seq2seq_cli.translator import replace_unknown
from tests.conftest import SEED_PAIRS, run_cli


def one_hot_rows(columns: list[int], width: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(columns), width).float()


def test_alignment_scores_by_hand():
    # target words 0..2 attend to source 0, 2, 2; gold links 0-0, 1-1, 2-2 (source-target)
    attention = one_hot_rows([0, 2, 2], width=3)
    agreement, aer = alignment_scores([attention], [{(0, 0), (1, 1), (2, 2)}])
    assert agreement == pytest.approx(2 / 3)
    assert aer == pytest.approx(1 - 2 * 2 / (3 + 3))


def test_unaligned_target_words_do_not_count_for_agreement_but_do_for_aer():
    attention = one_hot_rows([1, 0], width=2)  # target 1 has no gold link
    agreement, aer = alignment_scores([attention], [{(1, 0)}])
    assert agreement == 1.0
    assert aer == pytest.approx(1 - 2 * 1 / (2 + 1))


def test_perfect_alignment_scores_zero_aer():
    assert alignment_scores([one_hot_rows([1, 0], 2)], [{(1, 0), (0, 1)}]) == (1.0, 0.0)


def test_pharaoh_reader_errors_name_the_file_and_line(tmp_path):
    path = tmp_path / "a.align"
    path.write_text("0-0 1-1\n0-x\n", encoding="utf-8")
    with pytest.raises(DataError, match="a.align:2: expected links"):
        read_alignments(path, 2)
    with pytest.raises(DataError, match="2 alignment lines for 3 sentence pairs"):
        read_alignments(path, 3)


def test_unknown_output_words_become_the_most_attended_source_word():
    attention = one_hot_rows([0, 2, 1], width=3)
    assert replace_unknown(["le", "<unk>", "est"], ["the", "is", "Zanzibar"], attention) == ["le", "Zanzibar", "est"]


@pytest.mark.parametrize(
    "text",
    ["Un homme vêtu d'un gilet, assis (dans un petit-bateau).", 'Il dit "bonjour" à l\'homme.', "a man's hat"],
)
def test_detokenize_undoes_tokenize(text):
    assert detokenize(tokenize(text, lowercase=False)) == text


def test_evaluate_scores_a_run_and_its_attention(seed_run, runs_dir, tmp_path):
    align = tmp_path / "seed.align"
    align.write_text("0-0 1-1 3-2\n0-0 1-1 3-2\n0-0 1-1 3-2\n0-0 1-1 2-2\n0-0 1-1 2-2\n", encoding="utf-8")
    hyps = tmp_path / "hyps.txt"
    result = run_cli("evaluate", "--runs-dir", str(runs_dir), "--data", "data/seed.tsv", "--align", str(align), "--output", str(hyps))
    assert result.exit_code == 0, result.output
    assert "exact match" in result.stdout and "100.0%" in result.stdout and "signature: nrefs:1" in result.stdout
    assert hyps.read_text(encoding="utf-8").splitlines() == [t for _, t in SEED_PAIRS]
    report = json.loads((seed_run / "seed.eval.json").read_text())
    assert report["exact_match"] == 1.0 and report["token_accuracy"] == 1.0
    assert 0.0 <= report["alignment_agreement"] <= 1.0 and 0.0 <= report["aer"] <= 1.0


def test_translate_nbest_and_json(seed_run, runs_dir):
    result = run_cli("translate", "--runs-dir", str(runs_dir), "--beam", "3", "--nbest", "3", "he is a teacher")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and lines[0].startswith("0 ||| il est professeur ||| ")
    scores = [float(line.rsplit("|||", 1)[1]) for line in lines]
    assert scores == sorted(scores, reverse=True)
    result = run_cli("translate", "--runs-dir", str(runs_dir), "--json", "--nbest", "2", "-", input="i am a student\n\n")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records[0]["hypotheses"][0]["text"] == "je suis etudiant"
    assert records[0]["hypotheses"][0]["tokens"][-1] == "<eos>"
    assert len(records[0]["hypotheses"][0]["attention"]) == 4 and len(records[0]["hypotheses"]) == 2
    assert records[1] == {"source": "", "source_tokens": [], "unknown": [], "hypotheses": []}


@pytest.mark.parametrize("beam", ["1", "5"])
def test_greedy_and_beam_both_translate_the_seed_pairs(seed_run, runs_dir, beam):
    sources = "\n".join(s for s, _ in SEED_PAIRS)
    result = run_cli("translate", "--runs-dir", str(runs_dir), "--beam", beam, "-", input=sources)
    assert result.stdout.splitlines() == [t for _, t in SEED_PAIRS]
