"""The Transformer through the same seam: masking, caching, batching, search and the CLI story."""

from __future__ import annotations

import pytest
import torch

from seq2seq_cli.config import ModelConfig
from seq2seq_cli.data.batches import pad_sources
from seq2seq_cli.decoding.search import beam_search, greedy_search, max_output_lengths
from seq2seq_cli.models.seq2seq import build_model
from tests.conftest import SEED_PAIRS, run_cli

VOCAB = 29


def tiny_transformer(**changes):
    torch.manual_seed(0)
    config = ModelConfig(type="transformer", hidden_size=16, heads=4, ff_dim=32, layers=2, dropout=0.0, **changes)
    return build_model(config, VOCAB, VOCAB, max_len=50).eval()


def sentences(count: int, seed: int) -> list[list[int]]:
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 9, (count,), generator=generator)
    return [torch.randint(4, VOCAB, (int(n),), generator=generator).tolist() for n in lengths]


def encoded(count: int, seed: int):
    """A tiny Transformer and the memory and first state of ``count`` random sentences."""
    model = tiny_transformer()
    src, lengths = pad_sources(sentences(count, seed))
    return (model, *model.encode(src, lengths))


def test_the_causal_mask_holds():
    """Changing a later target word changes no earlier output."""
    model, memory, state = encoded(3, 0)
    tgt = torch.randint(4, VOCAB, (3, 7))
    logits, _, _ = model.decoder(tgt, state, memory)
    changed = tgt.clone()
    changed[:, 4:] = (changed[:, 4:] + 1) % VOCAB
    changed_logits, _, _ = model.decoder(changed, state, memory)
    torch.testing.assert_close(logits[:, :4], changed_logits[:, :4])
    assert not torch.allclose(logits[:, 4:], changed_logits[:, 4:])


def test_cross_attention_puts_exactly_zero_on_padding():
    model, memory, state = encoded(5, 1)
    _, weights, _ = model.decoder(torch.randint(4, VOCAB, (5, 4)), state, memory)  # (b, t, layers, heads, s)
    padded = ~memory.mask[:, None, None, None, :].expand_as(weights)
    assert padded.any() and (weights[padded] == 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))


def test_cached_steps_equal_the_whole_sequence_at_once():
    model, memory, state = encoded(4, 2)
    tgt = torch.randint(4, VOCAB, (4, 6))
    logits, weights, _ = model.decoder(tgt, state, memory)
    for t in range(6):
        log_probs, step_weights, state = model.decoder.step(tgt[:, t], state, memory)
        torch.testing.assert_close(log_probs, torch.log_softmax(logits[:, t], -1), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(step_weights, weights[:, t], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("beam_size", [1, 4])
def test_cached_and_uncached_decoding_give_identical_output(beam_size):
    model = tiny_transformer()
    src, lengths = pad_sources(sentences(6, 3))
    limits = max_output_lengths(lengths, 1.5, 3)
    cached = beam_search(model, src, lengths, limits, beam_size, alpha=0.6)
    model.decoder.use_cache = False
    uncached = beam_search(model, src, lengths, limits, beam_size, alpha=0.6)
    assert [[h.tokens for h in n] for n in cached] == [[h.tokens for h in n] for n in uncached]


def test_a_sentence_gives_the_same_output_alone_and_in_a_padded_batch():
    model = tiny_transformer()
    batch = sentences(7, 4)
    src, lengths = pad_sources(batch)
    together = beam_search(model, src, lengths, max_output_lengths(lengths, 1.5, 3), 3, 0.6)
    for sentence, hypotheses in zip(batch, together):
        alone_src, alone_lengths = pad_sources([sentence])
        alone = beam_search(model, alone_src, alone_lengths, max_output_lengths(alone_lengths, 1.5, 3), 3, 0.6)[0]
        assert alone[0].tokens == hypotheses[0].tokens


def test_beam_size_one_equals_greedy():
    model = tiny_transformer()
    src, lengths = pad_sources(sentences(8, 5))
    limits = max_output_lengths(lengths, 1.5, 3)
    greedy = greedy_search(model, src, lengths, limits)
    beam = beam_search(model, src, lengths, limits, beam_size=1, alpha=0.6)
    assert [g.tokens for g in greedy] == [b[0].tokens for b in beam]


def test_tied_embeddings_share_one_matrix():
    model = tiny_transformer(tie_embeddings=True)
    assert model.decoder.out.weight is model.decoder.embedding.weight


def test_the_transformer_learns_the_five_pairs(transformer_run):
    sources = "\n".join(s for s, _ in SEED_PAIRS)
    result = run_cli("translate", "--run", str(transformer_run), "-", input=sources)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [t for _, t in SEED_PAIRS]


@pytest.mark.parametrize("options", [[], ["--layer", "0", "--head", "2"], ["--grid"], ["--grid", "--layer", "0"]])
def test_attend_draws_layers_heads_and_grids(transformer_run, tmp_path, options):
    out = tmp_path / "heads.png"
    result = run_cli("attend", "--run", str(transformer_run), "--output", str(out), *options, "she is a doctor")
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"\x89PNG")


# (layer, head) asked for -> the slice of the decoder's attention (steps, layers, heads, source) that must be drawn
HEADS = {
    ("0", "2"): lambda a: a[:, 0, 2], ("1", "0"): lambda a: a[:, 1, 0], ("0", None): lambda a: a[:, 0].mean(dim=1),
    (None, "3"): lambda a: a[:, 1, 3], (None, None): lambda a: a[:, 1].mean(dim=1),
}


@pytest.mark.parametrize("layer,head", HEADS)
def test_attend_draws_the_head_it_is_asked_for(transformer_run, tmp_path, monkeypatch, layer, head):
    from seq2seq_cli.decoding.translator import Translator
    from seq2seq_cli.viz import plot

    drawn = []
    monkeypatch.setattr(plot, "plot_attention", lambda source, output, weights, *rest: drawn.append(weights))
    options = [*(["--layer", layer] if layer else []), *(["--head", head] if head else [])]
    result = run_cli("attend", "--run", str(transformer_run), "--output", str(tmp_path / "h.png"), *options, "she is a doctor")
    assert result.exit_code == 0, result.output
    attention = Translator.from_run(transformer_run).translate(["she is a doctor"])[0].attention  # what the model did
    assert attention.shape[1:3] == (2, 4)
    expected = HEADS[layer, head](attention)
    assert torch.equal(drawn[0], expected)
    others = [attention[:, lay, h] for lay in range(2) for h in range(4)]
    assert sum(torch.equal(drawn[0], other) for other in others) == (head is not None)  # that head, and no other


def test_attend_grid_draws_every_head_of_the_layer(transformer_run, tmp_path, monkeypatch):
    from seq2seq_cli.decoding.translator import Translator
    from seq2seq_cli.viz import plot

    drawn = []
    monkeypatch.setattr(plot, "_plot_heads", lambda source, output, weights, *rest: drawn.append(weights))
    for options in (["--grid"], ["--grid", "--layer", "0"]):
        result = run_cli("attend", "--run", str(transformer_run), "-o", str(tmp_path / "g.png"), *options, "he is a teacher")
        assert result.exit_code == 0, result.output
    attention = Translator.from_run(transformer_run).translate(["he is a teacher"])[0].attention
    assert torch.equal(drawn[0], attention[:, 1]) and torch.equal(drawn[1], attention[:, 0])


def test_attend_rejects_a_head_that_does_not_exist(transformer_run, tmp_path):
    result = run_cli("attend", "--run", str(transformer_run), "--output", str(tmp_path / "x.png"), "--head", "9")
    assert result.exit_code == 2 and "--head 9: this model has heads 0 to 3" in result.stderr


def test_multihead_attention_for_the_gru_decoder(tmp_path):
    result = run_cli("train", "-c", "configs/seed.yaml", "--set", f"train.runs_dir={tmp_path}",
                     "--set", "model.attention=multihead", "--set", "model.heads=4")
    assert result.exit_code == 0, result.output
    out = tmp_path / "grid.png"
    result = run_cli("attend", "--runs-dir", str(tmp_path), "--grid", "--output", str(out), "he is a teacher")
    assert result.exit_code == 0 and result.stdout == "il est professeur\n"


def test_sentencepiece_is_trained_on_first_use_and_kept_in_the_run(tmp_path):
    result = run_cli("train", "-c", "configs/default.yaml", "--set", f"train.runs_dir={tmp_path}",
                     "--set", "data.tokenizer=sentencepiece", "--set", "data.vocab_size=300",
                     "--set", "model.hidden_size=64", "--set", "model.embed_dim=64", "--set", "train.epochs=2")
    assert result.exit_code == 0, result.output
    run = tmp_path / "default"
    assert (run / "spm.src.model").is_file() and (run / "spm.tgt.model").is_file()
    pieces = (run / "vocab.tgt.txt").read_text(encoding="utf-8").splitlines()
    assert any(p.startswith("\u2581") for p in pieces) and len(pieces) <= 310
    result = run_cli("attend", "--run", str(run), "--output", str(tmp_path / "w.png"), "the red car is small")
    assert result.exit_code == 0, result.output
    assert "▁" not in result.stdout  # detokenised
