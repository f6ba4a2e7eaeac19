"""The explorer page with attribution beside attention (``--attribution``) and the beam search tree
(``--beam N``): what the document holds, checked against the translator, and what a real browser
shows when the view switch or a tree node is clicked."""

from __future__ import annotations

import pytest
import torch

from seq2seq_cli.decoding.translator import Translator
from seq2seq_cli.viz.explorer import decode_signed, encode_signed
from seq2seq_cli.viz.maps import decode_map
from tests.browser import browser, network_log, page  # noqa: F401  (fixtures)
from tests.conftest import run_cli
from tests.test_explorer import page_document
from tests.test_explorer_browser import attend_page, grid, labels, open_page, shot

SENTENCE = "she is a doctor"
PAIRS = "she is a doctor\telle est medecin\nwe are engineers\tnous sommes ingenieurs\n"
LINKS = "0-0 1-1 3-2\n0-0 1-1 2-2\n"


def hypotheses(path) -> list[dict]:
    return page_document(path)["sentences"][0]["views"][0]["hypotheses"]


def explained(run_dir, sentence: str, method: str, **decoding):
    """The best translation as the translator explains it, in word units: what the page must hold."""
    translator = Translator.from_run(run_dir).with_decoding(n_best=1, **decoding)
    (translation,) = translator.explain(translator.translate([sentence]), method, steps=8)
    return translation.by_words()


def test_a_signed_map_keeps_four_digits_of_its_largest_score():
    scores = torch.tensor([[3.25, -0.5, 0.0], [-12.5, 0.001, 7.0]])
    record = encode_signed(scores)
    assert record["signed"] and record["bound"] == 12.5 and record["shape"] == [2, 3]
    assert torch.allclose(decode_signed(record), scores.double(), atol=12.5e-4)


@pytest.mark.parametrize("method", ["grad", "ig"])
def test_each_hypothesis_carries_its_attribution_beside_its_attention(seed_run, tmp_path, method):
    options = ["--ig-steps", "8"] if method == "ig" else []
    path = attend_page(tmp_path, method, "--run", str(seed_run), SENTENCE, "--attribution", method, *options)
    (hypothesis,) = hypotheses(path)
    expected = explained(seed_run, SENTENCE, method)
    scores = decode_signed(hypothesis["attribution"])
    assert list(scores.shape) == list(decode_map(hypothesis["cross"]).shape) == [len(expected.steps), 4]
    bound = float(expected.attribution.scores.abs().max())
    assert torch.allclose(scores, expected.attribution.scores.double(), atol=2e-4 * bound)
    assert hypothesis["attribution_method"] == method
    assert ("ig_delta" in hypothesis) == (method == "ig")
    if method == "ig":
        assert hypothesis["ig_delta"] == pytest.approx(expected.attribution.delta, abs=1e-3)
    attention = expected.attention_map()[: len(expected.output)]
    same = attention.argmax(-1) == expected.attribution.scores[: len(expected.output)].abs().argmax(-1)
    assert hypothesis["agreement"]["top_match"] == pytest.approx(float(same.double().mean()), abs=1e-4)


def test_without_attribution_the_page_holds_none(seed_run, tmp_path):
    path = attend_page(tmp_path, "plain", "--run", str(seed_run), SENTENCE)
    (hypothesis,) = hypotheses(path)
    assert not {"attribution", "attribution_method", "ig_delta", "agreement"} & hypothesis.keys()
    assert "search_tree" not in page_document(path)["sentences"][0]["views"][0]


def test_a_transformer_attribution_has_the_shape_of_its_attention(transformer_run, tmp_path):
    path = attend_page(tmp_path, "tf", "--run", str(transformer_run), SENTENCE, "--attribution", "occlusion")
    (hypothesis,) = hypotheses(path)
    assert list(decode_signed(hypothesis["attribution"]).shape) == list(decode_map(hypothesis["cross"][0][0]).shape)


def aer(weights: torch.Tensor, links: set[tuple[int, int]]) -> float:
    """AER with every gold link sure: 1 - 2|A ∩ G| / (|A| + |G|), A linking each target word to its top source word."""
    guesses = {(int(s), t) for t, s in enumerate(weights.argmax(dim=1).tolist())}
    return 1 - 2 * len(guesses & links) / (len(guesses) + len(links))


def test_gold_alignments_give_the_aer_of_attention_and_of_attribution(seed_run, tmp_path):
    pairs, gold = tmp_path / "pairs.tsv", tmp_path / "pairs.align"
    pairs.write_text(PAIRS, encoding="utf-8")
    gold.write_text(LINKS, encoding="utf-8")
    path = attend_page(tmp_path, "gold", "--run", str(seed_run), "--input", str(pairs), "--align", str(gold),
                       "--attribution", "grad")
    for sentence, line in zip(page_document(path)["sentences"], LINKS.splitlines()):
        reference = sentence["views"][0]["hypotheses"][-1]
        links = {(int(s), int(t)) for s, t in (link.split("-") for link in line.split())}
        agreement = reference["agreement"]
        assert agreement["aer_attention"] == reference["aer"]
        assert agreement["aer_attention"] == pytest.approx(aer(decode_map(reference["cross"]), links), abs=1e-4)
        scores = decode_signed(reference["attribution"])
        assert list(scores.shape) == [len(reference["tokens"]), len(reference["source_tokens"])]
        assert agreement["aer_attribution"] == pytest.approx(aer(scores.abs(), links), abs=1e-4)
        assert 0 <= agreement["top_match"] <= 1
        assert "aer_attention" not in sentence["views"][0]["hypotheses"][0]["agreement"]  # no gold for the model's own


def test_a_beam_page_holds_the_search_tree_and_its_chosen_path(seed_run, tmp_path):
    path = attend_page(tmp_path, "beam", "--run", str(seed_run), SENTENCE, "--beam", "3")
    view = page_document(path)["sentences"][0]["views"][0]
    tree, best = view["search_tree"], view["hypotheses"][0]
    nodes = tree["nodes"]
    assert tree["beam"] == 3 and tree["source_tokens"] == SENTENCE.split()
    assert [nodes[k]["token"] for k in tree["best"]] == best["tokens"]  # the path the page highlights
    assert all(nodes[k]["kept"] for k in tree["best"])
    assert [nodes[k]["parent"] for k in tree["best"]] == [-1, *tree["best"][:-1]]
    assert any(not node["kept"] for node in nodes), "beam 3 prunes at each step"
    for node in nodes:
        assert len(node["attention"]) == (4 if node["kept"] else 0)
        assert node["log_prob"] == round(node["log_prob"], 4)
    found, searched = Translator.from_run(seed_run).with_decoding(beam_size=3).search_tree(SENTENCE.split())
    assert len(nodes) == len(searched) and found[0].text == best["text"]


def test_greedy_search_draws_no_tree(seed_run, tmp_path):
    path = attend_page(tmp_path, "greedy", "--run", str(seed_run), SENTENCE, "--beam", "1")
    assert "search_tree" not in page_document(path)["sentences"][0]["views"][0]


def test_the_prefix_option_reaches_the_page(seed_run, tmp_path):
    path = attend_page(tmp_path, "prefix", "--run", str(seed_run), SENTENCE, "--prefix", "il")
    (hypothesis,) = hypotheses(path)
    assert hypothesis["tokens"][0] == "il"


def matrix(panel, view: str) -> torch.Tensor:
    return torch.tensor(grid(panel.locator(f".attention[data-view={view}]")), dtype=torch.float64)


def test_the_view_switch_shows_attention_attribution_both_and_their_difference(seed_run, tmp_path, page, network_log):  # noqa: F811
    path = attend_page(tmp_path, "switch", "--run", str(seed_run), SENTENCE, "--attribution", "grad")
    (hypothesis,) = hypotheses(path)
    attention, scores = decode_map(hypothesis["cross"]), decode_signed(hypothesis["attribution"])
    open_page(page, path, network_log)
    panel = page.locator("[data-testid=run-panel]").first
    assert torch.allclose(torch.tensor(grid(panel), dtype=torch.float64), attention, atol=1e-4)
    rows = panel.locator("th.out-word").evaluate_all("ths => ths.map(th => [th.dataset.step, th.textContent])")
    assert rows == [[str(k), token] for k, token in enumerate(hypothesis["tokens"])]
    switch = panel.locator("select[data-testid=matrix-view]")

    switch.select_option("attribution")
    assert torch.allclose(matrix(panel, "attribution"), scores, atol=1e-4)
    assert panel.locator(".attention").count() == 1
    assert "%" in panel.locator("[data-testid=agreement]").inner_text()

    switch.select_option("both")
    assert torch.allclose(matrix(panel, "attention"), attention, atol=1e-4)
    assert torch.allclose(matrix(panel, "attribution"), scores, atol=1e-4)
    shot(page, "attribution-both")

    switch.select_option("difference")
    share = scores.abs() / scores.abs().sum(dim=1, keepdim=True).clamp_min(1e-12)
    assert torch.allclose(matrix(panel, "difference"), attention - share, atol=3e-4)
    assert "normalised" in panel.locator("[data-testid=caption]").inner_text()

    switch.select_option("attention")
    assert torch.allclose(matrix(panel, "attention"), attention, atol=1e-4)


def test_a_page_without_attribution_has_no_view_switch(seed_run, tmp_path, page, network_log):  # noqa: F811
    open_page(page, attend_page(tmp_path, "plain", "--run", str(seed_run), SENTENCE), network_log)
    assert page.locator("select[data-testid=matrix-view]").count() == 0
    assert page.locator("[data-testid=beam-tree]").count() == 0


def test_clicking_a_tree_node_shows_that_prefix_attention(seed_run, tmp_path, page, network_log):  # noqa: F811
    path = attend_page(tmp_path, "tree", "--run", str(seed_run), SENTENCE, "--beam", "3")
    view = page_document(path)["sentences"][0]["views"][0]
    nodes, best = view["search_tree"]["nodes"], view["search_tree"]["best"]
    open_page(page, path, network_log)
    panel = page.locator("[data-testid=run-panel]").first
    tree = panel.locator("[data-testid=beam-tree]")
    assert tree.locator(".tree-node.best").count() == len(best)
    assert tree.locator(".tree-node.pruned").count() == sum(not node["kept"] for node in nodes)
    # A kept hypothesis off the chosen path, as deep as one goes: the search branched there.
    other = max((k for k, node in enumerate(nodes) if node["kept"] and k not in best), key=lambda k: nodes[k]["step"])
    trail = [other]
    while nodes[trail[0]]["parent"] >= 0:
        trail.insert(0, nodes[trail[0]]["parent"])
    tree.locator(f"[data-testid=tree-node][data-node='{other}']").click()
    assert labels(panel, "row") == [nodes[k]["token"] for k in trail]
    assert labels(panel, "col") == SENTENCE.split()
    expected = torch.tensor([nodes[k]["attention"] for k in trail], dtype=torch.float64)
    assert torch.allclose(torch.tensor(grid(panel), dtype=torch.float64), expected, atol=1e-4)
    assert tree.locator(".tree-node.picked").count() == len(trail)
    shot(page, "beam-tree")
    panel.locator("[data-testid=prefix-back]").click()
    assert labels(panel, "row") == view["hypotheses"][0]["tokens"]


def test_attend_without_a_run_says_so_in_one_line(tmp_path):
    result = run_cli("attend", "--runs-dir", str(tmp_path / "none"), SENTENCE, "--attribution", "grad",
                     "--output", str(tmp_path / "x.html"))
    assert result.exit_code != 0 and "Traceback" not in result.output
