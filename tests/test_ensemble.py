"""Ensembles (issue 32 part 1): several models averaged through the one search."""

from __future__ import annotations

import pytest
import torch

from seq2seq_cli.decoding.ensemble import Ensemble, Member, load_ensemble
from seq2seq_cli.decoding.translator import Translator
from seq2seq_cli.errors import S2SError
from tests.conftest import SEED_PAIRS, run_cli

SOURCES = [source for source, _ in SEED_PAIRS]


@pytest.mark.parametrize("beam", [1, 3])
def test_an_ensemble_of_one_model_with_itself_translates_as_the_model_alone(seed_run, beam):
    alone = Translator.from_run(seed_run).with_decoding(beam_size=beam)
    pair = alone.with_engine(Ensemble([alone.model, alone.model]))
    for a, b in zip(alone.translate(SOURCES), pair.translate(SOURCES)):
        assert a.output == b.output
        assert a.score == pytest.approx(b.score, abs=1e-4)
        torch.testing.assert_close(a.attention_map(), b.attention_map())


def test_an_ensemble_of_one_is_the_model_itself(seed_run):
    one = load_ensemble([Member(seed_run, "best.pt")])
    assert [t.text for t in one.translate(SOURCES)] == [t.text for t in Translator.from_run(seed_run).translate(SOURCES)]


def test_two_different_models_average_their_log_probabilities(seed_run, transformer_run):
    gru, transformer = Translator.from_run(seed_run), Translator.from_run(transformer_run)
    if gru.tgt_vocab.itos != transformer.tgt_vocab.itos or gru.src_vocab.itos != transformer.src_vocab.itos:
        pytest.skip("the two seed runs built different vocabularies")
    both = gru.with_engine(Ensemble([gru.model, transformer.model])).with_decoding(beam_size=1)
    translation = both.translate([SOURCES[0]])[0]
    src = torch.tensor([gru.src_vocab.encode(translation.source)])
    ids = translation.ids
    expected = 0.0
    for model in (gru.model, transformer.model):
        with torch.no_grad():
            memory, state = model.encode(src, torch.tensor([src.size(1)]))
            logits, _, _ = model.decoder(torch.tensor([[1, *ids[:-1]]]), state, memory)
            expected += float(torch.log_softmax(logits[0], -1)[torch.arange(len(ids)), torch.tensor(ids)].sum()) / 2
    assert translation.score == pytest.approx(expected, abs=1e-3)
    assert translation.attention.shape == (len(ids), len(translation.source))


def test_translate_and_evaluate_take_ensembles_through_the_cli(seed_run, tmp_path):
    member = f"{seed_run}:best.pt"
    alone = run_cli("translate", "i am a student", "-r", str(seed_run))
    pair = run_cli("translate", "i am a student", "--ensemble", str(seed_run), "--ensemble", member)
    assert pair.exit_code == 0, pair.output
    assert pair.stdout == alone.stdout
    test = tmp_path / "test.tsv"
    test.write_text("".join(f"{s}\t{t}\n" for s, t in SEED_PAIRS))
    scored = run_cli("evaluate", "-d", str(test), "--ensemble", str(seed_run), "--ensemble", member, "--json")
    assert scored.exit_code == 0, scored.output
    assert "--ensemble: BLEU and chrF score the ensemble" in scored.output
    assert (seed_run / "test.ensemble2.eval.json").is_file()


@pytest.mark.parametrize("args, message", [
    (["--ensemble", "nowhere"], "is not a run folder"),
    (["--ensemble", "{run}", "-r", "{run}"], "--ensemble names every model: drop --run"),
    (["--ensemble", "{run}", "--checkpoint", "last.pt"], "drop --checkpoint"),
    (["--ensemble", "{run}", "--engine", "onnx"], "an --ensemble decodes with torch"),
])
def test_ensemble_mistakes_are_one_line_errors(seed_run, tmp_path, args, message):
    args = [a.replace("{run}", str(seed_run)) for a in args]
    result = run_cli("translate", "i am a student", "--runs-dir", str(tmp_path), *args)
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


def test_members_with_different_target_vocabularies_are_refused(seed_run, tmp_path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(seed_run, other)
    vocab = other / "vocab.tgt.txt"
    words = vocab.read_text().splitlines()
    words[-1], words[-2] = words[-2], words[-1]
    vocab.write_text("\n".join(words) + "\n")
    with pytest.raises(S2SError, match="its target vocabulary differs"):
        load_ensemble([Member(seed_run, "best.pt"), Member(other, "best.pt")])


def test_alternatives_of_an_ensemble_of_a_model_with_itself_are_the_models(seed_run):
    from seq2seq_cli.decoding.alternatives import alternatives

    alone = Translator.from_run(seed_run)
    pair = alone.with_engine(Ensemble([alone.model, alone.model]))
    source, prefix = alone.tokens("i am a student"), alone.prefix_ids("je")
    ours, theirs = alternatives(alone, source, prefix, k=4), alternatives(pair, source, prefix, k=4)
    assert [a.token for a in ours] == [a.token for a in theirs]
    assert [a.log_prob for a in ours] == pytest.approx([a.log_prob for a in theirs], abs=1e-4)


def test_serve_takes_an_ensemble(seed_run, tmp_path):
    result = run_cli("serve", "--ensemble", str(seed_run), "-r", str(seed_run), "--runs-dir", str(tmp_path))
    assert result.exit_code != 0 and "--ensemble names every model: drop --run" in result.output


def test_attend_draws_an_ensembles_average_and_on_request_each_model(seed_run, tmp_path, monkeypatch):
    from seq2seq_cli.viz import plot

    drawn = []
    monkeypatch.setattr(plot, "_plot_heads", lambda source, output, weights, path, style, title, labels=None:
                        drawn.append((weights, labels)))
    picture = tmp_path / "ensemble.png"
    averaged = run_cli("attend", "i am a student", "--ensemble", str(seed_run), "--ensemble", str(seed_run), "-o", str(picture))
    assert averaged.exit_code == 0, averaged.output
    assert picture.is_file() and averaged.stdout.strip() == "je suis etudiant"
    members = [str(seed_run), f"{seed_run}:best.pt"]
    per_model = run_cli("attend", "i am a student", *(a for m in members for a in ("--ensemble", m)), "--per-model",
                        "-o", str(tmp_path / "each.png"), "--text")
    assert per_model.exit_code == 0, per_model.output
    weights, labels = drawn[-1]
    assert labels == members and weights.shape[1] == 2  # (steps, models, source)
    alone = Translator.from_run(seed_run).with_decoding(beam_size=1).translate(["i am a student"])[0]
    for model in range(2):
        torch.testing.assert_close(weights[:, model], alone.attention)  # each model's own map, not the average
    assert per_model.stdout.count("attention: ") == 2


def test_attend_shows_an_ensemble_as_one_column_of_the_explorer(seed_run, tmp_path):
    page = tmp_path / "page.html"
    result = run_cli("attend", "i am a student", "--ensemble", str(seed_run), "--ensemble", str(seed_run), "-o", str(page))
    assert result.exit_code == 0, result.output
    assert f"ensemble of {seed_run} + {seed_run}" in page.read_text()


@pytest.mark.parametrize("args, message", [
    (["--per-model"], "--per-model draws each --ensemble model's attention as a picture or --text tables: not without"),
    (["--ensemble", "{run}", "--per-model", "-o", "{tmp}/x.html"], "not with an .html page"),
    (["--ensemble", "{run}", "--per-model", "--head", "0"], "not with --layer, --head or --grid"),
    (["--ensemble", "{run}", "-r", "{run}"], "--ensemble names every model: drop --run"),
    (["--ensemble", "{run}", "--over-training", "-o", "{tmp}/x.html"], ", --ensemble"),
])
def test_attend_ensemble_mistakes_are_one_line_errors(seed_run, tmp_path, args, message):
    args = [a.replace("{run}", str(seed_run)).replace("{tmp}", str(tmp_path)) for a in args]
    result = run_cli("attend", "i am a student", "--runs-dir", str(tmp_path), *args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output, result.output
