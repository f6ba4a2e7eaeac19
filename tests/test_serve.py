"""`s2s serve`: the HTTP answers a client gets, the errors it can cause, batching under concurrent
callers, and a clean stop on SIGTERM with requests in flight."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import ROOT, run_cli
from tests.test_bad_input import assert_one_line_error

pytest.importorskip("fastapi", reason='the serve extra: pip install "seq2seq-cli[serve]"')
from fastapi.testclient import TestClient  # noqa: E402

from seq2seq_cli.decoding.translator import Translator  # noqa: E402
from seq2seq_cli.serve.app import ServeSettings, create_app  # noqa: E402


@pytest.fixture(scope="module")
def client(seed_run):
    app = create_app(Translator.from_run(seed_run), ServeSettings(max_texts=4, max_chars=200, max_beam=8), "seed")
    with TestClient(app, raise_server_exceptions=False) as client:  # runs the lifespan: the batcher is up
        yield client


def test_translate_answers_what_translate_json_prints(client, seed_run):
    response = client.post("/translate", json={"texts": ["i am a student", "he is a teacher"], "attention": True})
    assert response.status_code == 200
    answers = response.json()["translations"]
    assert [a["hypotheses"][0]["text"] for a in answers] == ["je suis etudiant", "il est professeur"]
    printed = run_cli("translate", "--run", str(seed_run), "--json", "--align", "i am a student").stdout
    assert answers[0] == json.loads(printed)  # attention, scores and alignment alike


def test_without_attention_the_answer_is_text_tokens_and_score(client):
    answer = client.post("/translate", json={"texts": ["she is a doctor"], "beam": 3, "nbest": 2}).json()
    hypotheses = answer["translations"][0]["hypotheses"]
    assert len(hypotheses) == 2 and set(hypotheses[0]) == {"text", "tokens", "score"}
    assert hypotheses[0]["score"] >= hypotheses[1]["score"]


@pytest.mark.parametrize("body,status,reason", [
    ('{"texts": ["i am"', 400, "body is not valid JSON"),
    ('{"texts": "i am a student"}', 422, "texts: Input should be a valid list"),
    ('{"texts": [1]}', 422, "texts[0]: Input should be a valid string"),
    ('{"texts": []}', 422, "texts: List should have at least 1 item"),
    ('{"texts": ["a", "b", "c", "d", "e"]}', 422, "texts: 5 texts, at most 4 a request"),
    ('{"texts": ["' + "a " * 150 + '"]}', 422, "texts[0]: 300 characters, at most 200"),
    ('{"texts": ["  "]}', 422, "texts[0]: empty"),
    ('{"texts": ["hi"], "beam": 9}', 422, "beam: 9, at most 8"),
    ('{"texts": ["hi"], "beam": 2, "nbest": 3}', 422, "nbest: 3, at most the beam (2)"),
    ('{"texts": ["hi"], "beam": "5"}', 422, "beam: Input should be a valid integer"),
    ('{"texts": ["hi"], "beams": 5}', 422, "beams: unknown field"),
])
def test_bad_requests_get_a_one_line_reason(client, body, status, reason):
    response = client.post("/translate", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    error = response.json()["error"]
    assert reason in error and "\n" not in error and "Traceback" not in response.text


def test_an_internal_error_is_a_500_without_a_traceback(client, monkeypatch):
    monkeypatch.setattr(Translator, "translate_tokens", lambda *args, **kwargs: 1 / 0)
    response = client.post("/translate", json={"texts": ["i am a student"]})
    assert response.status_code == 500
    assert response.json() == {"error": "internal error: see the server's log"}


def test_health_and_the_live_explorer(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["run"] == "seed" and health["requests"] >= 0
    page = client.get("/", params={"text": "we are engineers"})
    assert page.status_code == 200 and "form-action 'self'" in page.text
    assert 'name="text" value="we are engineers"' in page.text
    assert "nous sommes ingenieurs" in page.text  # the document inside the page holds the translation


def test_serve_without_the_extra_says_how_to_install_it(seed_run, monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert_one_line_error(run_cli("serve", "--run", str(seed_run)), 'pip install "seq2seq-cli[serve]"')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_concurrent_callers_are_batched_get_their_own_answers_and_sigterm_finishes_them(seed_run):
    import httpx

    port = free_port()
    command = [sys.executable, "-m", "seq2seq_cli", "serve", "--run", str(seed_run), "--host", "0.0.0.0",
               "--port", str(port), "--batch-window-ms", "300"]
    server = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "the server never came up"
                time.sleep(0.2)
        sources = ["i am a student", "he is a teacher", "she is a doctor", "we are engineers", "they are artists"] * 2
        answers: dict[int, str] = {}

        def ask(index: int) -> None:
            reply = httpx.post(f"{url}/translate", json={"texts": [sources[index]]}, timeout=60)
            answers[index] = reply.json()["translations"][0]["hypotheses"][0]["text"]

        callers = [threading.Thread(target=ask, args=(i,)) for i in range(len(sources))]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join()
        expected = {"i am a student": "je suis etudiant", "he is a teacher": "il est professeur",
                    "she is a doctor": "elle est medecin", "we are engineers": "nous sommes ingenieurs",
                    "they are artists": "ils sont artistes"}
        assert [answers[i] for i in range(len(sources))] == [expected[s] for s in sources]
        health = httpx.get(f"{url}/health").json()
        assert health["requests"] == 10 and health["batches"] < 10  # decoded together, answered apart

        in_flight = threading.Thread(target=ask, args=(0,))
        answers.pop(0)
        in_flight.start()
        while httpx.get(f"{url}/health").json()["requests"] < 11:  # not a fixed sleep: a busy machine sends late
            assert time.monotonic() < deadline + 60, "the last request never reached the server"
            time.sleep(0.01)
        server.send_signal(signal.SIGTERM)  # the request is in flight: in the 300 ms window or being decoded
        in_flight.join(timeout=60)
        assert answers.get(0) == "je suis etudiant"  # finished, not dropped
        assert server.wait(timeout=60) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has finished
    finally:
        server.kill()
    stderr = server.stderr.read()
    assert "serving on 0.0.0.0: anyone who can reach this machine" in stderr
    assert "Traceback" not in stderr
