"""Reading, normalising and indexing text; loading and overriding configs."""

from __future__ import annotations

import random

import pytest

from seq2seq_cli.config import load_config, unused_settings
from seq2seq_cli.data.batches import Example, bucketed_batches, collate
from seq2seq_cli.data.corpora import read_pairs
from seq2seq_cli.data.text import Vocab, tokenize
from seq2seq_cli.errors import ConfigError
from tests.conftest import ROOT


def test_tokenize_normalises_the_same_way_for_training_and_translating():
    assert tokenize("Je n’ai pas l'homme, qu'il voit!") == ["je", "n'", "ai", "pas", "l'", "homme", ",", "qu'", "il", "voit", "!"]
    assert tokenize("e\u0301tudiant") == ["étudiant"]  # decomposed accent -> NFC
    assert tokenize("Hello\x00 world\u200b", lowercase=False) == ["Hello", "world"]


def test_reader_accepts_a_bom_and_crlf(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_bytes(b"\xef\xbb\xbfi am\tje suis\r\n\r\nyou are\ttu es\r\n")
    pairs = read_pairs(path)
    assert [(p.source, p.target, p.line) for p in pairs] == [("i am", "je suis", 1), ("you are", "tu es", 3)]


def test_vocab_has_specials_first_and_honours_min_freq_and_max_size():
    sentences = [["a", "b", "a"], ["c", "a", "b"], ["d"]]
    assert Vocab.build(sentences).itos == ["<pad>", "<sos>", "<eos>", "<unk>", "a", "b", "c", "d"]
    assert Vocab.build(sentences, min_freq=2).itos[4:] == ["a", "b"]
    vocab = Vocab.build(sentences, max_size=1)
    assert vocab.itos[4:] == ["a"] and vocab.encode(["a", "zebra"]) == [4, Vocab.UNK]


def test_vocab_round_trips_through_a_file(tmp_path):
    vocab = Vocab.build([["été", "à"]])
    vocab.save(tmp_path / "v.txt")
    assert Vocab.load(tmp_path / "v.txt").itos == vocab.itos


def test_targets_end_with_eos_and_inputs_start_with_sos():
    batch = collate([Example([5, 6], [7, 8, 9]), Example([5], [7])])
    assert batch.tgt_in.tolist() == [[Vocab.SOS, 7, 8, 9], [Vocab.SOS, 7, Vocab.PAD, Vocab.PAD]]
    assert batch.tgt_out.tolist() == [[7, 8, 9, Vocab.EOS], [7, Vocab.EOS, Vocab.PAD, Vocab.PAD]]
    assert batch.src_lengths.tolist() == [2, 1] and batch.n_tokens == 6


def test_bucketed_batches_cover_every_example_once_with_similar_lengths():
    examples = [Example([4] * n, [4]) for n in random.Random(0).choices(range(1, 30), k=200)]
    batches = bucketed_batches(examples, 16, random.Random(1))
    assert sorted(i for b in batches for i in b) == list(range(200))
    spread = max(max(len(examples[i].source) for i in b) - min(len(examples[i].source) for i in b) for b in batches)
    assert spread <= 3
    assert batches == bucketed_batches(examples, 16, random.Random(1))


def test_overrides_are_parsed_as_yaml_values(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  train: x.tsv\n", encoding="utf-8")
    config = load_config(path, ["train.epochs=7", "train.lr=1e-3", "model.bidirectional=false", "data.val=v.tsv"])
    assert (config.train.epochs, config.train.lr, config.model.bidirectional, config.data.val) == (7, 0.001, False, "v.tsv")
    assert config.train.batch_size == 64  # a default filled in


def test_an_integer_is_accepted_where_a_number_is_expected(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {train: x.tsv}\ntrain: {lr: 1}\n", encoding="utf-8")
    assert load_config(path).train.lr == 1.0


def test_malformed_override(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {train: x.tsv}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected key.sub=value"):
        load_config(path, ["train.epochs"])


def test_token_budget_batches_stay_within_budget_and_cover_everything():
    examples = [
        Example([4] * n, [4] * m)
        for n, m in zip(random.Random(2).choices(range(1, 40), k=300), random.Random(3).choices(range(1, 40), k=300))
    ]
    batches = bucketed_batches(examples, 1000, random.Random(0), batch_tokens=200)
    assert sorted(i for b in batches for i in b) == list(range(300))
    for batch in batches:
        padded = len(batch) * max(max(len(examples[i].source), len(examples[i].target) + 1) for i in batch)
        assert padded <= 200 or len(batch) == 1
    assert len({len(b) for b in batches}) > 3  # short sentences come in bigger batches


def test_max_time_accepts_durations(tmp_path):
    from seq2seq_cli.config import parse_duration

    assert [parse_duration(t) for t in ("90", "90s", "15m", "1h30m", "2h")] == [90, 90, 900, 5400, 7200]
    path = tmp_path / "c.yaml"
    path.write_text("data: {train: x.tsv}\ntrain: {max_time: soon}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="train.max_time: expected a duration"):
        load_config(path)


@pytest.mark.parametrize(
    "overrides,warnings",
    [
        (["model.type=transformer", "model.bidirectional=false", "model.attention=luong-dot", "model.embed_dim=64",
          "model.output=adaptive", "model.adaptive_cutoffs=[100]"],
         ["model.attention does nothing for model.type: transformer", "model.embed_dim does nothing for model.type: transformer",
          "model.bidirectional does nothing for model.type: transformer", "model.output does nothing for model.type: transformer",
          "model.adaptive_cutoffs does nothing for model.type: transformer"]),
        (["model.tie_embeddings=true", "model.ff_dim=64", "model.heads=8"],
         ["model.ff_dim does nothing for model.type: gru", "model.tie_embeddings does nothing for model.type: gru",
          "model.heads does nothing for model.attention: bahdanau"]),
        (["model.attention=multihead", "model.heads=8"], []),
        (["model.adaptive_cutoffs=[100]"], ["model.adaptive_cutoffs does nothing with model.output: softmax"]),
        (["train.warmup_steps=100"], ["train.warmup_steps does nothing with train.lr_schedule: plateau"]),
        (["train.lr_schedule=inverse-sqrt", "train.lr_decay=0.7", "train.lr_patience=5", "train.min_lr=0.0",
          "train.warmup_steps=100"],
         [f"train.{key} does nothing with train.lr_schedule: inverse-sqrt" for key in ("lr_decay", "lr_patience", "min_lr")]),
        (["train.lr_decay=1", "train.lr_patience=5"], ["train.lr_patience does nothing with train.lr_decay: 1 (never lowered)"]),
        (["data.vocab_size=500", "data.sentencepiece_type=unigram"],
         [f"data.{key} does nothing with data.tokenizer: word" for key in ("sentencepiece_type", "vocab_size")]),
        (["data.tokenizer=sentencepiece", "data.vocab_size=500"], []),
        (["data.val=v.tsv", "data.val_split=0.2"], ["data.val_split does nothing when data.val is given"]),
    ],
)
def test_a_key_that_does_nothing_for_the_chosen_model_is_named(tmp_path, overrides, warnings):
    path = tmp_path / "c.yaml"
    path.write_text("data: {train: x.tsv}\n", encoding="utf-8")
    assert unused_settings(load_config(path, overrides)) == warnings


def test_defaults_and_a_runs_saved_config_warn_about_nothing(tmp_path):
    """A saved config spells out every default (model.attention, model.ff_dim ... for any model): none of them warns."""
    from seq2seq_cli.config import save_config

    path = tmp_path / "c.yaml"
    path.write_text("data: {train: x.tsv}\nmodel: {type: transformer}\ntrain: {lr_schedule: inverse-sqrt}\n", encoding="utf-8")
    config = load_config(path)
    assert unused_settings(config) == []
    save_config(config, tmp_path / "saved.yaml")
    assert "attention: bahdanau" in (tmp_path / "saved.yaml").read_text()
    assert unused_settings(load_config(tmp_path / "saved.yaml")) == []


def test_training_sentences_longer_than_translation_accepts_are_a_config_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {train: x.tsv, max_len: 300}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"c.yaml: data.max_len \(300\) is larger than decode.max_input_len \(256\)"):
        load_config(path)
    assert load_config(path, ["decode.max_input_len=300"]).data.max_len == 300


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda path: path.name)
def test_every_shipped_config_loads_without_an_idle_key(path):
    """A typo or a key that does nothing in a config we ship is caught here, not in a user's hour-long run."""
    config = load_config(path)
    assert unused_settings(config) == [], path.name
    assert config.data.train, path.name
