"""Attribution and forced prefixes: the maths pinned on tiny models, then the user's story through the CLI."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from seq2seq_cli.config import ModelConfig
from seq2seq_cli.data.batches import pad_sources
from seq2seq_cli.data.text import Vocab
from seq2seq_cli.decoding.attribution import Attributor
from seq2seq_cli.decoding.search import SearchTrace, beam_search, greedy_search, max_output_lengths
from seq2seq_cli.errors import S2SError
from seq2seq_cli.models.seq2seq import build_model
from tests.conftest import run_cli

VOCAB = 23
SOURCE, TARGET = [5, 6, 7, 8, 9], [10, 11, 12, Vocab.EOS]
MODELS = ["bahdanau", "location", "multihead", "transformer"]


def tiny_model(kind: str):
    torch.manual_seed(0)
    if kind == "transformer":
        config = ModelConfig(type="transformer", hidden_size=16, heads=2, ff_dim=32, layers=2, dropout=0.0)
    else:
        config = ModelConfig(attention=kind, embed_dim=12, hidden_size=16, bidirectional=True, dropout=0.0,
                             heads=2 if kind == "multihead" else 1)
    return build_model(config, VOCAB, VOCAB, max_len=12).eval()


def teacher_forced_log_probs(model, source: list[int], target: list[int], replace_word: int | None = None):
    """log p(target[t] | target[:t], source) for every t, with source word ``replace_word`` given the padding
    embedding: computed directly, without captum."""
    hook = None
    if replace_word is not None:
        def pad_word(_module, _inputs, output):
            output = output.clone()
            output[:, replace_word] = model.encoder.embedding.weight[Vocab.PAD]
            return output

        hook = model.encoder.embedded.register_forward_hook(pad_word)
    try:
        with torch.no_grad():
            memory, state = model.encode(torch.tensor([source]), torch.tensor([len(source)]))
            logits, _, _ = model.decoder(torch.tensor([[Vocab.SOS, *target[:-1]]]), state, memory)
            return torch.log_softmax(logits[0], -1)[torch.arange(len(target)), torch.tensor(target)]
    finally:
        if hook is not None:
            hook.remove()


@pytest.mark.parametrize("kind", MODELS)
def test_occlusion_is_the_drop_in_log_probability_when_a_word_becomes_padding(kind):
    model = tiny_model(kind)
    scores = Attributor(model, "occlusion").attribute(SOURCE, TARGET).scores  # (steps, src_len)
    assert scores.shape == (len(TARGET), len(SOURCE))
    full = teacher_forced_log_probs(model, SOURCE, TARGET)
    for word in range(len(SOURCE)):
        dropped = full - teacher_forced_log_probs(model, SOURCE, TARGET, replace_word=word)
        torch.testing.assert_close(scores[:, word], dropped, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind", MODELS)
def test_integrated_gradients_add_up_to_the_change_from_the_all_padding_input(kind):
    model = tiny_model(kind)
    result = Attributor(model, "ig", steps=64).attribute(SOURCE, TARGET)
    full = teacher_forced_log_probs(model, SOURCE, TARGET)
    padded = teacher_forced_log_probs(model, [Vocab.PAD] * len(SOURCE), TARGET)
    torch.testing.assert_close(result.scores.sum(1), full - padded, atol=5e-3, rtol=1e-2)
    assert result.delta is not None and result.delta < 5e-3


@pytest.mark.parametrize("kind", MODELS)
def test_gradient_times_input_matches_autograd_by_hand(kind):
    model = tiny_model(kind)
    scores = Attributor(model, "grad").attribute(SOURCE, TARGET).scores
    row = 1
    embedded = model.encoder.embedding(torch.tensor([SOURCE])).detach().requires_grad_(True)
    hook = model.encoder.embedded.register_forward_hook(lambda _m, _i, _o: embedded)
    try:
        memory, state = model.encode(torch.tensor([SOURCE]), torch.tensor([len(SOURCE)]))
        logits, _, _ = model.decoder(torch.tensor([[Vocab.SOS, *TARGET[:-1]]]), state, memory)
        torch.log_softmax(logits[0, row], -1)[TARGET[row]].backward()
    finally:
        hook.remove()
    torch.testing.assert_close(scores[row], (embedded.grad * embedded).sum(-1)[0].detach(), atol=1e-6, rtol=1e-4)


def test_a_sentence_gets_the_same_attribution_alone_and_among_others():
    model = tiny_model("bahdanau")
    attributor = Attributor(model, "ig", steps=16)
    alone = attributor.attribute(SOURCE, TARGET).scores
    attributor.attribute([7, 7, 7, 7, 7, 7, 7, 7, 7], [4, 4, 4, 4, Vocab.EOS])  # a longer sentence in between
    torch.testing.assert_close(attributor.attribute(SOURCE, TARGET).scores, alone)


def test_attribution_without_captum_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "captum", None)
    monkeypatch.setitem(sys.modules, "captum.attr", None)
    with pytest.raises(S2SError, match=r"captum: pip install \"seq2seq-cli\[explain\]\""):
        Attributor(tiny_model("bahdanau"), "grad")


@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_a_forced_prefix_starts_every_output_and_the_search_goes_on(search):
    model = tiny_model("bahdanau")
    src, lengths = pad_sources([[5, 6, 7], [8, 9, 10, 11]])
    limits = max_output_lengths(lengths, 1.5, 2)
    prefixes = [[13, 14], [15]]
    if search == "greedy":
        found = [h.tokens for h in greedy_search(model, src, lengths, limits, prefixes)]
    else:
        found = [h[0].tokens for h in beam_search(model, src, lengths, limits, 3, prefixes=prefixes)]
    for tokens, prefix in zip(found, prefixes):
        assert tokens[: len(prefix)] == prefix and len(tokens) > len(prefix)


def test_forcing_the_words_greedy_search_chose_anyway_changes_nothing():
    model = tiny_model("luong-general")
    src, lengths = pad_sources([[5, 6, 7, 8]])
    limits = max_output_lengths(lengths, 1.5, 2)
    free = greedy_search(model, src, lengths, limits)[0]
    forced = greedy_search(model, src, lengths, limits, [free.tokens[:2]])[0]
    assert forced.tokens == free.tokens
    assert forced.score == pytest.approx(free.score, abs=1e-5)


def test_the_search_tree_of_a_beam_of_one_is_greedy_search_path():
    model = tiny_model("bahdanau")
    src, lengths = pad_sources([[5, 6, 7, 8]])
    limits = max_output_lengths(lengths, 1.5, 2)
    greedy = greedy_search(model, src, lengths, limits)[0]
    trace = SearchTrace([4], beam_size=1)
    beam_search(model, src, lengths, limits, 1, trace=trace)
    kept = [node for node in trace.nodes[0] if node.kept]
    assert [node.token for node in kept] == greedy.tokens
    assert all(kept[i].parent == trace.nodes[0].index(kept[i - 1]) for i in range(1, len(kept)))
    assert any(not node.kept for node in trace.nodes[0])  # the runner-up at each step, pruned


def test_the_search_tree_holds_the_chosen_hypothesis_and_at_most_k_kept_per_step():
    model = tiny_model("bahdanau")
    src, lengths = pad_sources([[5, 6, 7, 8]])
    limits = max_output_lengths(lengths, 1.5, 2)
    trace = SearchTrace([4], beam_size=3)
    best = beam_search(model, src, lengths, limits, 3, trace=trace)[0][0]
    nodes = trace.nodes[0]
    for step in {n.step for n in nodes}:
        assert sum(n.kept for n in nodes if n.step == step) <= 3
    leaves = [i for i, n in enumerate(nodes) if n.kept and n.token == best.tokens[-1] and n.step == len(best.tokens) - 1]
    paths = []
    for leaf in leaves:
        path, at = [], leaf
        while at != -1:
            path.append(nodes[at].token)
            at = nodes[at].parent
        paths.append(path[::-1])
    assert best.tokens in paths
    assert all(len(n.attention) == 4 for n in nodes if n.kept)


def test_attend_explains_a_translation_as_json_text_and_picture(seed_run, tmp_path):
    result = run_cli("attend", "i am a student", "-r", str(seed_run), "--attribution", "ig", "--ig-steps", "8", "--json")
    assert result.exit_code == 0, result.output
    hypothesis = json.loads(result.stdout.strip().splitlines()[-1])["hypotheses"][0]
    assert hypothesis["attribution_method"] == "ig" and "ig_delta" in hypothesis
    assert [len(r) for r in hypothesis["attribution"]] == [len(r) for r in hypothesis["attention"]]
    assert len(hypothesis["attribution"]) == len(hypothesis["tokens"])
    text = run_cli("attend", "i am a student", "-r", str(seed_run), "--attribution", "grad", "--text")
    assert text.exit_code == 0 and "attribution: gradient × input" in text.stdout
    picture = tmp_path / "both.png"
    drawn = run_cli("attend", "i am a student", "-r", str(seed_run), "--attribution", "occlusion", "-o", str(picture))
    assert drawn.exit_code == 0 and picture.stat().st_size > 10_000


@pytest.mark.parametrize("args, message", [
    (["--ig-steps", "4"], "--ig-steps sets integrated gradients' path: it needs --attribution ig"),
    (["--attribution", "grad", "--ig-steps", "4"], "it needs --attribution ig"),
    (["--json", "-o", "x.png"], "--json prints to stdout and draws no picture: drop --output"),
    (["--attribution", "ig", "--grid"], "drop --grid and --style"),
    (["--prefix", " "], "--prefix: nothing to force (it is empty)"),
])
def test_attend_refuses_options_that_would_do_nothing(seed_run, args, message):
    result = run_cli("attend", "i am a student", "-r", str(seed_run), *args)
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output


def test_translate_and_attend_continue_after_a_forced_prefix(seed_run):
    translated = run_cli("translate", "i am a student", "-r", str(seed_run), "--prefix", "il est")
    assert translated.exit_code == 0, translated.output
    assert translated.stdout.startswith("il est ")
    attended = run_cli("attend", "i am a student", "-r", str(seed_run), "--prefix", "il est", "--json")
    assert json.loads(attended.stdout.strip().splitlines()[-1])["hypotheses"][0]["text"] == translated.stdout.strip()
    unknown = run_cli("translate", "i am a student", "-r", str(seed_run), "--prefix", "zorglub")
    assert unknown.exit_code == 0 and "--prefix: words the model never produces, forced as <unk>: zorglub" in unknown.output
