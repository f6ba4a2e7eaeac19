"""Unit tests that pin the maths: masking, batching invariance, and search."""

from __future__ import annotations

import pytest
import torch

from seq2seq_cli.config import ModelConfig
from seq2seq_cli.data.batches import pad_sources
from seq2seq_cli.data.text import Vocab
from seq2seq_cli.decoding.search import greedy_search, max_output_lengths
from seq2seq_cli.models.attention import masked_softmax
from seq2seq_cli.models.seq2seq import build_model

ATTENTION_TYPES = ["bahdanau", "luong-dot", "luong-general", "location"]
VOCAB = 23


def tiny_model(attention: str, bidirectional: bool = True, layers: int = 2):
    torch.manual_seed(0)
    config = ModelConfig(
        attention=attention, embed_dim=12, hidden_size=16, layers=layers, bidirectional=bidirectional, dropout=0.0
    )
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


@pytest.mark.parametrize("attention", ATTENTION_TYPES)
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_beam_size_one_equals_greedy(attention, alpha):
    from seq2seq_cli.decoding.search import beam_search

    model = tiny_model(attention)
    src, lengths = pad_sources(random_sentences(8, seed=7))
    limits = max_output_lengths(lengths, 1.5, 2)
    greedy = greedy_search(model, src, lengths, limits)
    beam = beam_search(model, src, lengths, limits, beam_size=1, alpha=alpha)
    for g, (b,) in zip(greedy, beam):
        assert b.tokens == g.tokens
        torch.testing.assert_close(b.attention, g.attention)
        if alpha == 0.0:
            assert b.score == pytest.approx(g.score, abs=1e-4)


@torch.no_grad()
def _exhaustive_best(model, sentence, limit, alpha):
    """Every output of at most ``limit`` words, scored one by one: the true best under the penalty."""
    import itertools

    from seq2seq_cli.decoding.search import length_penalty

    src, lengths = pad_sources([sentence])
    memory, state = model.encode(src, lengths)
    words = [t for t in range(model.decoder.out.out_features) if t not in (Vocab.PAD, Vocab.SOS, Vocab.EOS)]
    best = (float("-inf"), ())
    for length in range(1, limit + 1):
        for body in itertools.product(words, repeat=length - 1):
            for last in [Vocab.EOS] + (words if length == limit else []):
                output = [*body, last]
                logits, _, _ = model.decoder(torch.tensor([[Vocab.SOS, *output[:-1]]]), state, memory)
                log_probs = torch.log_softmax(logits[0], -1)
                score = float(log_probs[torch.arange(length), torch.tensor(output)].sum())
                best = max(best, (score / length_penalty(length, alpha), tuple(output)))
    return best


def test_a_beam_as_wide_as_the_search_space_finds_the_true_best():
    from seq2seq_cli.decoding.search import beam_search

    torch.manual_seed(1)
    config = ModelConfig(attention="bahdanau", embed_dim=8, hidden_size=8, bidirectional=False, dropout=0.0)
    model = build_model(config, 7, 7, max_len=10).eval()  # 3 real words + <unk>, <eos>
    src, lengths = pad_sources([[4, 5, 6]])
    for alpha in (0.0, 2.0):
        (best,) = beam_search(model, src, lengths, torch.tensor([3]), beam_size=25, alpha=alpha)[0]
        expected_score, expected_tokens = _exhaustive_best(model, [4, 5, 6], 3, alpha)
        assert tuple(best.tokens) == expected_tokens
        assert best.score == pytest.approx(expected_score, abs=1e-5)


def test_adaptive_output_is_a_distribution_and_its_training_loss_matches_what_search_scores():
    torch.manual_seed(0)
    config = ModelConfig(embed_dim=12, hidden_size=16, dropout=0.0, output="adaptive", adaptive_cutoffs=[8, 16])
    out = build_model(config, VOCAB, VOCAB, max_len=12).decoder.out
    features, targets = torch.randn(3, 5, 16), torch.randint(0, VOCAB, (15,))
    log_probs = out(features)  # (3, 5, vocab)
    assert log_probs.shape == (3, 5, VOCAB)
    torch.testing.assert_close(log_probs.logsumexp(-1), torch.zeros(3, 5), atol=1e-5, rtol=0)
    expected = -log_probs.view(15, VOCAB).gather(1, targets.unsqueeze(1)).sum()
    torch.testing.assert_close(out.summed_nll(features.view(15, 16), targets), expected)


def test_adaptive_output_beam_size_one_equals_greedy():
    from seq2seq_cli.decoding.search import beam_search

    torch.manual_seed(0)
    config = ModelConfig(embed_dim=12, hidden_size=16, dropout=0.0, output="adaptive", adaptive_cutoffs=[8, 16])
    model = build_model(config, VOCAB, VOCAB, max_len=12).eval()
    src, lengths = pad_sources(random_sentences(8, seed=3))
    limits = max_output_lengths(lengths, 1.5, 2)
    greedy = greedy_search(model, src, lengths, limits)
    assert [b[0].tokens for b in beam_search(model, src, lengths, limits, beam_size=1)] == [g.tokens for g in greedy]


def test_beam_returns_n_best_sorted_and_batched_equals_alone():
    from seq2seq_cli.decoding.search import beam_search

    model = tiny_model("luong-general")
    sentences = random_sentences(6, seed=11)
    src, lengths = pad_sources(sentences)
    limits = max_output_lengths(lengths, 1.5, 2)
    batched = beam_search(model, src, lengths, limits, beam_size=4, alpha=0.6, n_best=3)
    for sentence, hypotheses in zip(sentences, batched):
        assert len(hypotheses) == 3
        assert [h.score for h in hypotheses] == sorted((h.score for h in hypotheses), reverse=True)
        alone_src, alone_lengths = pad_sources([sentence])
        alone = beam_search(model, alone_src, alone_lengths, max_output_lengths(alone_lengths, 1.5, 2), 4, 0.6, 3)[0]
        assert [h.tokens for h in alone] == [h.tokens for h in hypotheses]


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("frozen", [False, True])
def test_the_fused_training_loss_has_the_plain_loss_and_gradients(label_smoothing, frozen, monkeypatch):
    """Training's chunked output layer + cross-entropy computes what F.cross_entropy over full logits does."""
    import torch.nn.functional as F

    from seq2seq_cli.models import output

    monkeypatch.setattr(output, "LOSS_CHUNK_ELEMENTS", 7 * VOCAB)  # 3 chunks, the last one short
    torch.manual_seed(0)
    out = output.SoftmaxOutput(16, VOCAB)
    out.weight.requires_grad_(not frozen)
    features, targets = torch.randn(17, 16, requires_grad=True), torch.randint(0, VOCAB, (17,))

    def loss_and_grads(loss_fn):
        features.grad = out.weight.grad = out.bias.grad = None
        loss = loss_fn()
        (2.5 * loss).backward()  # backward scales the gradients it kept by the incoming one
        return loss.detach(), features.grad, out.weight.grad, out.bias.grad

    assert type(out.summed_nll(features, targets).grad_fn).__name__ == "FusedLinearCrossEntropyBackward"
    fused = loss_and_grads(lambda: out.summed_nll(features, targets, label_smoothing))
    plain = loss_and_grads(lambda: F.cross_entropy(out(features), targets, reduction="sum", label_smoothing=label_smoothing))
    assert (fused[2] is None) == frozen
    for mine, expected in zip(fused, plain):
        if expected is None:
            assert mine is None
        else:
            torch.testing.assert_close(mine, expected, atol=1e-5, rtol=1e-5)
    with torch.no_grad():  # evaluation takes the plain path and gets the same loss
        torch.testing.assert_close(out.summed_nll(features, targets, label_smoothing), fused[0], atol=1e-4, rtol=1e-6)


def test_the_fused_adaptive_training_loss_has_the_plain_loss_and_gradients(monkeypatch):
    from seq2seq_cli.models import output

    monkeypatch.setattr(output, "LOSS_CHUNK_ELEMENTS", 5 * VOCAB)  # several chunks per part
    torch.manual_seed(0)
    config = ModelConfig(embed_dim=12, hidden_size=16, dropout=0.0, output="adaptive", adaptive_cutoffs=[8, 16])
    out = build_model(config, VOCAB, VOCAB, max_len=12).decoder.out
    features = torch.randn(40, 16, requires_grad=True)
    targets = torch.cat([torch.arange(VOCAB), torch.randint(0, VOCAB, (40 - VOCAB,))])  # every cluster seen

    def loss_and_grads(loss_fn):
        features.grad = None
        out.zero_grad(set_to_none=True)
        loss = loss_fn()
        (0.5 * loss).backward()
        return [loss.detach(), features.grad, *(p.grad for p in out.parameters())]

    assert "FusedLinearCrossEntropy" in repr(out.summed_nll(features, targets).grad_fn.next_functions)
    fused = loss_and_grads(lambda: out.summed_nll(features, targets))
    plain = loss_and_grads(lambda: -torch.nn.AdaptiveLogSoftmaxWithLoss.forward(out, features, targets).output.sum())
    for mine, expected in zip(fused, plain, strict=True):
        torch.testing.assert_close(mine, expected, atol=1e-5, rtol=1e-5)


def test_flop_counters_see_all_three_products_of_the_fused_loss():
    """bench/run.py's share of peak counts FLOPs with FlopCounterMode; it must see the weight gradient too."""
    from torch.utils.flop_counter import FlopCounterMode

    from seq2seq_cli.models.output import SoftmaxOutput

    tokens, hidden = 30, 16
    out = SoftmaxOutput(hidden, VOCAB)
    features, targets = torch.randn(tokens, hidden, requires_grad=True), torch.randint(0, VOCAB, (tokens,))
    counter = FlopCounterMode(display=False)
    with counter:
        out.summed_nll(features, targets).backward()
    assert counter.get_total_flops() == 3 * 2 * tokens * hidden * VOCAB  # logits, features' and weight's gradients


def packed_gru(rnn: torch.nn.GRU, inputs, h0, lengths):
    """The reference: ``nn.GRU`` on packed sequences, as before ``GRULayer`` existed."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    if lengths is None:
        return rnn(inputs, h0)
    outputs, final = rnn(pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False), h0)
    return pad_packed_sequence(outputs, batch_first=True, total_length=inputs.size(1))[0], final


@pytest.mark.parametrize(("bidirectional", "layers", "lengths", "with_h0"), [
    (True, 1, [7, 3, 5, 1, 7], False),  # the encoder: padded sentences, each direction from its own end
    (False, 1, None, True),  # the decoder: teacher forcing from the encoder's final state
    (True, 2, [7, 3, 5, 1, 7], True),
    (False, 2, [6, 7, 2, 7, 4], False),
])
def test_the_training_gru_layer_has_nn_grus_outputs_and_gradients(bidirectional, layers, lengths, with_h0):
    """GRULayer (one autograd node per layer, a mask instead of packing) against nn.GRU on packed input."""
    from seq2seq_cli.models.recurrence import run_gru_layers

    torch.manual_seed(0)
    rnn = torch.nn.GRU(8, 16, layers, batch_first=True, bidirectional=bidirectional).double()
    inputs = torch.randn(5, 7, 8, dtype=torch.double, requires_grad=True)
    lengths = None if lengths is None else torch.tensor(lengths)
    h0 = torch.randn(layers * (1 + bidirectional), 5, 16, dtype=torch.double, requires_grad=True) if with_h0 else None
    grad_outputs = torch.randn(5, 7, 16 * (1 + bidirectional), dtype=torch.double)
    grad_final = torch.randn(layers * (1 + bidirectional), 5, 16, dtype=torch.double)

    def outputs_and_grads(gru_fn):
        rnn.zero_grad(set_to_none=True)
        inputs.grad = None
        if h0 is not None:
            h0.grad = None
        outputs, final = gru_fn(rnn, inputs, h0, lengths)
        ((outputs * grad_outputs).sum() + (final * grad_final).sum()).backward()
        return [outputs, final, inputs.grad, h0.grad if h0 is not None else None, *(p.grad for p in rnn.parameters())]

    mine, expected = outputs_and_grads(run_gru_layers), outputs_and_grads(packed_gru)
    for got, want in zip(mine, expected, strict=True):
        if want is None:
            assert got is None
        else:
            torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-10)
    if lengths is not None:  # past a sentence's end: outputs exactly 0, input gradients exactly 0
        past_end = torch.arange(7).unsqueeze(0) >= lengths.unsqueeze(1)
        assert mine[0][past_end].eq(0).all() and mine[2][past_end].eq(0).all()


def autograd_nodes(tensor: torch.Tensor) -> set[str]:
    """The names of every autograd node ``tensor`` was computed through."""
    seen, names, todo = set(), set(), [tensor.grad_fn]
    while todo:
        node = todo.pop()
        if node is not None and node not in seen:
            seen.add(node)
            names.add(type(node).__name__)
            todo.extend(next_node for next_node, _ in node.next_functions)
    return names


def test_training_on_a_cpu_takes_the_gru_layer_and_evaluation_keeps_nn_gru():
    torch.manual_seed(0)
    model = build_model(ModelConfig(embed_dim=12, hidden_size=16, dropout=0.0), VOCAB, VOCAB, max_len=12)
    src, lengths = pad_sources([[5, 6, 7, 8], [9, 10]])
    memory, state = model.encode(src, lengths)
    assert "GRULayerBackward" in autograd_nodes(memory.values) and "GRULayerBackward" in autograd_nodes(state)
    detached = type(memory)(memory.values.detach(), memory.keys.detach(), memory.mask)
    features, _, _ = model.decoder.features(src, state.detach(), detached)
    assert "GRULayerBackward" in autograd_nodes(features)  # the decoder's own GRU
    with torch.no_grad():
        plain_memory, plain_state = model.encode(src, lengths)
    torch.testing.assert_close(memory.values, plain_memory.values)
    torch.testing.assert_close(state, plain_state)


def test_flop_counters_see_the_gru_layers_products_as_nn_grus():
    """bench/run.py's share of peak counts FLOPs with FlopCounterMode: GRULayer's must be nn.GRU's."""
    from torch.utils.flop_counter import FlopCounterMode

    from seq2seq_cli.models.recurrence import run_gru_layers

    def flops(gru_fn, rnn, h0):
        inputs = torch.randn(4, 5, 32, requires_grad=True)
        with FlopCounterMode(display=False) as counter:
            outputs, final = gru_fn(rnn, inputs, h0, None)
            (outputs.sum() + final.sum()).backward()
        return counter.get_total_flops()

    for bidirectional, h0 in [(True, None), (False, torch.randn(1, 4, 16, requires_grad=True))]:
        rnn = torch.nn.GRU(32, 16, batch_first=True, bidirectional=bidirectional)
        assert flops(run_gru_layers, rnn, h0) == flops(packed_gru, rnn, h0) > 0


def test_the_fused_loss_refuses_a_second_backward_instead_of_scaling_twice():
    from seq2seq_cli.models.output import SoftmaxOutput

    out = SoftmaxOutput(16, VOCAB)
    loss = out.summed_nll(torch.randn(5, 16, requires_grad=True), torch.randint(0, VOCAB, (5,)))
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="backpropagated once"):
        loss.backward()


def test_dropout_keeps_one_minus_p_of_the_units_scaled_and_its_gradient_uses_the_same_mask():
    from seq2seq_cli.models.dropout import Dropout

    torch.manual_seed(0)
    dropout = Dropout(0.3)
    x = (torch.rand(200, 500) + 1).requires_grad_()  # never 0: a zero output means dropped
    y = dropout(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.005  # 100,000 units: the standard error is 0.0015
    torch.testing.assert_close(y[kept], x[kept] / 0.7)
    y.backward(torch.ones_like(y))
    torch.testing.assert_close(x.grad, kept.float() / 0.7)
    dropout.eval()
    assert torch.equal(dropout(x), x)


def test_training_attention_scores_have_the_plain_expressions_values_and_gradients():
    """Bahdanau attention's training path (``AdditiveScores``) computes v . tanh(q + k) and its gradients."""
    from seq2seq_cli.models.attention import AdditiveScores, BahdanauAttention

    torch.manual_seed(0)
    queries = torch.randn(3, 4, 8, dtype=torch.float64, requires_grad=True)
    keys = torch.randn(3, 5, 8, dtype=torch.float64, requires_grad=True)
    energy = torch.randn(1, 8, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(3, 4, 5, dtype=torch.float64)
    mine = AdditiveScores.apply(queries, keys, energy)
    plain = ((queries.unsqueeze(2) + keys.unsqueeze(1)).tanh() @ energy.t()).squeeze(-1)
    torch.testing.assert_close(mine, plain, atol=1e-12, rtol=0)
    for got, expected in zip(torch.autograd.grad(mine, (queries, keys, energy), upstream),
                             torch.autograd.grad(plain, (queries, keys, energy), upstream)):
        torch.testing.assert_close(got, expected, atol=1e-12, rtol=0)

    attention = BahdanauAttention(8)  # float32 training takes it; evaluation the plain expression
    query, memory = torch.randn(2, 3, 8, requires_grad=True), torch.randn(2, 4, 8)
    mask = torch.tensor([[True, True, True, False], [True, True, True, True]])
    context, weights = attention(query, attention.project_keys(memory), memory, mask, None)
    assert "AdditiveScoresBackward" in autograd_nodes(context)
    assert torch.all(weights[0, :, 3] == 0)
    with torch.no_grad():
        plain_context, plain_weights = attention(query, attention.project_keys(memory), memory, mask, None)
    torch.testing.assert_close(weights, plain_weights)
    torch.testing.assert_close(context, plain_context)


def test_training_attention_scores_refuse_a_second_backward():
    from seq2seq_cli.models.attention import AdditiveScores

    scores = AdditiveScores.apply(torch.randn(2, 3, 4, requires_grad=True), torch.randn(2, 5, 4), torch.randn(1, 4))
    scores.sum().backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="backpropagated once"):
        scores.sum().backward()


def test_flop_counters_see_the_training_attention_scores_products_with_v():
    """bench/run.py's share of peak counts FLOPs: v . tanh(q + k) and v's gradient are 2 x 2 N h, N = b t s."""
    from torch.utils.flop_counter import FlopCounterMode

    from seq2seq_cli.models.attention import AdditiveScores

    queries, keys = torch.randn(2, 3, 8, requires_grad=True), torch.randn(2, 5, 8, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        AdditiveScores.apply(queries, keys, torch.randn(1, 8, requires_grad=True)).sum().backward()
    assert counter.get_total_flops() == 2 * (2 * (2 * 3 * 5) * 8)
