"""What the attention explorer holds: the model's own numbers, every head, gold links, the probes over training."""

from __future__ import annotations

import json
import re

import pytest
import torch

from seq2seq_cli import runs
from seq2seq_cli.decoding.translator import Translator
from seq2seq_cli.viz.explorer import Run, translations_document
from seq2seq_cli.viz.maps import decode_map, encode_map
from tests.conftest import SEED_PAIRS, run_cli


def page_document(path) -> dict:
    """The JSON document inlined in a page written by ``s2s attend --out x.html``."""
    text = path.read_text(encoding="utf-8")
    match = re.search(r'<script id="s2s-document" type="application/json">(.*?)</script>', text, re.S)
    assert match, "no inlined document"
    return json.loads(match.group(1))


def json_attention(run_dir, sentence: str, *options: str) -> list[dict]:
    """The hypotheses ``s2s translate --json`` prints: the numbers the page must show."""
    result = run_cli("translate", "--run", str(run_dir), "--json", *options, sentence)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["hypotheses"]


def test_a_map_keeps_each_weight_to_four_decimals():
    weights = torch.tensor([[0.123449, 0.87655, 0.0], [1.0, 0.5, 0.00004]])
    expected = torch.tensor([[0.1234, 0.8766, 0.0], [1.0, 0.5, 0.0]], dtype=torch.float64)
    assert torch.equal(decode_map(encode_map(weights)), expected)


def test_the_page_holds_the_attention_translate_json_prints(seed_run, tmp_path):
    out = tmp_path / "seed.html"
    sentences = tmp_path / "in.txt"
    sentences.write_text("\n".join(s for s, _ in SEED_PAIRS) + "\n\n", encoding="utf-8")
    result = run_cli("attend", "--run", str(seed_run), "--input", str(sentences), "--output", str(out))
    assert result.exit_code == 0, result.output
    assert f"wrote {out} (5 sentences, 1 run" in result.stderr
    document = page_document(out)
    assert [s["source"] for s in document["sentences"]] == [s for s, _ in SEED_PAIRS]  # the blank line is no sentence
    for sentence in document["sentences"]:
        (view,) = sentence["views"]
        (hypothesis,) = view["hypotheses"]
        (expected,) = json_attention(seed_run, sentence["source"])
        assert hypothesis["tokens"] == expected["tokens"] and hypothesis["text"] == expected["text"]
        assert decode_map(hypothesis["cross"]).tolist() == expected["attention"]


def test_the_page_shows_every_beam_hypothesis_with_its_own_attention(seed_run, tmp_path):
    out = tmp_path / "beam.html"
    result = run_cli("attend", "--run", str(seed_run), "--beam", "4", "--nbest", "3", "--output", str(out), "he is a teacher")
    assert result.exit_code == 0, result.output
    hypotheses = page_document(out)["sentences"][0]["views"][0]["hypotheses"]
    expected = json_attention(seed_run, "he is a teacher", "--beam", "4", "--nbest", "3")
    assert [h["label"] for h in hypotheses] == ["1", "2", "3"]
    assert [(h["text"], h["score"]) for h in hypotheses] == [(e["text"], round(e["score"], 4)) for e in expected]
    assert [decode_map(h["cross"]).tolist() for h in hypotheses] == [e["attention"] for e in expected]


def test_a_transformer_page_holds_every_head_and_both_self_attentions(transformer_run):
    translator = Translator.from_run(transformer_run).with_decoding(beam_size=1)
    document = translations_document([Run("t", translator)], ["she is a doctor"])
    assert document["runs"][0] | {"describe": ""} == {"name": "t", "describe": "", "kind": "transformer", "layers": 2, "heads": 4}
    view = document["sentences"][0]["views"][0]
    hypothesis = view["hypotheses"][0]
    attention = translator.translate(["she is a doctor"])[0].attention  # (steps, layers, heads, source)
    for layer in range(2):
        for head in range(4):
            assert torch.allclose(decode_map(hypothesis["cross"][layer][head]), attention[:, layer, head].double(), atol=5e-5)
    encoder = torch.stack([torch.stack([decode_map(m) for m in layer]) for layer in view["encoder_self"]])
    decoder = torch.stack([torch.stack([decode_map(m) for m in layer]) for layer in hypothesis["decoder_self"]])
    steps = len(hypothesis["tokens"])
    assert encoder.shape == (2, 4, 4, 4) and decoder.shape == (2, 4, steps, steps)
    assert torch.allclose(encoder.sum(-1), torch.ones(2, 4, 4, dtype=torch.float64), atol=1e-3)  # rows are distributions
    assert torch.allclose(decoder.sum(-1), torch.ones(2, 4, steps, dtype=torch.float64), atol=1e-3)
    assert torch.equal(decoder.triu(1), torch.zeros_like(decoder))  # no step looks at words not yet written
    assert hypothesis["decoder_inputs"] == ["<s>", *hypothesis["tokens"][:-1]]


def test_gold_links_and_aer_come_with_the_reference_reading(seed_run, tmp_path):
    pairs, links = tmp_path / "pairs.tsv", tmp_path / "pairs.align"
    pairs.write_text("she is a doctor\telle est medecin\nwe are engineers\tnous sommes ingenieurs\n", encoding="utf-8")
    links.write_text("0-0 1-1 3-2\n0-0 1-1 2-2\n", encoding="utf-8")
    out = tmp_path / "gold.html"
    result = run_cli("attend", "--run", str(seed_run), "--input", str(pairs), "--align", str(links), "--output", str(out))
    assert result.exit_code == 0, result.output
    for number, sentence in enumerate(page_document(out)["sentences"]):
        reference = sentence["views"][0]["hypotheses"][-1]
        assert reference["label"] == "reference (teacher-forced)" and reference["score"] is None
        one = tmp_path / f"one{number}"
        one.with_suffix(".tsv").write_text(pairs.read_text().splitlines()[number] + "\n", encoding="utf-8")
        one.with_suffix(".align").write_text(links.read_text().splitlines()[number] + "\n", encoding="utf-8")
        scored = run_cli("evaluate", "--run", str(seed_run), "--data", str(one.with_suffix(".tsv")),
                         "--align", str(one.with_suffix(".align")), "--output", str(tmp_path / "hyp.txt"))
        assert scored.exit_code == 0, scored.output
        aer = json.loads((seed_run / f"one{number}.eval.json").read_text())["aer"]
        assert reference["aer"] == aer  # the sentence's AER, as evaluate computes it
        line = links.read_text().splitlines()[number]
        assert reference["gold"] == sorted([int(s), int(t)] for s, t in (link.split("-") for link in line.split()))


def test_runs_side_by_side_each_translate_the_same_sentences(seed_run, transformer_run, tmp_path):
    out = tmp_path / "compare.html"
    result = run_cli("attend", "--run", str(seed_run), "--run", str(transformer_run), "--output", str(out), "she is a doctor")
    assert result.exit_code == 0, result.output
    document = page_document(out)
    assert [r["kind"] for r in document["runs"]] == ["single", "transformer"]
    assert len({r["name"] for r in document["runs"]}) == 2  # both are called "seed": told apart by their paths
    texts = [view["hypotheses"][0]["text"] for view in document["sentences"][0]["views"]]
    assert texts == ["elle est medecin", "elle est medecin"]


def test_training_keeps_probe_attention_at_every_validation(seed_run):
    probes = [json.loads(line) for line in (seed_run / "probes.jsonl").read_text().splitlines()]
    assert [p["step"] for p in probes] == [r["step"] for r in runs.read_metrics(seed_run)]
    sources = [p["source"] for p in probes[0]["probes"]]
    assert "i am a student" in sources and len(sources) == len(set(sources))  # the README's sentence fits: followed
    best_step = runs.load_checkpoint(seed_run / "best.pt")["step"]
    best = next(p for p in probes if p["step"] == best_step)["probes"][sources.index("i am a student")]
    assert best["text"] == "je suis etudiant"
    (expected,) = json_attention(seed_run, "i am a student")  # alone, not in the probes' batch: rounding may differ
    assert torch.allclose(decode_map(best["cross"]), torch.tensor(expected["attention"], dtype=torch.float64), atol=1e-3)


@pytest.fixture(scope="module")
def multihead_run(tmp_path_factory):
    """Three epochs of a multi-head GRU on the five pairs: three validations, following one probe."""
    from tests.conftest import train_seed_run

    overrides = ["model.attention=multihead", "model.heads=4", "train.epochs=3", "train.probes=1"]
    return train_seed_run(tmp_path_factory.mktemp("multihead"), overrides)


def test_over_training_page_has_every_validation(seed_run, tmp_path):
    page = tmp_path / "learn.html"
    result = run_cli("attend", "--run", str(seed_run), "--over-training", "--output", str(page))
    assert result.exit_code == 0, result.output
    assert "4 probe sentences over 60 validations" in result.stderr
    training = page_document(page)["training"]
    metrics = runs.read_metrics(seed_run)
    assert [(v["step"], v["val_loss"], v["val_bleu"]) for v in training["validations"]] == [
        (r["step"], r["val_loss"], r["val_bleu"]) for r in metrics
    ]
    assert all(len(p["frames"]) == 60 for p in training["probes"])


def test_over_training_animation_has_a_frame_per_validation(multihead_run, tmp_path):
    from PIL import Image

    animation = tmp_path / "learn.gif"
    result = run_cli("attend", "--run", str(multihead_run), "--over-training", "--output", str(animation))
    assert result.exit_code == 0, result.output
    with Image.open(animation) as image:
        assert image.format == "GIF" and image.n_frames == 3


def test_text_prints_the_matrix_in_the_terminal(seed_run):
    result = run_cli("attend", "--run", str(seed_run), "--text", "she is a doctor")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "elle est medecin"
    (expected,) = json_attention(seed_run, "she is a doctor")
    header = next(line for line in lines if "doctor" in line)
    assert [cell.strip() for cell in header.split("┃")[2:-1]] == ["she", "is", "a", "doctor"]
    for word, row in zip(expected["tokens"], expected["attention"]):
        line = next(line for line in lines if line.split("│")[1:2] and line.split("│")[1].strip() == word)
        assert [float(cell) for cell in line.split("│")[2:-1]] == [round(w, 2) for w in row]


@pytest.mark.parametrize(
    "options,message",
    [
        (["--output", "x.bmp"], "x.bmp: unsupported file type .bmp; use .png, .svg, .pdf, .html or .gif"),
        (["--output", "x.gif"], "x.gif: a .gif shows attention over training: add --over-training"),
        (["--over-training", "--output", "x.png"], "--over-training writes a page or an animation"),
        (["--nbest", "2", "--output", "x.png"], "see the --nbest hypotheses with --output FILE.html"),
        (["--head", "0", "--output", "x.html"], "the .html page has pickers for them"),
        (["--run", "no-such-run", "--output", "x.html"], "no-such-run"),
        (["--align", "x.align", "--output", "x.html"], "--align needs --input FILE"),
    ],
)
def test_attend_options_that_cannot_work_are_one_line_errors(seed_run, runs_dir, tmp_path, options, message):
    options = [str(tmp_path / o) if o.startswith("x.") else o for o in options]
    result = run_cli("attend", "--runs-dir", str(runs_dir), *options, "she is a doctor")
    assert result.exit_code == 2, result.output
    assert message.replace("x.", str(tmp_path / "x.")) in result.stderr or message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_over_training_on_a_run_without_probes_says_why(seed_run, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(seed_run, old)
    (old / "probes.jsonl").unlink()  # as a run trained before s2s kept probes
    result = run_cli("attend", "--run", str(old), "--over-training", "--output", str(tmp_path / "learn.html"))
    assert result.exit_code == 2
    assert "no probe attention kept" in result.stderr and "train it again" in result.stderr
    assert not (tmp_path / "learn.html").exists()


def test_a_multihead_gru_page_holds_each_head(multihead_run):
    run_dir = multihead_run
    document = translations_document([Run("m", Translator.from_run(run_dir))], ["he is a teacher"])
    assert document["runs"][0]["kind"] == "multihead" and document["runs"][0]["heads"] == 4
    hypothesis = document["sentences"][0]["views"][0]["hypotheses"][0]
    assert len(hypothesis["cross"]) == 1 and len(hypothesis["cross"][0]) == 4  # one layer of four heads
    assert hypothesis["decoder_self"] is None and document["sentences"][0]["views"][0]["encoder_self"] is None
    probes = [json.loads(line) for line in (run_dir / "probes.jsonl").read_text().splitlines()]
    # one validation sentence, which is the README's first; its second has words the five pairs lack
    assert len(probes) == 3 and [p["source"] for p in probes[0]["probes"]] == ["i am a student"]


@pytest.mark.parametrize("required", [False, True])
def test_a_missing_browser_skips_here_and_fails_where_required(required, tmp_path):
    """CI sets S2S_REQUIRE_BROWSER=1: there the browser tests must run, never skip."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "S2S_CHROMIUM": str(tmp_path / "no-chromium"), "S2S_REQUIRE_BROWSER": "1" if required else "0"}
    test = "tests/test_explorer_page.py::test_single_head_grid_readout_and_no_network"
    process = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", test],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert f"S2S_CHROMIUM={tmp_path / 'no-chromium'} does not exist" in process.stdout
    assert "apt-get install chromium" in process.stdout
    if required:
        assert process.returncode == 1 and "1 error" in process.stdout and "Traceback" not in process.stdout
    else:
        assert process.returncode == 0 and "1 skipped" in process.stdout
