"""`s2s serve` under generated requests: schemathesis derives them from the app's OpenAPI schema
(``/openapi.json``), hypothesis throws Unicode's awkward corners at it (lone surrogates, NUL, right-to-
left text, combining marks, emoji, very long words). None may get a 5xx, or hang; every answer is
what the schema says, and every error one line of JSON.

Both run in-process against the ASGI app, a bounded number of examples each (a few seconds).
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi", reason='the serve extra: pip install "seq2seq-cli[serve]"')
schemathesis = pytest.importorskip("schemathesis", reason='the test extra: pip install "seq2seq-cli[test]"')
from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from seq2seq_cli.decoding.translator import Translator  # noqa: E402
from seq2seq_cli.serve.app import ServeSettings, create_app  # noqa: E402

LIMITS = ServeSettings(max_texts=8, max_chars=200, max_beam=4, max_nbest=4, max_body_bytes=20_000)
SEEN: dict[int, int] = {}  # status -> how many generated requests got it (printed at the end with -s)


@pytest.fixture(scope="module")
def app(seed_run):
    return create_app(Translator.from_run(seed_run), LIMITS, "seed")


def test_no_generated_request_gets_a_5xx_or_hangs(app):
    """Valid and invalid requests for every route, as the schema describes them (schemathesis, in-process)."""
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    api = schemathesis.openapi.from_asgi("/openapi.json", app)
    cases = st.one_of(api.as_strategy(GenerationMode.POSITIVE), api.as_strategy(GenerationMode.NEGATIVE))
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

    @given(case=cases)
    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case) -> None:
        response = case.call(timeout=30)  # a hang is a ReadTimeout, so a failure
        SEEN[response.status_code] = SEEN.get(response.status_code, 0) + 1
        assert response.status_code < 500, response.text
        case.validate_response(response, checks=checks)
        if response.status_code >= 400:
            assert set(response.json()) <= {"error", "status"} and "\n" not in response.json()["error"]

    check()


AWKWARD = [
    "\ud800", "\udfff", "\ud83d", "\x00", "a\x00b", "\u202e", "\u200f", "\u061c", "مرحبا", "שלום",
    "\u0301", "e\u0301\u0302\u0303",
    "\U0001f600", "\U0001f469\u200d\U0001f469\u200d\U0001f467", "\U0001f1eb\U0001f1f7", "\ufeff", "\uffff", "\U0010ffff",
    "\r\n", "\t", "\u2028", "\x7f", "\x1b[31m", "i", "am", "a", "student", " ",
]
pieces = st.one_of(st.sampled_from(AWKWARD), st.text(st.characters(codec=None, exclude_categories=()), max_size=5),
                   st.builds(lambda c, n: c * n, st.sampled_from(["a", "\u00e9", "\U0001f600", "x\u0301"]),
                             st.integers(1, 300)))
texts = st.lists(st.lists(pieces, max_size=8).map("".join), min_size=1, max_size=4)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@given(sent=texts, beam=st.integers(1, 4), attention=st.booleans())
@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
def test_awkward_unicode_never_gets_a_5xx(client, sent, beam, attention):
    body = json.dumps({"texts": sent, "beam": beam, "attention": attention})  # ASCII, lone surrogates as \ud800
    response = client.post("/translate", content=body, headers={"content-type": "application/json"})
    assert response.status_code in (200, 400, 422), response.text
    answer = response.json()
    if response.status_code == 200:
        assert [a["source"] for a in answer["translations"]] == sent
    else:
        assert "\n" not in answer["error"]
    page = client.get("/", params={"text": sent[0].encode("utf-8", "surrogatepass").decode("utf-8", "replace")})
    assert page.status_code in (200, 400, 422), page.text


def test_zz_report_the_statuses_seen(capsys):
    """With -s, how many generated requests the schemathesis test sent, by status."""
    with capsys.disabled():
        print(f"\nschemathesis: {sum(SEEN.values())} generated requests, by status: {dict(sorted(SEEN.items()))}")
