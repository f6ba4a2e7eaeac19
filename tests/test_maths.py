"""Unit tests that pin the maths: masking, batching invariance, and search."""

from __future__ import annotations

import pytest
import torch

from seq2seq_cli.attention import masked_softmax
from seq2seq_cli.config import ModelConfig
from seq2seq_cli.data import Vocab, pad_sources
from seq2seq_cli.model import build_model
from seq2seq_cli.search import greedy_search, max_output_lengths

ATTENTION_TYPES = ["bahdanau", "luong-dot", "luong-general", "location"]
VOCAB = 23


def tiny_model(attention: str, bidirectional: bool = True, layers: int = 2):
    torch.manual_seed(0)
    config = ModelConfig(attention=attention, embed_dim=12, hidden_size=16, layers=layers, bidirectional=bidirectional, dropout=0.0)
    return build_model(config, VOCAB, VOCAB, max_len=12).eval()


def random_sentences(count: int, seed: int = 0) -> list[list[int]]:
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 10, (count,), generator=generator)
    return [torch.randint(4, VOCAB, (int(n),), generator=generator).tolist() for n in lengths]


def test_masked_softmax_rows_sum_to_one_and_padding_gets_exactly_zero():
    scores = torch.randn(3, 4, 5) * 10
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    weights = masked_softmax(scores, mask)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4))
    assert (weights[~mask.unsqueeze(1).expand_as(weights)] == 0).all()


@pytest.mark.parametrize("attention", ATTENTION_TYPES)
def test_every_attention_type_puts_exactly_zero_on_padding(attention):
    model = tiny_model(attention)
    src, lengths = pad_sources(random_sentences(6))
    memory, state = model.encode(src, lengths)
    tgt = torch.randint(4, VOCAB, (6, 7))
    _, weights, _ = model.decoder(tgt, state, memory)  # (batch, tgt_len, src_len)
    padded = ~memory.mask.unsqueeze(1).expand_as(weights)
    assert padded.any()
    assert (weights[padded] == 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(6, 7))


@pytest.mark.parametrize("attention", ATTENTION_TYPES)
@pytest.mark.parametrize("bidirectional", [True, False])
def test_a_sentence_encodes_the_same_alone_and_in_a_padded_batch(attention, bidirectional):
    model = tiny_model(attention, bidirectional)
    sentences = random_sentences(5)
    src, lengths = pad_sources(sentences)
    memory, state = model.encode(src, lengths)
    for row, sentence in enumerate(sentences):
        alone_memory, alone_state = model.encode(*pad_sources([sentence]))
        n = len(sentence)
        torch.testing.assert_close(memory.values[row, :n], alone_memory.values[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(memory.keys[row, :n], alone_memory.keys[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(state[:, row], alone_state[:, 0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("attention", ATTENTION_TYPES)
def test_decoding_all_steps_at_once_equals_stepping_one_word_at_a_time(attention):
    """Training runs the decoder over the whole target; search calls ``step``: they must agree."""
    model = tiny_model(attention)
    src, lengths = pad_sources(random_sentences(4))
    memory, state = model.encode(src, lengths)
    tgt = torch.randint(4, VOCAB, (4, 6))
    logits, weights, _ = model.decoder(tgt, state, memory)
    for t in range(tgt.size(1)):
        log_probs, step_weights, state = model.decoder.step(tgt[:, t], state, memory)
        torch.testing.assert_close(log_probs, torch.log_softmax(logits[:, t], -1), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(step_weights, weights[:, t], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("attention", ATTENTION_TYPES)
def test_batched_greedy_equals_one_sentence_at_a_time(attention):
    model = tiny_model(attention)
    sentences = random_sentences(8, seed=3)
    src, lengths = pad_sources(sentences)
    batched = greedy_search(model, src, lengths, max_output_lengths(lengths, 1.5, 2))
    for sentence, hypothesis in zip(sentences, batched):
        alone_src, alone_lengths = pad_sources([sentence])
        alone = greedy_search(model, alone_src, alone_lengths, max_output_lengths(alone_lengths, 1.5, 2))[0]
        assert alone.tokens == hypothesis.tokens
        assert alone.score == pytest.approx(hypothesis.score, abs=1e-4)
        torch.testing.assert_close(alone.attention, hypothesis.attention, atol=1e-5, rtol=1e-5)


def test_greedy_stops_at_the_length_limit_and_never_emits_pad_or_sos():
    model = tiny_model("bahdanau")
    src, lengths = pad_sources(random_sentences(6, seed=5))
    limits = max_output_lengths(lengths, 1.0, 1)
    for hypothesis, limit, n in zip(greedy_search(model, src, lengths, limits), limits.tolist(), lengths.tolist()):
        assert 1 <= len(hypothesis.tokens) <= limit
        assert Vocab.PAD not in hypothesis.tokens and Vocab.SOS not in hypothesis.tokens
        assert hypothesis.attention.shape == (len(hypothesis.tokens), n)
        if Vocab.EOS in hypothesis.tokens:
            assert hypothesis.tokens.index(Vocab.EOS) == len(hypothesis.tokens) - 1


def test_location_attention_refuses_input_wider_than_its_width():
    from seq2seq_cli.errors import DataError

    model = tiny_model("location")
    src, lengths = pad_sources([[5] * 13])
    with pytest.raises(DataError, match="covers at most 12"):
        model.encode(src, lengths) and model(src, lengths, torch.tensor([[Vocab.SOS]]))
