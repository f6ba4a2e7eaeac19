"""The user's story in a real browser: write the explorer with ``s2s attend`` from trained runs, open it
from disk with the network blocked, and check that what it shows is what the model computed.

Set ``S2S_EXPLORER_SHOTS=/some/folder`` to keep a screenshot of each view.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from seq2seq_cli.decoding.translator import Translator
from tests.browser import browser, network_log, page  # noqa: F401  (fixtures)
from tests.conftest import SEED_PAIRS, run_cli
from tests.test_explorer import page_document

SHOTS = os.environ.get("S2S_EXPLORER_SHOTS")


def attend_page(tmp_path: Path, name: str, *options: str) -> Path:
    out = tmp_path / f"{name}.html"
    result = run_cli("attend", *options, "--output", str(out))
    assert result.exit_code == 0, result.output
    return out


def open_page(page, path: Path, network_log: list[str]):  # noqa: F811
    page.goto(path.as_uri())
    page.wait_for_selector("[data-testid=cell]")
    return page


def shot(page, name: str) -> None:  # noqa: F811
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def grid(panel) -> list[list[float]]:
    """The weights a panel's grid shows, row by row, read from the page."""
    cells = panel.locator("[data-testid=cell]").evaluate_all(
        "cells => cells.map(c => [Number(c.dataset.row), Number(c.dataset.col), Number(c.dataset.weight)])"
    )
    rows = 1 + max(r for r, _, _ in cells)
    cols = 1 + max(c for _, c, _ in cells)
    table = [[0.0] * cols for _ in range(rows)]
    for r, c, w in cells:
        table[r][c] = w
    return table


def labels(panel, which: str) -> list[str]:
    return [text.strip() for text in panel.locator(f"[data-testid={which}-label]").all_inner_texts()]


def translate_json(run_dir: Path, sentence: str, *options: str) -> list[dict]:
    result = run_cli("translate", "--run", str(run_dir), "--json", *options, sentence)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["hypotheses"]


def test_hovering_a_cell_shows_the_weight_translate_json_prints(seed_run, tmp_path, page, network_log):  # noqa: F811
    sentences = tmp_path / "in.txt"
    sentences.write_text("\n".join(s for s, _ in SEED_PAIRS) + "\n", encoding="utf-8")
    path = attend_page(tmp_path, "seed", "--run", str(seed_run), "--input", str(sentences))
    open_page(page, path, network_log)
    page.keyboard.press("ArrowDown")  # the second sentence
    assert "active" in page.locator("[data-testid=sentence-item]").nth(1).get_attribute("class")
    panel = page.locator("[data-testid=run-panel]").first
    (expected,) = translate_json(seed_run, SEED_PAIRS[1][0])
    assert labels(panel, "row") == expected["tokens"]
    assert labels(panel, "col") == SEED_PAIRS[1][0].split()
    assert grid(panel) == expected["attention"]
    for row, col in [(0, 3), (2, 0), (len(expected["tokens"]) - 1, 2)]:
        panel.locator(f"[data-testid=cell][data-row='{row}'][data-col='{col}']").hover()
        assert f"{expected['attention'][row][col]:.4f}" in panel.locator("[data-testid=readout]").inner_text()
    shot(page, "sentence")
    page.keyboard.press("ArrowUp")
    (first,) = translate_json(seed_run, SEED_PAIRS[0][0])
    assert grid(panel) == first["attention"]
    assert network_log == []  # the page asked the network for nothing


def test_focusing_a_word_highlights_its_row_in_the_grid_and_the_lines(seed_run, tmp_path, page, network_log):  # noqa: F811
    open_page(page, attend_page(tmp_path, "focus", "--run", str(seed_run), "she is a doctor"), network_log)
    panel = page.locator("[data-testid=run-panel]").first
    panel.locator("[data-testid=row-label]").nth(1).focus()
    highlighted = panel.locator("[data-testid=cell].highlight").evaluate_all("cells => cells.map(c => c.dataset.row)")
    assert highlighted and set(highlighted) == {"1"}
    lines = panel.locator("[data-testid=line-view] line.highlight").evaluate_all("ls => ls.map(l => l.dataset.row)")
    assert lines and set(lines) == {"1"}


def test_each_beam_hypothesis_shows_its_own_attention(seed_run, tmp_path, page, network_log):  # noqa: F811
    path = attend_page(tmp_path, "beam", "--run", str(seed_run), "--beam", "4", "--nbest", "3", "he is a teacher")
    open_page(page, path, network_log)
    expected = translate_json(seed_run, "he is a teacher", "--beam", "4", "--nbest", "3")
    panel = page.locator("[data-testid=run-panel]").first
    items = panel.locator("[data-testid=hypothesis]")
    assert items.count() == 3
    for index, hypothesis in enumerate(expected):
        items.nth(index).click()
        assert "active" in items.nth(index).get_attribute("class")
        assert f"{hypothesis['score']:.3f}" in items.nth(index).inner_text()  # the score, to 3 decimals
        assert labels(panel, "row") == hypothesis["tokens"]
        assert grid(panel) == hypothesis["attention"]
    shot(page, "beam")


def test_layer_head_and_self_attention_pickers_show_the_right_maps(transformer_run, tmp_path, page, network_log):  # noqa: F811
    path = attend_page(tmp_path, "transformer", "--run", str(transformer_run), "--beam", "1", "she is a doctor")
    open_page(page, path, network_log)
    translation = Translator.from_run(transformer_run).with_decoding(beam_size=1).translate(["she is a doctor"])[0]
    attention = translation.attention  # (steps, layers, heads, source)
    panel = page.locator("[data-testid=run-panel]").first

    def shown() -> torch.Tensor:
        return torch.tensor(grid(panel), dtype=torch.float64)

    assert torch.allclose(shown(), attention[:, 1].mean(dim=1).double(), atol=1.5e-4)  # default: last layer, average
    for layer, head in [(0, 2), (1, 3), (0, 0)]:
        panel.locator("select[data-testid=layer]").select_option(str(layer))
        panel.locator("select[data-testid=head]").select_option(str(head))
        assert torch.allclose(shown(), attention[:, layer, head].double(), atol=5.1e-5)
    shot(page, "transformer-head")
    panel.locator("select[data-testid=attention-kind]").select_option("encoder")
    encoder, (decoder,) = Translator.from_run(transformer_run).self_attention([translation])
    assert labels(panel, "row") == labels(panel, "col") == ["she", "is", "a", "doctor"]
    assert torch.allclose(shown(), encoder[0, 0].double(), atol=5.1e-5)
    panel.locator("select[data-testid=attention-kind]").select_option("decoder")
    assert labels(panel, "col")[0] == "<s>" and labels(panel, "row") == translation.steps
    assert torch.allclose(shown(), decoder[0, 0].double(), atol=5.1e-5)
    shot(page, "transformer-decoder-self")


def test_runs_side_by_side(seed_run, transformer_run, tmp_path, page, network_log):  # noqa: F811
    path = attend_page(tmp_path, "compare", "--run", str(seed_run), "--run", str(transformer_run), "we are engineers")
    open_page(page, path, network_log)
    panels = page.locator("[data-testid=run-panel]")
    assert panels.count() == 2
    names = [r["name"] for r in page_document(path)["runs"]]
    for name, run_dir in zip(names, [seed_run, transformer_run]):
        panel = page.locator(f"[data-testid=run-panel][data-run='{name}']")
        assert "nous sommes ingenieurs" in panel.inner_text()
        hypothesis = translate_json(run_dir, "we are engineers")[0]
        assert labels(panel, "row") == hypothesis["tokens"]
        assert torch.allclose(torch.tensor(grid(panel)), torch.tensor(hypothesis["attention"]), atol=1.5e-4)
    shot(page, "compare")


def test_gold_links_are_drawn_with_the_sentence_aer(seed_run, tmp_path, page, network_log):  # noqa: F811
    pairs, links = tmp_path / "pairs.tsv", tmp_path / "pairs.align"
    pairs.write_text("she is a doctor\telle est medecin\n", encoding="utf-8")
    links.write_text("0-0 1-1 3-2\n", encoding="utf-8")
    path = attend_page(tmp_path, "gold", "--run", str(seed_run), "--input", str(pairs), "--align", str(links))
    open_page(page, path, network_log)
    panel = page.locator("[data-testid=run-panel]").first
    panel.locator("[data-testid=hypothesis]").last.click()  # the reference, read teacher-forced
    marks = panel.locator("[data-testid=gold-link]").evaluate_all("ms => ms.map(m => [m.dataset.row, m.dataset.col])")
    assert sorted(marks) == [["0", "0"], ["1", "1"], ["2", "3"]]  # (target row, source column)
    aer = page_document(path)["sentences"][0]["views"][0]["hypotheses"][-1]["aer"]
    assert f"{100 * aer:.1f}%" in panel.locator("[data-testid=aer]").inner_text()
    shot(page, "gold")


def test_the_training_slider_replays_the_probes(seed_run, tmp_path, page, network_log):  # noqa: F811
    path = attend_page(tmp_path, "learn", "--run", str(seed_run), "--over-training")
    open_page(page, path, network_log)
    training = page_document(path)["training"]
    slider = page.locator("input[type=range][data-testid=training-slider]")
    from seq2seq_cli.viz.maps import decode_map

    for index in (0, 9, len(training["validations"]) - 1):
        slider.fill(str(index))
        step = training["validations"][index]["step"]
        assert f"step {step}" in page.locator("[data-testid=training-info]").inner_text()
        panel = page.locator("[data-testid=run-panel]").first
        frame = training["probes"][0]["frames"][index]
        assert grid(panel) == decode_map(frame["cross"]).tolist()
    shot(page, "over-training")
    page.keyboard.press("ArrowLeft")
    assert f"step {training['validations'][-2]['step']}" in page.locator("[data-testid=training-info]").inner_text()
    assert network_log == []


@pytest.fixture(autouse=True)
def _no_stray_requests(network_log):  # noqa: F811
    yield
    assert network_log == []
