"""Scoring: alignment agreement and AER, Pharaoh files, unknown-word replacement, detokenisation, evaluate CLI."""

from __future__ import annotations

import json
import re

import pytest
import torch

from seq2seq_cli.data.alignments import read_alignments
from seq2seq_cli.data.text import detokenize, tokenize
from seq2seq_cli.decoding.translator import replace_unknown
from seq2seq_cli.errors import DataError
from seq2seq_cli.evaluation import alignment_scores
from tests.conftest import SEED_PAIRS, run_cli
from tests.test_bad_input import assert_one_line_error


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


def test_evaluate_scores_a_run_and_its_attention(seed_run, runs_dir, tmp_path, monkeypatch):
    from seq2seq_cli.decoding.translator import Translator

    real_reading = Translator.read_references

    def on_the_same_position(self, sources, targets, batch_size=64):
        """The model's own reading of the references, its attention replaced by a known one:
        target word t attends to source word t."""
        readings = real_reading(self, sources, targets, batch_size)
        for reading in readings:
            steps, width = reading.attention.shape
            reading.attention = one_hot_rows([min(t, width - 1) for t in range(steps)], width)
        return readings

    monkeypatch.setattr(Translator, "read_references", on_the_same_position)
    align = tmp_path / "seed.align"
    align.write_text("0-0 1-1 3-2\n0-0 1-1 3-2\n0-0 1-1 3-2\n0-0 1-1 2-2\n0-0 1-1 2-2\n", encoding="utf-8")
    hyps = tmp_path / "hyps.txt"
    result = run_cli(
        "evaluate", "--runs-dir", str(runs_dir), "--data", "data/seed.tsv", "--align", str(align), "--output", str(hyps)
    )
    assert result.exit_code == 0, result.output
    assert "exact match" in result.stdout and "100.0%" in result.stdout and "signature: nrefs:1" in result.stdout
    assert hyps.read_text(encoding="utf-8").splitlines() == [t for _, t in SEED_PAIRS]
    report = json.loads((seed_run / "seed.eval.json").read_text())
    assert report["exact_match"] == 1.0 and report["token_accuracy"] == 1.0
    # links 0-0 1-1 2-2: two of three gold links in each of the first three pairs, all three in the last two:
    # 12 of 15 target words hit a gold link; AER = 1 - 2 * 12 / (15 predicted + 15 gold)
    assert (report["alignment_agreement"], report["aer"]) == (0.8, 0.2)
    assert re.search(r"top-attended source word is gold\s*│\s*80.0%", result.stdout)
    assert re.search(r"alignment error rate \(AER\)\s*│\s*20.0%", result.stdout)


@pytest.mark.parametrize("blocked", ["seed.hyp.txt", "seed.eval.json"])
def test_evaluate_says_which_file_it_could_not_write(seed_run, tmp_path, blocked):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(seed_run, run, ignore=shutil.ignore_patterns("*.hyp.txt", "*.eval.json"))
    (run / blocked).mkdir()  # a write there fails, as in a read-only or full folder (and even for root)
    result = run_cli("evaluate", "--run", str(run), "--data", "data/seed.tsv")
    assert_one_line_error(result, f"{run / blocked}: cannot write (Is a directory)")


def test_evaluate_in_a_read_only_run_folder_is_a_clear_error(seed_run, tmp_path):
    import os
    import shutil

    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; the test above blocks the files instead")
    run = tmp_path / "run"
    shutil.copytree(seed_run, run, ignore=shutil.ignore_patterns("*.hyp.txt", "*.eval.json"))
    run.chmod(0o555)
    try:
        result = run_cli("evaluate", "--run", str(run), "--data", "data/seed.tsv")
    finally:
        run.chmod(0o755)
    assert_one_line_error(result, f"{run / 'seed.hyp.txt'}: cannot write (Permission denied)")


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


def test_length_penalty_from_the_command_line_rescales_beam_scores(seed_run, tmp_path):
    """GNMT's penalty: the same hypothesis scores its log-probability over ((5 + length) / 6) ** alpha."""
    def best(*options: str) -> tuple[str, float]:
        result = run_cli("translate", "--run", str(seed_run), "--beam", "3", "--json", *options, "he is a teacher")
        assert result.exit_code == 0, result.output
        best = json.loads(result.stdout)["hypotheses"][0]
        assert best["tokens"] == ["il", "est", "professeur", "<eos>"]
        return best["text"], best["score"]

    (raw_text, raw), (text, penalised) = best("--length-penalty", "0"), best("--length-penalty", "1")
    assert text == raw_text == "il est professeur"
    assert penalised == pytest.approx(raw / ((5 + 4) / 6), abs=1e-4) and penalised != raw
    result = run_cli("evaluate", "--run", str(seed_run), "--data", "data/seed.tsv", "--beam", "2",
                     "--length-penalty", "1.5", "--output", str(tmp_path / "hyp.txt"))
    assert result.exit_code == 0, result.output
    assert json.loads((seed_run / "seed.eval.json").read_text())["decode"]["length_penalty"] == 1.5


def test_a_length_penalty_greedy_search_ignores_is_a_warning(seed_run):
    result = run_cli("translate", "--run", str(seed_run), "--beam", "1", "--length-penalty", "1", "i am a student")
    assert result.exit_code == 0 and result.stdout.strip() == "je suis etudiant"
    assert "--length-penalty does nothing with greedy search" in result.stderr


@pytest.mark.parametrize("beam", ["1", "5"])
def test_greedy_and_beam_both_translate_the_seed_pairs(seed_run, runs_dir, beam):
    sources = "\n".join(s for s, _ in SEED_PAIRS)
    result = run_cli("translate", "--runs-dir", str(runs_dir), "--beam", beam, "-", input=sources)
    assert result.stdout.splitlines() == [t for _, t in SEED_PAIRS]


def test_without_unk_replace_an_unknown_word_stays_unk(tmp_path):
    """Names seen once are <unk> (data.min_freq: 2): the model learns to write <unk> where a name goes."""
    from seq2seq_cli.decoding.translator import Translator

    data = tmp_path / "names.tsv"
    people = [("i", "je")] * 3 + [("you", "tu")] * 3
    names = ["paris", "rome", "oslo", "lima", "kyiv", "bern"]
    data.write_text("".join(f"{en} see {name}\t{fr} vois {name}\n" for (en, fr), name in zip(people, names)))
    result = run_cli("train", "-c", "configs/seed.yaml", "--set", f"data.train={data}", "--set", f"data.val={data}",
                     "--set", "data.min_freq=2", "--set", "decode.unk_replace=false", "--set", "train.epochs=30",
                     "--set", f"train.runs_dir={tmp_path}")
    assert result.exit_code == 0, result.output
    result = run_cli("translate", "--runs-dir", str(tmp_path), "i see london")
    assert result.exit_code == 0 and "unknown words read as <unk>: london" in result.stderr
    assert result.stdout == "je vois <unk>\n"
    replaced = Translator.from_run(tmp_path / "seed").with_decoding(unk_replace=True).translate(["i see london"])[0]
    assert replaced.output[:2] == ["je", "vois"] and replaced.output[2] in ("i", "see", "london")  # the most attended


def test_wmt_recipe_bleu_by_hand():
    """Lowercased, Moses-normalised and -tokenised, both sides: 'le petit chat est sur le tapis .' against
    '... sous ...' matches 7/8 unigrams, 5/7 bigrams, 3/6 trigrams, 1/5 4-grams, equal lengths:
    BLEU = (7/8 · 5/7 · 3/6 · 1/5)^(1/4) = (1/16)^(1/4) = 0.5."""
    from sacrebleu.metrics import BLEU

    from seq2seq_cli.evaluation import wmt_bleu

    hypothesis, reference = "Le petit chat est sur le tapis.", "le petit chat est sous le tapis ."
    score, signature = wmt_bleu([hypothesis], [reference], "fr")
    assert score == pytest.approx(50.0)
    assert signature.startswith("lc+moses-punct+moses-tok:fr|") and "tok:none" in signature
    assert BLEU().corpus_score([hypothesis], [[reference]]).score != pytest.approx(50.0)  # cased 13a differs
    # a curly apostrophe is normalised and the French elision split off, on both sides alike
    assert wmt_bleu(["L’homme court."], ["l'homme court ."], "fr")[0] == pytest.approx(100.0)


def test_evaluate_prints_the_wmt_recipe_bleu_or_how_to_get_it(seed_run, tmp_path, monkeypatch):
    import sys

    arguments = ("evaluate", "--run", str(seed_run), "--data", "data/seed.tsv", "--output", str(tmp_path / "h.txt"))
    result = run_cli(*arguments, "--lang", "fr")
    assert result.exit_code == 0, result.output
    assert re.search(r"BLEU, WMT recipe\s*│\s*\d+\.\d\d", result.stdout), result.stdout
    assert "WMT-recipe BLEU signature: lc+moses-punct+moses-tok:fr|" in result.stdout
    monkeypatch.setitem(sys.modules, "sacremoses", None)  # as if the extra were not installed
    result = run_cli(*arguments)
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == 'warning: BLEU by the WMT recipe (lowercased, Moses-tokenised) needs sacremoses: ' \
                                    'pip install "seq2seq-cli[wmt]"'
    assert "WMT" not in result.stdout


def test_a_test_sentence_too_long_for_the_model_names_its_file_and_line(tmp_path):
    """A test set is scored whole, never cropped: a source the model cannot read is an error at its line."""
    import shutil

    from tests.conftest import ROOT

    pairs = tmp_path / "test.tsv"
    lines = [f"{s}\t{t}" for s, t in SEED_PAIRS]
    lines.insert(2, " ".join(["i am a student"] * 5) + "\tje suis etudiant")  # 20 tokens: over location's width
    pairs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = shutil.copytree(ROOT / "tests" / "fixtures" / "run-before-layers", tmp_path / "run")
    result = run_cli("evaluate", "--run", str(run), "--data", str(pairs), "--output", str(tmp_path / "hyp.txt"))
    assert_one_line_error(result, f"{pairs}:3: ")
