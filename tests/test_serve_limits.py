"""`s2s serve` against hostile or unlucky clients: text that is not Unicode, bodies too large or too
slow, heads that never end, requests that ask for too much work or arrive when the queue is full, a
large request that must not hold up a small one, and a decoder that fails or stops. Every answer,
whatever its status, is one line of JSON ``{"error": ...}``.

The network tests run uvicorn in a thread on 127.0.0.1, with the server's own protocol and limits.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest

from tests.conftest import run_cli

pytest.importorskip("fastapi", reason='the serve extra: pip install "seq2seq-cli[serve]"')
import httpx  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from seq2seq_cli.decoding.translator import Translator  # noqa: E402
from seq2seq_cli.serve.app import ServeSettings, create_app, server_config  # noqa: E402
from seq2seq_cli.serve.batcher import Batcher  # noqa: E402

SENTENCES = ["i am a student", "he is a teacher", "she is a doctor", "we are engineers", "they are artists"]


@pytest.fixture(scope="module")
def translator(seed_run):
    return Translator.from_run(seed_run)


@contextlib.contextmanager
def served(translator, app=None, **limits):
    """uvicorn in a thread on a free port of 127.0.0.1, serving ``translator`` with ``limits`` (or ``app``);
    yields (url, app)."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = ServeSettings(**limits)
    app = app or create_app(translator, settings, "seed")
    server = uvicorn.Server(server_config(app, "127.0.0.1", port, settings))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server never came up"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def raw(url: str, data: bytes, then: float = 0.0) -> socket.socket:
    """A socket to the server that has sent ``data`` (and waited ``then`` seconds)."""
    host, port = url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)), timeout=30)
    connection.sendall(data)
    time.sleep(then)
    return connection


def read_all(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    with connection:
        while chunk := connection.recv(65536):
            received += chunk
    return received


def assert_error(response, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert reason in error and "\n" not in error and "Traceback" not in response.text


def test_a_lone_surrogate_is_a_400_not_a_500(translator):
    with TestClient(create_app(translator, ServeSettings(), "seed"), raise_server_exceptions=False) as client:
        for text in ("i am \\ud800 a", "\\udc00", "i am a student \\udfff"):
            response = client.post("/translate", content=f'{{"texts": ["{text}"]}}', headers={"content-type": "application/json"})
            assert_error(response, 400, "a lone surrogate")
        assert client.post("/translate", json={"texts": ["i am a student \U0001f600"]}).status_code == 200  # a pair is fine


def test_a_body_over_the_limit_is_answered_413_before_it_is_sent(translator):
    with served(translator, max_body_bytes=10_000) as (url, _app):
        head = b"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 150000000\r\n\r\n"
        started = time.monotonic()
        answer = read_all(raw(url, head + b'{"texts": ["'))  # 150 MB announced, 12 bytes sent: answered and closed
        assert answer.startswith(b"HTTP/1.1 413 ") and b'{"error": "body: 150,000,000 bytes, at most 10,000"}' in answer
        assert time.monotonic() - started < 10


def test_a_chunked_body_is_counted_as_it_streams(translator):
    with served(translator, max_body_bytes=10_000) as (url, _app):
        head = b"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        chunk = b"1000\r\n" + b"a" * 0x1000 + b"\r\n"
        answer = read_all(raw(url, head + chunk * 3))  # 12 KiB of a body that never ends
        assert answer.startswith(b"HTTP/1.1 413 ") and b"body: over 10,000 bytes" in answer


def test_a_slow_body_is_408_and_a_slow_head_is_cut_off(translator):
    with served(translator, read_timeout_s=1.0) as (url, _app):
        started = time.monotonic()
        head = b"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        answer = read_all(raw(url, head + b'{"texts"'))  # 8 bytes of 100, then nothing
        assert answer.startswith(b"HTTP/1.1 408 ") and b'{"error": "body: not received within 1 s"}' in answer
        assert read_all(raw(url, b"GET /health HTTP/1.1\r\nHo")) == b""  # the head never ends: closed, no answer
        assert time.monotonic() - started < 20


def test_an_idle_connection_new_or_kept_alive_is_closed(translator):
    with served(translator, keep_alive_s=0.5) as (url, _app):
        started = time.monotonic()
        answer = read_all(raw(url, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"))  # the answer, then closed
        assert answer.startswith(b"HTTP/1.1 200 ") and time.monotonic() - started < 3  # uvicorn alone: 5 s
        started = time.monotonic()
        assert read_all(raw(url, b"")) == b"" and time.monotonic() - started < 3  # uvicorn alone: never


def test_a_request_over_the_work_budget_is_422_with_the_reason(translator):
    with TestClient(create_app(translator, ServeSettings(max_work=1000), "seed"), raise_server_exceptions=False) as client:
        body = {"texts": SENTENCES * 4, "beam": 8, "nbest": 4, "attention": True}  # 72 tokens x (8 + 4 x 2)
        assert_error(client.post("/translate", json=body), 422, "work: 20 texts at beam 8, n-best 4 is about 1,152 units")
        assert client.post("/translate", json={"texts": SENTENCES, "beam": 8, "nbest": 4}).status_code == 200  # 216


def test_a_small_request_is_answered_while_a_large_one_is_decoded(translator):
    """The large request is decoded in turns of ``batch_work``; the small one takes the next turn."""
    with served(translator, batch_work=200) as (url, app):
        large = {"texts": SENTENCES * 12, "beam": 16, "nbest": 16, "attention": True}  # 60 texts, one a turn
        done: dict[str, float] = {}
        statuses: dict[str, int] = {}

        def send(name: str, body: dict) -> None:
            statuses[name] = httpx.post(f"{url}/translate", json=body, timeout=120).status_code
            done[name] = time.monotonic()

        caller = threading.Thread(target=send, args=("large", large))
        caller.start()
        while app.state.batcher.batches < 2:  # the large request is being decoded
            assert caller.is_alive(), "the large request finished before the small one was sent"
            time.sleep(0.005)
        sent = time.monotonic()
        send("small", {"texts": ["i am a student"]})
        caller.join()
        assert statuses == {"small": 200, "large": 200}
        assert done["small"] < done["large"], "the small request waited for the whole of the large one"
        assert done["small"] - sent < (done["large"] - sent) / 2


def ask(client, answers: list) -> None:
    answers.append(client.post("/translate", json={"texts": ["i am"]}))


@contextlib.contextmanager
def blocked(monkeypatch):
    """Decoding waits until the event is set (the worker is busy for as long as a test needs)."""
    release = threading.Event()
    original = Translator.translate_tokens

    def wait_then_translate(self, *args, **kwargs):
        assert release.wait(timeout=60)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Translator, "translate_tokens", wait_then_translate)
    try:
        yield release
    finally:
        release.set()


def until(condition, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_a_full_queue_is_503_with_retry_after(translator, monkeypatch):
    with served(translator, max_queue=2) as (url, app), blocked(monkeypatch) as release:
        answers = []
        waiting = [threading.Thread(target=lambda: answers.append(httpx.post(f"{url}/translate", json={"texts": ["i am"]},
                                                                             timeout=60))) for _ in range(2)]
        for caller in waiting:
            caller.start()
        until(lambda: app.state.batcher.waiting() == 2, "the two requests never arrived")
        refused = httpx.post(f"{url}/translate", json={"texts": ["i am"]}, timeout=60)
        assert_error(refused, 503, "busy: 2 requests waiting, at most 2")
        assert int(refused.headers["retry-after"]) >= 1
        assert httpx.get(f"{url}/", timeout=60).status_code == 503  # the explorer waits in the same queue
        release.set()
        for caller in waiting:
            caller.join()
        assert [a.status_code for a in answers] == [200, 200]


def test_a_failed_batch_fails_its_callers_and_the_server_goes_on(translator, monkeypatch):
    with served(translator) as (url, _app):
        with monkeypatch.context() as patched:
            patched.setattr(Batcher, "_record", lambda *args: 1 / 0)  # building the answer fails, after decoding
            failed = httpx.post(f"{url}/translate", json={"texts": ["i am a student"]}, timeout=30)  # not a hang
            assert_error(failed, 500, "internal error")
        assert httpx.get(f"{url}/health").json()["status"] == "ok"
        answer = httpx.post(f"{url}/translate", json={"texts": ["i am a student"]}, timeout=30)
        assert answer.json()["translations"][0]["hypotheses"][0]["text"] == "je suis etudiant"


def test_when_the_decoder_stops_health_and_requests_answer_503_at_once(translator, monkeypatch):
    app = create_app(translator, ServeSettings(), "seed")
    with TestClient(app, raise_server_exceptions=False) as client, blocked(monkeypatch):
        batcher = app.state.batcher
        stranded = []
        caller = threading.Thread(target=lambda: stranded.append(client.post("/translate", json={"texts": ["i am"]})))
        caller.start()
        until(lambda: batcher.active, "the request never reached the decoder")
        batcher.task.get_loop().call_soon_threadsafe(batcher.task.cancel)  # the loop stops, whatever the reason
        caller.join(timeout=30)
        assert_error(stranded[0], 503, "the decoder has stopped")  # the caller waiting for it is not left hanging
        assert_error(client.get("/health"), 503, "the decoder has stopped")
        started = time.monotonic()
        assert_error(client.post("/translate", json={"texts": ["i am"]}), 503, "the decoder has stopped")
        assert_error(client.get("/"), 503, "the decoder has stopped")
        assert time.monotonic() - started < 5


def test_the_explorer_goes_through_the_batcher_and_its_limits(translator):
    with TestClient(create_app(translator, ServeSettings(max_chars=50), "seed"), raise_server_exceptions=False) as client:
        before = client.get("/health").json()
        page = client.get("/", params={"text": "we are engineers"})
        assert page.status_code == 200 and "nous sommes ingenieurs" in page.text
        after = client.get("/health").json()
        assert after["requests"] == before["requests"] + 1 and after["batches"] == before["batches"] + 1
        assert_error(client.get("/", params={"text": "a " * 30}), 422, "text: 60 characters, at most 50")
        assert_error(client.get("/", params={"text": "i am a student " * 3}), 422, "text: input has 12 tokens")


def test_every_status_answers_one_line_of_json(translator):
    with TestClient(create_app(translator, ServeSettings(), "seed"), raise_server_exceptions=False) as client:
        assert_error(client.get("/nope"), 404, "no such page: GET /nope")
        missing_method = client.put("/health")
        assert_error(missing_method, 405, "method not allowed: PUT /health")
        assert missing_method.headers["allow"] == "GET"
        assert_error(client.get("/translate"), 405, "method not allowed: GET /translate")
        assert_error(client.post("/translate", content=b"\xff\xfe", headers={"content-type": "application/json"}),
                     400, "body is not valid JSON")


def test_the_app_serves_again_after_a_restart(translator):
    """A second lifespan (a new event loop) gets a working decoder, not one stuck on the first loop's queue."""
    app = create_app(translator, ServeSettings(), "seed")
    for _ in range(2):
        with served(translator, app) as (url, _app):
            answer = httpx.post(f"{url}/translate", json={"texts": ["i am a student"]}, timeout=30)  # not a hang
            assert answer.status_code == 200, answer.text


def test_every_limit_is_an_option_of_s2s_serve(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    shown = run_cli("serve", "--help").stdout
    for option in ("--max-texts", "--max-chars", "--max-beam", "--max-nbest", "--max-work", "--batch-work", "--max-queue",
                   "--max-body-bytes", "--read-timeout", "--keep-alive", "--batch-window-ms"):
        assert option in shown, option
