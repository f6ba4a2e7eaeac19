"""One vocabulary over both languages and one embedding table for both sides (issue 32 part 3): what
the small Transformer for Multi30k needs, and what a user must not be able to half-configure."""

from __future__ import annotations

import pytest
import torch

from seq2seq_cli.decoding.translator import Translator
from seq2seq_cli.models.seq2seq import parameter_counts
from tests.conftest import SEED_PAIRS, TRANSFORMER_SEED, run_cli, train_seed_run
from tests.test_bad_input import assert_one_line_error

JOINT = ["data.joint_vocab=true", "model.share_embeddings=true", "model.tie_embeddings=true"]
SUBWORDS = ["data.tokenizer=sentencepiece", "data.vocab_size=60", "data.max_len=40"]


@pytest.fixture(scope="module")
def joint_run(tmp_path_factory):
    return train_seed_run(tmp_path_factory.mktemp("joint"), [*TRANSFORMER_SEED, *JOINT, *SUBWORDS])


def test_both_sides_read_one_vocabulary_and_one_sentencepiece_model(joint_run):
    assert (joint_run / "vocab.src.txt").read_text() == (joint_run / "vocab.tgt.txt").read_text()
    assert (joint_run / "spm.src.model").read_bytes() == (joint_run / "spm.tgt.model").read_bytes()
    itos = (joint_run / "vocab.src.txt").read_text().split("\n")
    assert {"▁il", "▁est", "▁is", "▁are"} <= set(itos)  # French and English pieces in the one vocabulary


def test_one_embedding_table_serves_encoder_decoder_and_output_after_loading(joint_run):
    model = Translator.from_run(joint_run).model
    table = model.encoder.embedding.weight
    assert model.decoder.embedding.weight is table and model.decoder.out.weight is table
    counts = parameter_counts(model)
    assert "decoder.embedding" not in counts  # counted once, under the encoder
    assert counts["encoder.embedding"] == table.numel()


def test_the_shared_model_learns_and_attribution_still_reads_the_source_embeddings(joint_run):
    translator = Translator.from_run(joint_run).with_decoding(beam_size=1)
    translations = translator.translate([source for source, _ in SEED_PAIRS])
    assert sum(t.text == target for t, (_, target) in zip(translations, SEED_PAIRS)) >= 4
    explained = translator.explain(translations[:1], "grad", 32)[0]
    scores = explained.attribution.scores  # (output steps, source tokens)
    assert scores.shape == (len(explained.steps), len(explained.source))
    assert torch.isfinite(scores).all() and scores.abs().sum() > 0


def test_word_tokens_share_one_vocabulary_too(tmp_path):
    run = train_seed_run(tmp_path, [*TRANSFORMER_SEED, *JOINT, "train.epochs=1"])
    vocab = (run / "vocab.src.txt").read_text().split("\n")
    assert {"student", "etudiant"} <= set(vocab)
    assert (run / "vocab.tgt.txt").read_text().split("\n") == vocab


def test_shared_embeddings_without_a_joint_vocabulary_is_a_one_line_error(tmp_path):
    result = run_cli("train", "-c", "configs/seed.yaml", "--set", "model.share_embeddings=true",
                     "--set", f"train.runs_dir={tmp_path}")
    assert_one_line_error(result, "model.share_embeddings needs data.joint_vocab: true")
    assert not any(tmp_path.iterdir())
