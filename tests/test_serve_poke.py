"""`s2s serve`'s forced prefixes, alternatives and attribution: ``POST /translate`` with ``prefix`` is what
``s2s translate --prefix`` prints, requests with different prefixes share a batch and each gets its own,
``POST /alternatives`` ranks the next words, and on the served page a learner clicks an output word,
picks an alternative and gets the translation forced from there, with its alignment to download."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from tests.conftest import run_cli

pytest.importorskip("fastapi", reason='the serve extra: pip install "seq2seq-cli[serve]"')
from fastapi.testclient import TestClient  # noqa: E402

from seq2seq_cli.decoding.alternatives import alternatives  # noqa: E402
from seq2seq_cli.decoding.translator import Translator  # noqa: E402
from seq2seq_cli.serve.app import ServeSettings, create_app  # noqa: E402
from seq2seq_cli.serve.batcher import Batcher, Job  # noqa: E402
from tests.browser import browser  # noqa: E402, F401  (fixture)
from tests.test_serve_limits import served  # noqa: E402

SENTENCE = "i am a student"


@pytest.fixture(scope="module")
def translator(seed_run):
    return Translator.from_run(seed_run)


@pytest.fixture(scope="module")
def client(translator):
    with TestClient(create_app(translator, ServeSettings(max_chars=200), "seed"), raise_server_exceptions=False) as client:
        yield client


def cli_json(seed_run, sentence: str, prefix: str) -> dict:
    result = run_cli("translate", "--run", str(seed_run), "--json", "--align", "--prefix", prefix, sentence)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_translate_with_a_prefix_is_what_translate_prefix_prints(client, seed_run):
    for prefix in ("il", "je est"):
        response = client.post("/translate", json={"texts": [SENTENCE], "prefix": prefix, "attention": True})
        assert response.status_code == 200
        answer = response.json()["translations"][0]
        assert answer == cli_json(seed_run, SENTENCE, prefix)  # text, scores, attention and alignment alike
        assert answer["hypotheses"][0]["tokens"][: len(prefix.split())] == prefix.split()


def test_different_prefixes_in_one_batch_each_get_their_own(translator):
    cases = [("", SENTENCE), ("il", SENTENCE), ("je est", SENTENCE), ("elle", "he is a teacher")]

    async def together() -> tuple[list, int]:
        batcher = Batcher(translator, ServeSettings(batch_window_ms=200))
        worker = batcher.start()
        jobs = [Job([text], [translator.tokens(text)], [10], 1, 1, False,
                    prefix=translator.prefix_ids(prefix) if prefix else []) for prefix, text in cases]
        answers = await asyncio.gather(*(batcher.submit(job) for job in jobs))
        worker.cancel()
        batcher.worker.shutdown()
        return answers, batcher.batches

    answers, batches = asyncio.run(together())
    assert batches == 1  # decoded together, answered apart
    greedy = translator.with_decoding(beam_size=1, n_best=1)
    for (prefix, text), parts in zip(cases, answers):
        expected = greedy.with_prefix(prefix or None).translate([text])[0].text
        assert json.loads(parts[0])["hypotheses"][0]["text"] == expected


@pytest.mark.parametrize("prefix,reason", [
    ("<eos>", "prefix: words the model never produces: <, eos, >"),
    ("x" * 201, "prefix: 201 characters, at most 200"),
])
def test_a_bad_prefix_is_a_one_line_422(client, prefix, reason):
    for response in (client.post("/translate", json={"texts": [SENTENCE], "prefix": prefix}),
                     client.post("/alternatives", json={"text": SENTENCE, "prefix": prefix}),
                     client.get("/", params={"text": SENTENCE, "prefix": prefix})):
        assert response.status_code == 422 and response.json() == {"error": reason}


def test_alternatives_are_the_k_likeliest_next_words(client, translator):
    answer = client.post("/alternatives", json={"text": SENTENCE, "prefix": "je", "k": 4}).json()
    found = answer["alternatives"]
    assert answer["position"] == 1 and answer["prefix_tokens"] == ["je"] and len(found) == 4
    scores = [a["log_prob"] for a in found]
    assert scores == sorted(scores, reverse=True) and all(s <= 0 for s in scores)
    following = translator.with_decoding(beam_size=1).with_prefix("je").translate([SENTENCE])[0].output[1]
    assert found[0]["token"] == following  # greedy search takes the likeliest, teacher-forced on the prefix
    assert all(a["prefix"] == f"je {a['token']}" or a["token"] == "<eos>" and a["prefix"] is None for a in found)
    direct = alternatives(translator, translator.tokens(SENTENCE), translator.prefix_ids("je"), 4)
    assert [a.token for a in direct] == [a["token"] for a in found]
    assert not {"<pad>", "<sos>", "<unk>"} & {a.token for a in alternatives(translator, ["i"], [], 50)}


def test_translate_with_attribution_carries_it(client):
    answer = client.post("/translate", json={"texts": [SENTENCE], "attribution": "grad"}).json()
    hypothesis = answer["translations"][0]["hypotheses"][0]
    assert hypothesis["attribution_method"] == "grad"
    assert len(hypothesis["attribution"]) == len(hypothesis["tokens"]) and len(hypothesis["attribution"][0]) == 4
    refused = client.post("/translate", json={"texts": [SENTENCE], "attribution": "shap"})
    assert refused.status_code == 422 and "attribution" in refused.json()["error"]


def test_the_page_forced_with_a_prefix_carries_what_poking_needs(client, seed_run):
    page = client.get("/", params={"text": SENTENCE, "prefix": "il", "attribution": "grad"})
    assert page.status_code == 200 and "connect-src 'self'" in page.text
    poke = json.loads(re.search(r'<script id="s2s-poke" type="application/json">(.*?)</script>', page.text).group(1))
    printed = run_cli("translate", "--run", str(seed_run), "--align", "--prefix", "il", SENTENCE).stdout.strip()
    assert f"{' '.join(poke['output_words'])} ||| {poke['pharaoh']}" == printed
    assert poke["attribution"] == "grad" and 'name="attribution" value="grad"' in page.text
    document = json.loads(re.search(r'<script id="s2s-document" type="application/json">(.*?)</script>', page.text).group(1))
    assert document["sentences"][0]["views"][0]["hypotheses"][0]["attribution_method"] == "grad"


def test_clicking_a_word_and_choosing_an_alternative_translates_from_there(translator, seed_run, browser):  # noqa: F811
    context = browser.new_context(accept_downloads=True)
    context.route(re.compile(r"^(?!http://127\.0\.0\.1:)"), lambda route: route.abort())  # the server, nothing else
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        with served(translator) as (url, _app):
            page.goto(f"{url}/?text={SENTENCE.replace(' ', '+')}")
            page.locator('.out-word[data-step="1"], th.row-label[data-row="1"]').first.click()
            choices = page.locator('[data-testid="alternative"]:not([disabled])')
            choices.first.wait_for()
            tokens = [choices.nth(k).get_attribute("data-token") for k in range(choices.count())]
            picked = next(k for k, token in enumerate(tokens) if token != "suis")
            with page.expect_navigation():
                choices.nth(picked).click()
            prefix = f"je {tokens[picked]}"
            assert f"prefix={prefix.replace(' ', '+')}" in page.url
            poke = json.loads(page.locator("#s2s-poke").text_content())
            with page.expect_download() as download:
                page.locator('[data-testid="pharaoh-download"]').click()
            alignment = open(download.value.path(), encoding="utf-8").read().strip()
    finally:
        context.close()
    assert not errors, f"script errors on the page: {errors}"
    printed = run_cli("translate", "--run", str(seed_run), "--align", "--prefix", prefix, SENTENCE).stdout.strip()
    assert f"{' '.join(poke['output_words'])} ||| {alignment}" == printed  # the forced translation, and its links
    assert re.fullmatch(r"\d+-\d+( \d+-\d+)*", alignment)


def test_attribution_without_captum_is_refused_before_the_shared_batch(client, monkeypatch):
    import seq2seq_cli.decoding.attribution as attribution
    from seq2seq_cli.errors import S2SError

    def missing() -> None:
        raise S2SError(f"attribution needs captum: {attribution.CAPTUM_INSTALL}")

    monkeypatch.setattr(attribution, "require_captum", missing)
    response = client.post("/translate", json={"texts": [SENTENCE], "attribution": "ig"})
    assert response.status_code == 422 and 'pip install "seq2seq-cli[explain]"' in response.json()["error"]
    assert client.get("/", params={"text": SENTENCE, "attribution": "ig"}).status_code == 422
