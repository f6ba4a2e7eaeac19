"""``s2s serve``: a trained run behind HTTP, with the attention it used.

    POST /translate  {"texts": [...], "beam": 5, "nbest": 1, "attention": false, "prefix": "la", "attribution": "grad"}
    POST /alternatives  {"text": ..., "prefix": "la", "k": 5}: the next words the model weighs after the prefix
    GET  /health     the run, the decode settings and how many requests and batches so far
    GET  /           the attention explorer, live: type a sentence, see its attention, poke an output word
    GET  /openapi.json  the API's schema

The model is loaded once. Requests that arrive within a few milliseconds of each other are
decoded as one batch (``batch_window_ms``), a large request in turns with everyone else's, by one
supervised worker thread, so the event loop keeps accepting requests meanwhile. Every limit is a
setting (``ServeSettings``, an ``s2s serve`` option each): the size and pace of a body, the texts,
beam and n-best of a request and the work they add up to, and how many requests may wait. Every
error is a 4xx or 5xx with a one-line JSON ``{"error": ...}``, never a traceback. FastAPI and
uvicorn are an optional extra (``pip install "seq2seq-cli[serve]"``).

This module builds and runs the app; beside it are ``settings`` (the limits), ``guard`` (the
body's size and pace, and the request head's deadline), ``batcher`` (the batching, in turns),
``routes`` (the endpoints and their errors) and ``poke`` (the explorer and its alternatives). Nothing
imports FastAPI until an app is made, so ``check_installed`` can name the extra when it is missing.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Optional

from seq2seq_cli.errors import S2SError
from seq2seq_cli.serve import poke, routes
from seq2seq_cli.serve.batcher import Batcher
from seq2seq_cli.serve.guard import BodyGuard, timed_protocol
from seq2seq_cli.serve.settings import ServeSettings

__all__ = ["INSTALL", "LOCAL_HOSTS", "ServeSettings", "check_installed", "create_app", "serve"]

INSTALL = 'pip install "seq2seq-cli[serve]"'
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def create_app(translator, settings: Optional[ServeSettings] = None, run_name: str = "run"):
    """The FastAPI application serving ``translator``, inside ``BodyGuard`` (tests call it directly;
    ``app.state.batcher`` is its batcher)."""
    from fastapi import FastAPI

    settings = settings or ServeSettings()
    batcher = Batcher(translator, settings)

    @asynccontextmanager
    async def lifespan(_app):
        worker = batcher.start()
        yield
        worker.cancel()  # uvicorn has already answered the requests in flight when this runs

    app = FastAPI(title="s2s", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.state.batcher = batcher
    routes.add_error_handlers(app)
    routes.add_translate(app, translator, batcher, settings)
    routes.add_health(app, translator, batcher, settings, run_name)
    poke.add_alternatives(app, translator, batcher, settings)
    poke.add_explorer(app, translator, batcher, settings, run_name)
    app.add_middleware(BodyGuard, settings=settings)
    return app


def check_installed() -> None:
    """One line naming the extra when FastAPI or uvicorn is missing."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise S2SError(f"s2s serve needs FastAPI and uvicorn ({exc.name} is missing): {INSTALL}") from None


def server_config(app, host: str, port: int, settings: ServeSettings):
    """uvicorn's settings for ``app``: the keep-alive timeout, and the protocol with a deadline for request heads."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=30,
                          timeout_keep_alive=settings.keep_alive_s, http=timed_protocol(settings.read_timeout_s))


def serve(translator, host: str, port: int, settings: ServeSettings, run_name: str, warn) -> None:
    """Run the server until SIGINT or SIGTERM (uvicorn finishes the requests in flight, then stops)."""
    import uvicorn

    if host not in LOCAL_HOSTS:
        warn(f"serving on {host}: anyone who can reach this machine on port {port} can use the model "
             "(the default, 127.0.0.1, is this machine only)")
    uvicorn.Server(server_config(create_app(translator, settings, run_name), host, port, settings)).run()
