"""The attention explorer page (seq2seq_cli/page.py) in a real headless Chromium, on synthetic documents.

Every weight is known here: the tests build the Maps from numpy arrays and check what the page
shows against them. Set ``S2S_EXPLORER_SHOTS=/some/folder`` to also save a screenshot of each mode.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import browser as support  # tests/browser.py: pytest puts tests/ on sys.path
import numpy as np
import pytest

from seq2seq_cli.errors import S2SError
from seq2seq_cli.viz.page import document_json, render_page, write_page

# The browser fixtures, bound here so that pytest finds them for this module.
browser, network_log, page = support.browser, support.network_log, support.page

SHOTS = os.environ.get("S2S_EXPLORER_SHOTS")


@pytest.fixture(autouse=True)
def _page_fetches_nothing(request):
    """Every test that opens a page also checks that it tried no request outside file:."""
    log = request.getfixturevalue("network_log") if "network_log" in request.fixturenames else []
    yield
    assert log == [], f"the page tried to fetch {log}"


# ---------- synthetic documents ----------


def weights(rows: int, cols: int, seed: int, causal: bool = False) -> np.ndarray:
    """Attention-like rows (softmax of random scores), already rounded as the page shows them."""
    scores = np.random.default_rng(seed).normal(scale=2.0, size=(rows, cols))
    if causal:
        scores[np.triu_indices(rows, k=1, m=cols)] = -np.inf
    w = np.exp(scores - scores.max(axis=1, keepdims=True))
    return np.round(w / w.sum(axis=1, keepdims=True), 4)


def encode(w: np.ndarray) -> dict:
    """A Map: little-endian uint16 of round(weight * 10000), row-major, in base64."""
    q = np.round(np.asarray(w) * 10000).astype("<u2")
    return {"shape": list(q.shape), "b64": base64.b64encode(q.tobytes()).decode("ascii")}


def stack(layers: int, heads: int, rows: int, cols: int, seed: int, causal: bool = False) -> list[list[dict]]:
    return [[encode(weights(rows, cols, seed + 10 * layer + head, causal)) for head in range(heads)] for layer in range(layers)]


def known(map_: dict) -> np.ndarray:
    """The weights a Map holds, decoded in Python (independently of the page's script)."""
    raw = np.frombuffer(base64.b64decode(map_["b64"]), dtype="<u2")
    return raw.reshape(map_["shape"]) / 10000


def run(name: str, kind: str = "single", layers: int = 1, heads: int = 1) -> dict:
    return {"name": name, "describe": f"{name}: a synthetic {kind} run", "kind": kind, "layers": layers, "heads": heads}


def hypothesis(label: str, tokens: list[str], source_len: int, seed: int, score: float | None = -1.25, **extra) -> dict:
    text = " ".join(t for t in tokens if t != "<eos>")
    hyp = {
        "label": label,
        "text": text,
        "tokens": tokens,
        "score": score,
        "cross": encode(weights(len(tokens), source_len, seed)),
    }
    return {"decoder_self": None, "gold": None, "aer": None, **hyp, **extra}


def document(runs: list[dict], sentences: list[dict], training: dict | None = None) -> dict:
    return {
        "format": "s2s-attention/1",
        "title": "Synthetic attention",
        "runs": runs,
        "sentences": sentences,
        "training": training,
    }


def single_doc() -> dict:
    """One single-head run, two sentences, two hypotheses each (n-best of different lengths)."""
    sentences = []
    for k, (source, outs) in enumerate(
        [
            ("the red car is small", (["la", "voiture", "rouge", "est", "petite", "<eos>"], ["la", "auto", "rouge", "<eos>"])),
            ("i am a student", (["je", "suis", "etudiant", "<eos>"], ["je", "suis", "un", "eleve", "<eos>"])),
        ]
    ):
        tokens = source.split() + ["<eos>"]
        hyps = [hypothesis(str(n + 1), out, len(tokens), seed=10 * k + n, score=-0.5 - n) for n, out in enumerate(outs)]
        view = {"source_tokens": tokens, "unknown": ["small"] if k == 0 else [], "encoder_self": None, "hypotheses": hyps}
        sentences.append({"source": source, "views": [view]})
    return document([run("gru")], sentences)


def transformer_doc() -> dict:
    """2 layers x 2 heads with encoder and decoder self-attention, two sentences."""
    sentences = []
    for k, source in enumerate(["the house is blue", "we are here"]):
        src = source.split() + ["<eos>"]
        out = [f"w{n}" for n in range(len(src) - 1)] + ["<eos>"]
        hyp = hypothesis("1", out, len(src), seed=0)
        hyp["cross"] = stack(2, 2, len(out), len(src), seed=100 + k)
        hyp["decoder_self"] = stack(2, 2, len(out), len(out), seed=200 + k, causal=True)
        view = {
            "source_tokens": src,
            "unknown": [],
            "encoder_self": stack(2, 2, len(src), len(src), seed=300 + k),
            "hypotheses": [hyp],
        }
        sentences.append({"source": source, "views": [view]})
    return document([run("tfm", "transformer", 2, 2)], sentences)


def comparison_doc() -> dict:
    """The same sentence through a single-head run and a 3-head run."""
    src = ["where", "is", "the", "station", "?", "<eos>"]
    out = ["ou", "est", "la", "gare", "?", "<eos>"]
    single = hypothesis("1", out, len(src), seed=1)
    multi = hypothesis("1", out, len(src), seed=2)
    multi["cross"] = stack(1, 3, len(out), len(src), seed=400)
    views = [{"source_tokens": src, "unknown": [], "encoder_self": None, "hypotheses": [h]} for h in (single, multi)]
    return document([run("gru"), run("heads", "multihead", 1, 3)], [{"source": " ".join(src[:-1]), "views": views}])


GOLD = [[0, 0], [2, 1], [1, 2], [3, 3]]  # [source index, output row]


def gold_doc() -> dict:
    src = ["a", "green", "tree", "<eos>"]
    out = ["un", "arbre", "vert", "<eos>"]
    ref = hypothesis("reference (teacher-forced)", out, len(src), seed=5, score=None, gold=GOLD, aer=0.25)
    view = {"source_tokens": src, "unknown": [], "encoder_self": None, "hypotheses": [ref]}
    return document([run("gru")], [{"source": "a green tree", "views": [view]}])


VALIDATIONS = [
    {"step": 100, "val_loss": 3.2, "val_bleu": 1.5},
    {"step": 200, "val_loss": 2.125, "val_bleu": 10.25},
    {"step": 300, "val_loss": 1.5, "val_bleu": 20.5},
]


def training_doc() -> dict:
    """3 validations, 2 probes whose output grows as the model learns."""
    probes = []
    for p, source in enumerate(["i am cold", "she is here now"]):
        src = source.split() + ["<eos>"]
        frames = []
        for v in range(len(VALIDATIONS)):
            tokens = [f"w{n}" for n in range(v + 2)] + ["<eos>"]
            frames.append(
                {
                    "tokens": tokens,
                    "text": " ".join(tokens[:-1]),
                    "cross": encode(weights(len(tokens), len(src), 500 + 10 * p + v)),
                }
            )
        probes.append({"source": source, "source_tokens": src, "frames": frames})
    return document([], [], {"run": "gru", "validations": VALIDATIONS, "probes": probes})


# ---------- helpers ----------


def open_doc(page, tmp_path: Path, doc: dict, name: str = "explorer.html") -> Path:
    path = tmp_path / name
    write_page(doc, path)
    page.goto(path.as_uri())
    page.wait_for_selector("[data-testid=run-panel]")
    return path


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def grid(page, panel: str = "[data-testid=run-panel]") -> np.ndarray:
    """The grid's weights as the page shows them (data-weight), by data-row and data-col."""
    cells = page.eval_on_selector_all(
        f"{panel} [data-testid=cell]", "cells => cells.map(c => [+c.dataset.row, +c.dataset.col, c.dataset.weight])"
    )
    shape = (max(r for r, _, _ in cells) + 1, max(c for _, c, _ in cells) + 1)
    shown = np.full(shape, np.nan)
    for r, c, w in cells:
        assert len(w.split(".")[1]) == 4, w
        shown[r, c] = float(w)
    return shown


def texts(page, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "nodes => nodes.map(n => n.textContent)")


def classes_of(page, selector: str) -> list[bool]:
    """For each match: whether it has class "highlight"."""
    return page.eval_on_selector_all(selector, "nodes => nodes.map(n => n.classList.contains('highlight'))")


def active_index(page, selector: str) -> int:
    flags = page.eval_on_selector_all(selector, "nodes => nodes.map(n => n.classList.contains('active'))")
    assert flags.count(True) == 1, flags
    return flags.index(True)


# ---------- the page in a browser ----------


def test_single_head_grid_readout_and_no_network(page, network_log, tmp_path):
    doc = single_doc()
    open_doc(page, tmp_path, doc)
    hyp = doc["sentences"][0]["views"][0]["hypotheses"][0]
    expected = known(hyp["cross"])
    assert page.title() == "Synthetic attention"
    assert np.array_equal(grid(page), expected)
    assert texts(page, "[data-testid=row-label]") == hyp["tokens"]
    assert texts(page, "[data-testid=col-label]") == doc["sentences"][0]["views"][0]["source_tokens"]
    assert "small" in page.inner_text("[data-testid=unknown]")

    page.hover("[data-testid=cell][data-row='1'][data-col='2']")
    assert page.inner_text("[data-testid=readout]") == f"voiture ← car: {expected[1, 2]:.4f}"
    assert classes_of(page, "[data-testid=line-view] line[data-row='1'][data-col='2']") == [True]
    shot(page, "single")
    assert network_log == []


def test_hypothesis_switch_shows_its_own_attention(page, tmp_path):
    doc = single_doc()
    open_doc(page, tmp_path, doc)
    second = doc["sentences"][0]["views"][0]["hypotheses"][1]
    items = page.locator("[data-testid=hypothesis]")
    assert "-0.500" in items.nth(0).inner_text() and "-1.500" in items.nth(1).inner_text()
    items.nth(1).click()
    assert active_index(page, "[data-testid=hypothesis]") == 1
    assert texts(page, "[data-testid=row-label]") == second["tokens"]
    assert np.array_equal(grid(page), known(second["cross"]))
    assert page.locator("[data-testid=line-view] line").count() == len(second["tokens"]) * 6


def test_arrow_keys_move_through_sentences_without_scrolling(page, tmp_path):
    doc = single_doc()
    open_doc(page, tmp_path, doc)
    assert active_index(page, "[data-testid=sentence-item]") == 0
    page.keyboard.press("ArrowDown")
    assert active_index(page, "[data-testid=sentence-item]") == 1
    assert page.inner_text(".sentence .source") == "i am a student"
    assert np.array_equal(grid(page), known(doc["sentences"][1]["views"][0]["hypotheses"][0]["cross"]))
    page.keyboard.press("ArrowRight")  # already the last: stays
    assert active_index(page, "[data-testid=sentence-item]") == 1
    page.keyboard.press("ArrowLeft")
    assert active_index(page, "[data-testid=sentence-item]") == 0
    page.locator("[data-testid=sentence-item]").nth(1).click()
    assert active_index(page, "[data-testid=sentence-item]") == 1
    page.keyboard.press("ArrowUp")  # from the focused list item: focus follows
    assert active_index(page, "[data-testid=sentence-item]") == 0
    assert page.evaluate("document.activeElement.dataset.testid") == "sentence-item"
    assert page.evaluate("document.scrollingElement.scrollTop") == 0


def test_focusing_a_word_highlights_its_row_or_column_in_both_views(page, tmp_path):
    open_doc(page, tmp_path, single_doc())
    page.focus("[data-testid=row-label][data-row='2']")
    rows = page.eval_on_selector_all(
        "[data-testid=cell]", "cs => cs.map(c => [+c.dataset.row, c.classList.contains('highlight')])"
    )
    assert all(lit == (row == 2) for row, lit in rows)
    lines = page.eval_on_selector_all(
        "[data-testid=line-view] line", "ls => ls.map(l => [+l.dataset.row, l.classList.contains('highlight')])"
    )
    assert all(lit == (row == 2) for row, lit in lines)
    assert classes_of(page, "[data-testid=row-label]") == [k == 2 for k in range(6)]
    assert classes_of(page, "[data-testid=line-view] .word[data-row]") == [k == 2 for k in range(6)]
    assert "rouge attends most to" in page.inner_text("[data-testid=readout]")

    page.focus("[data-testid=line-view] .word[data-col='1']")  # a source word in the line view
    assert classes_of(page, "[data-testid=col-label]") == [k == 1 for k in range(6)]
    cells = page.eval_on_selector_all(
        "[data-testid=cell]", "cs => cs.map(c => [+c.dataset.col, c.classList.contains('highlight')])"
    )
    assert all(lit == (col == 1) for col, lit in cells)
    shot(page, "single-focus-column")


def test_transformer_layer_head_and_kind_pickers(page, tmp_path):
    doc = transformer_doc()
    open_doc(page, tmp_path, doc)
    view = doc["sentences"][0]["views"][0]
    hyp = view["hypotheses"][0]
    assert page.input_value("select[data-testid=layer]") == "1"
    assert page.input_value("select[data-testid=head]") == "avg"
    assert page.input_value("select[data-testid=attention-kind]") == "cross"
    mean = np.mean([known(m) for m in hyp["cross"][1]], axis=0)
    assert np.allclose(grid(page), mean, atol=1e-4)
    shot(page, "transformer")

    page.select_option("select[data-testid=head]", "1")
    assert np.array_equal(grid(page), known(hyp["cross"][1][1]))
    page.select_option("select[data-testid=layer]", "0")
    assert np.array_equal(grid(page), known(hyp["cross"][0][1]))

    page.select_option("select[data-testid=attention-kind]", "encoder")
    assert texts(page, "[data-testid=row-label]") == view["source_tokens"]
    assert texts(page, "[data-testid=col-label]") == view["source_tokens"]
    assert np.array_equal(grid(page), known(view["encoder_self"][0][1]))

    page.select_option("select[data-testid=attention-kind]", "decoder")
    page.select_option("select[data-testid=head]", "avg")
    assert texts(page, "[data-testid=row-label]") == hyp["tokens"]
    assert texts(page, "[data-testid=col-label]") == hyp["tokens"]
    decoder_mean = np.mean([known(m) for m in hyp["decoder_self"][0]], axis=0)
    assert np.allclose(grid(page), decoder_mean, atol=1e-4)
    n = len(hyp["tokens"])
    assert page.locator("[data-testid=cell].masked").count() == n * (n - 1) // 2  # the decoder cannot look ahead
    shot(page, "transformer-decoder-self")

    # A focused select keeps its arrow keys: the sentence stays.
    page.focus("select[data-testid=layer]")
    page.keyboard.press("ArrowDown")
    assert active_index(page, "[data-testid=sentence-item]") == 0


def test_two_runs_side_by_side(page, tmp_path):
    doc = comparison_doc()
    open_doc(page, tmp_path, doc)
    left, right = (page.locator(f"[data-testid=run-panel][data-run='{name}']") for name in ("gru", "heads"))
    a, b = left.bounding_box(), right.bounding_box()
    assert a["y"] == b["y"] and b["x"] >= a["x"] + a["width"]
    views = doc["sentences"][0]["views"]
    assert np.array_equal(grid(page, "[data-run='gru']"), known(views[0]["hypotheses"][0]["cross"]))
    three = np.mean([known(m) for m in views[1]["hypotheses"][0]["cross"][0]], axis=0)
    assert np.allclose(grid(page, "[data-run='heads']"), three, atol=1e-4)
    assert left.locator("select").count() == 0
    assert right.locator("select[data-testid=head] option").count() == 4
    assert right.locator("select[data-testid=attention-kind]").count() == 0

    right.locator("[data-testid=cell][data-row='3'][data-col='3']").hover()
    assert f"gare ← station: {three[3, 3]:.4f}" == right.locator("[data-testid=readout]").inner_text()
    shot(page, "comparison")


def test_gold_links_and_aer(page, tmp_path):
    open_doc(page, tmp_path, gold_doc())
    markers = page.eval_on_selector_all(
        "[data-testid=gold-link]",
        "ms => ms.map(m => [+m.dataset.row, +m.dataset.col, m.closest('td').dataset.row, m.closest('td').dataset.col])",
    )
    assert sorted((r, c) for r, c, _, _ in markers) == sorted((row, col) for col, row in GOLD)
    assert all(str(r) == tr and str(c) == tc for r, c, tr, tc in markers)
    assert "25.0%" in page.inner_text("[data-testid=aer]")
    page.hover("[data-testid=cell][data-row='1'][data-col='2']")  # over the marker: still the cell
    assert page.inner_text("[data-testid=readout]").startswith("arbre ← tree: ")
    shot(page, "gold")


def test_training_slider_and_probes(page, tmp_path):
    doc = training_doc()
    open_doc(page, tmp_path, doc)
    probes = doc["training"]["probes"]
    info = "[data-testid=training-info]"
    assert page.input_value("[data-testid=training-slider]") == "2"  # the trained model first
    assert all(s in page.inner_text(info) for s in ("step 300", "1.500", "20.50"))
    assert np.array_equal(grid(page), known(probes[0]["frames"][2]["cross"]))
    shot(page, "training")

    page.focus("[data-testid=training-slider]")
    page.keyboard.press("Home")  # the slider's own key
    assert all(s in page.inner_text(info) for s in ("step 100", "3.200", "1.50"))
    assert texts(page, "[data-testid=row-label]") == probes[0]["frames"][0]["tokens"]
    assert np.array_equal(grid(page), known(probes[0]["frames"][0]["cross"]))

    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("ArrowRight")  # page keys: right = next validation
    assert page.input_value("[data-testid=training-slider]") == "1"
    assert all(s in page.inner_text(info) for s in ("step 200", "2.125", "10.25"))
    page.keyboard.press("ArrowDown")  # down = next probe, same validation
    assert active_index(page, "[data-testid=sentence-item]") == 1
    assert np.array_equal(grid(page), known(probes[1]["frames"][1]["cross"]))
    shot(page, "training-step-200")


def test_sentences_and_training_in_one_page(page, tmp_path):
    doc = single_doc()
    doc["training"] = training_doc()["training"]
    open_doc(page, tmp_path, doc)
    assert page.locator("[data-testid=training-slider]").count() == 0
    page.click("button[data-mode=training]")
    assert "step 300" in page.inner_text("[data-testid=training-info]")
    assert texts(page, "[data-testid=sentence-item]") == ["1 i am cold", "2 she is here now"]
    page.click("button[data-mode=sentences]")
    assert texts(page, "[data-testid=row-label]") == doc["sentences"][0]["views"][0]["hypotheses"][0]["tokens"]


def test_script_end_tag_in_a_sentence_is_harmless(page, tmp_path):
    doc = single_doc()
    evil = 'say "</script><script>window.injected = 1</script>" <!-- <b>bold</b>'
    doc["title"] = "</title><script>window.injected = 2</script>"
    doc["sentences"][0]["source"] = evil
    doc["sentences"][0]["views"][0]["source_tokens"][1] = "</script>"
    path = open_doc(page, tmp_path, doc)
    assert path.read_text(encoding="utf-8").count("</script>") == 2  # the data element's and the code's
    assert page.inner_text(".sentence .source") == evil
    assert texts(page, "[data-testid=col-label]")[1] == "</script>"
    assert page.evaluate("window.injected") is None
    assert page.title() == doc["title"]


def test_long_sentence_wraps_and_the_grid_scrolls(page, tmp_path):
    src = [f"word{k}" for k in range(40)] + ["<eos>"]
    out = [f"mot{k}" for k in range(41)] + ["<eos>"]
    views = [
        {"source_tokens": src, "unknown": [], "encoder_self": None, "hypotheses": [hypothesis("1", out, len(src), seed=k)]}
        for k in range(2)
    ]
    doc = document([run("gru"), run("lstm")], [{"source": " ".join(src[:-1]), "views": views}])
    open_doc(page, tmp_path, doc)
    for wrapped in (".sentence .source", "[data-run='gru'] .hypothesis.active .hyp-text"):
        assert page.locator(wrapped).evaluate("n => n.scrollWidth <= n.clientWidth && n.textContent.includes('39')")
    content_right = page.locator("main").bounding_box()
    for panel in page.locator("[data-testid=run-panel]").all():
        box = panel.bounding_box()
        assert box["x"] + box["width"] <= content_right["x"] + content_right["width"]
    last = page.locator("[data-run='lstm'] [data-testid=col-label][data-col='40']")
    last.focus()
    assert last.evaluate("n => n.classList.contains('highlight')")
    shot(page, "long-sentence")


# ---------- the renderer, without a browser ----------


def test_twenty_sentences_stay_small():
    sentences = []
    for k in range(20):
        src = [f"src{k}w{n}" for n in range(14)] + ["<eos>"]
        out = [f"out{k}w{n}" for n in range(15)] + ["<eos>"]
        view = {"source_tokens": src, "unknown": [], "encoder_self": None, "hypotheses": [hypothesis("1", out, 15, seed=k)]}
        sentences.append({"source": " ".join(src[:-1]), "views": [view]})
    size = len(render_page(document([run("gru")], sentences)).encode("utf-8"))
    assert size < 100_000, size


def test_json_is_safe_inside_a_script_element():
    text = document_json({"a": "</script><!--", "nan": float("nan"), "n": np.float32(0.5), "xs": np.arange(2)})
    assert "<" not in text
    assert text == '{"a":"\\u003c/script>\\u003c!--","nan":null,"n":0.5,"xs":[0,1]}'


def test_other_formats_are_refused():
    with pytest.raises(ValueError, match="s2s-attention/1"):
        render_page({"format": "something-else"})


def test_an_unwritable_path_is_a_one_line_error(tmp_path):
    target = tmp_path / "missing" / "x.html"
    with pytest.raises(S2SError, match=r"missing/x\.html: cannot write \(No such file or directory\)"):
        write_page(single_doc(), target)


def test_the_page_module_does_not_import_torch():
    probe = "import sys, seq2seq_cli.viz.page; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0
