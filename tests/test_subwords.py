"""A subword (sentencepiece) run: its attention is drawn and scored over words, or over pieces when asked."""

from __future__ import annotations

import json

import pytest
import torch

from seq2seq_cli.decoding.translator import Translator
from seq2seq_cli.errors import DataError
from seq2seq_cli.viz import plot
from tests.conftest import run_cli, train_seed_run
from tests.test_bad_input import assert_one_line_error

# A vocabulary this small spells most words in several pieces: "▁st" "u" "de" "n" "t".
SUBWORD_SEED = ["data.tokenizer=sentencepiece", "data.vocab_size=20", "data.max_len=40", "model.attention=bahdanau",
                "model.embed_dim=32", "model.hidden_size=32", "decode.beam_size=1"]


@pytest.fixture(scope="module")
def subword_run(tmp_path_factory):
    return train_seed_run(tmp_path_factory.mktemp("subwords"), SUBWORD_SEED)


@pytest.fixture
def drawn(monkeypatch):
    """What ``s2s attend`` hands to the plotting call: source labels, output labels, weights."""
    calls = []
    monkeypatch.setattr(plot, "plot_attention", lambda source, output, weights, *rest: calls.append((source, output, weights)))
    return calls


def test_the_pieces_spell_the_words(subword_run):
    tokenizer = Translator.from_run(subword_run).src_tokenizer
    pieces = tokenizer.tokens("i am a student")
    assert len(pieces) > 4  # several pieces to a word, or this file tests nothing
    assert tokenizer.word_tokens("i am a student", pieces) == tokenizer.words(pieces)
    assert [len(group) for group in tokenizer.word_tokens("i am a student", pieces)] != [1, 1, 1, 1]


def test_attend_draws_words_and_with_pieces_the_pieces(subword_run, tmp_path, drawn):
    out = str(tmp_path / "a.png")
    assert run_cli("attend", "--run", str(subword_run), "--output", out, "i am a student").exit_code == 0
    assert run_cli("attend", "--run", str(subword_run), "--output", out, "--pieces", "i am a student").exit_code == 0
    (words, _, word_weights), (pieces, piece_steps, piece_weights) = drawn
    translator = Translator.from_run(subword_run)
    assert words == ["i", "am", "a", "student"]
    assert pieces == translator.src_tokenizer.tokens("i am a student") and "".join(pieces) == "▁i▁am▁a▁student"
    assert piece_weights.shape == (len(piece_steps), len(pieces))
    # each word's column is the sum of its pieces' columns (output rows are averaged over a word's pieces)
    output = piece_steps[:-1] if piece_steps[-1] == "<eos>" else piece_steps
    rows = [piece_weights[g].mean(dim=0) for g in translator.tgt_tokenizer.words(output)] + list(piece_weights[len(output) :])
    rows = torch.stack(rows)
    columns = torch.stack([rows[:, g].sum(dim=1) for g in translator.src_tokenizer.words(pieces)], dim=1)
    assert torch.allclose(word_weights, columns)


def _on_the_first_piece_of_the_same_word(real_reading):
    """Attention that puts each target piece of word t on the first piece of source word t."""

    def reading(self, sources, targets, batch_size=64):
        readings = real_reading(self, sources, targets, batch_size)
        for reading, source, target in zip(readings, sources, targets):
            source_words = self.src_tokenizer.words(self.tokens(source))
            target_words = self.tgt_tokenizer.words(self.tgt_tokenizer.tokens(target))
            weights = torch.zeros_like(reading.attention)
            for t, group in enumerate(target_words):
                weights[group, source_words[min(t, len(source_words) - 1)][0]] = 1.0
            reading.attention = weights
        return readings

    return reading


def test_evaluate_align_scores_a_subword_run_over_words(subword_run, tmp_path, monkeypatch):
    monkeypatch.setattr(Translator, "read_references", _on_the_first_piece_of_the_same_word(Translator.read_references))
    align = tmp_path / "seed.align"  # gold links are word indices: "i am a student" -> "je suis etudiant" is 0-0 1-1 3-2
    align.write_text("0-0 1-1 3-2\n0-0 1-1 3-2\n0-0 1-1 3-2\n0-0 1-1 2-2\n0-0 1-1 2-2\n", encoding="utf-8")
    result = run_cli("evaluate", "--run", str(subword_run), "--data", "data/seed.tsv", "--align", str(align))
    assert result.exit_code == 0, result.output
    report = json.loads((subword_run / "seed.eval.json").read_text())
    # over words each target word t attends to source word t: 2 of 3 gold links in each of the first three
    # sentences, 3 of 3 in the last two; 12 hits of 15 aligned words, AER 1 - 2*12/(15 + 15)
    assert (report["alignment_agreement"], report["aer"]) == (0.8, 0.2)


def test_a_piece_that_spans_two_words_cannot_be_scored_against_word_alignments(subword_run, tmp_path):
    tokenizer = Translator.from_run(subword_run).src_tokenizer
    pieces = tokenizer.tokens("he is a teacher !!")
    assert "!!" in pieces  # an unknown stretch is one piece; s2s's words are "!" and "!"
    with pytest.raises(DataError, match="piece '!!' spans several words"):
        tokenizer.word_tokens("he is a teacher !!", pieces)
    data, align = tmp_path / "shout.tsv", tmp_path / "shout.align"
    data.write_text("i am a student\tje suis etudiant\nhe is a teacher !!\til est professeur !!\n", encoding="utf-8")
    align.write_text("0-0 1-1 3-2\n0-0 1-1 3-2 4-3 5-4\n", encoding="utf-8")
    result = run_cli("evaluate", "--run", str(subword_run), "--data", str(data), "--align", str(align))
    assert_one_line_error(result, f"{data}:2: sentencepiece piece '!!' spans several words")


def test_a_vocabulary_smaller_than_the_alphabet_is_a_clear_error(tmp_path):
    result = run_cli("train", "-c", "configs/seed.yaml", "--set", "data.tokenizer=sentencepiece", "--set", "data.vocab_size=16",
                     "--set", f"train.runs_dir={tmp_path}")
    assert_one_line_error(result, "data.vocab_size (16) is too small for data/seed.tsv: sentencepiece needs at least 18 pieces")
    assert not list(tmp_path.iterdir())  # no half-made run folder left behind


def test_the_explorer_shows_words_and_with_pieces_the_pieces(subword_run, tmp_path):
    from tests.test_explorer import page_document

    words, pieces = tmp_path / "words.html", tmp_path / "pieces.html"
    assert run_cli("attend", "--run", str(subword_run), "--output", str(words), "i am a student").exit_code == 0
    assert run_cli("attend", "--run", str(subword_run), "--output", str(pieces), "--pieces", "i am a student").exit_code == 0
    by_words, by_pieces = (page_document(p)["sentences"][0]["views"][0] for p in (words, pieces))
    assert by_words["source_tokens"] == ["i", "am", "a", "student"]
    assert by_pieces["source_tokens"] == Translator.from_run(subword_run).src_tokenizer.tokens("i am a student")
    hypothesis = by_words["hypotheses"][0]
    assert hypothesis["cross"]["shape"] == [len(hypothesis["tokens"]), 4]


def test_translate_align_links_words_not_pieces(subword_run):
    result = run_cli("translate", "--run", str(subword_run), "--align", "--json", "i am a student")
    assert result.exit_code == 0, result.output
    alignment = json.loads(result.stdout)["hypotheses"][0]["alignment"]
    assert alignment["source_words"] == ["i", "am", "a", "student"]
    links = [tuple(map(int, link.split("-"))) for link in alignment["hard"].split()]
    assert [t for _, t in links] == list(range(len(alignment["target_words"])))  # one link per output word
    assert all(0 <= s < 4 for s, _ in links)
