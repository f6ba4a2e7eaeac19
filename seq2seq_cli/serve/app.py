"""``s2s serve``: a trained run behind HTTP, with the attention it used.

    POST /translate  {"texts": [...], "beam": 5, "nbest": 1, "attention": false}
    GET  /health     the run, the decode settings and how many requests and batches so far
    GET  /           the attention explorer, live: type a sentence, see its attention

The model is loaded once. Requests that arrive within a few milliseconds of each other are
decoded as one batch (``batch_window_ms``): a length-sorted batch of 64 sentences costs little
more than one sentence on a CPU, so under load the window buys throughput, and alone a request
waits only the window. Decoding runs in one worker thread, so the event loop keeps accepting
requests meanwhile. Every error is a 4xx or 500 with a one-line JSON ``{"error": ...}``, never a
traceback. FastAPI and uvicorn are an optional extra (``pip install "s2s[serve]"``).
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations at run
# time, and the request model is defined inside ``create_app`` (pydantic is only imported there).
import asyncio
import html
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Optional

from seq2seq_cli.errors import S2SError

INSTALL = 'pip install "s2s[serve]"'
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
log = logging.getLogger("s2s.serve")


@dataclass
class ServeSettings:
    """Limits that keep one client from taking the server, and the batching window."""

    batch_window_ms: float = 5.0  # the quiet gap that closes a batch (0: no batching); at most 10 windows in all
    max_batch: int = 64  # sentences decoded together at most
    max_texts: int = 64  # texts in one request at most
    max_chars: int = 1000  # characters in one text at most
    max_beam: int = 16
    max_nbest: int = 16


@dataclass
class _Job:
    """One request's sentences waiting for the batcher, and where its answer goes."""

    texts: list[str]
    beam: int
    nbest: int
    attention: bool
    answer: asyncio.Future
    records: list[dict] = field(default_factory=list)


class Batcher:
    """Merges requests that arrive together into one decode, and hands each caller its own answer."""

    def __init__(self, translator, settings: ServeSettings):
        self.translator, self.settings = translator, settings
        self.queue: asyncio.Queue[_Job] = asyncio.Queue()
        self.requests = self.batches = self.sentences = 0

    async def translate(self, texts: list[str], beam: int, nbest: int, attention: bool) -> list[dict]:
        job = _Job(texts, beam, nbest, attention, asyncio.get_running_loop().create_future())
        self.requests += 1
        await self.queue.put(job)
        return await job.answer

    WINDOWS_AT_MOST = 10  # the first request of a batch waits at most this many windows for the rest

    async def run(self) -> None:
        """Forever: wait for a request, gather what else arrives within the window, decode, answer."""
        while True:
            jobs = [await self.queue.get()]
            window = self.settings.batch_window_ms / 1000
            latest = time.monotonic() + self.WINDOWS_AT_MOST * window
            while sum(len(job.texts) for job in jobs) < self.settings.max_batch:
                # The window restarts with every arrival: after a batch, the clients it answered come
                # back one after another, each a little behind the last, and all belong in the next batch.
                wait = min(window, latest - time.monotonic())
                try:
                    jobs.append(await asyncio.wait_for(self.queue.get(), max(wait, 0)))
                except asyncio.TimeoutError:
                    break
            await self._decode(jobs)

    async def _decode(self, jobs: list[_Job]) -> None:
        """One decode per distinct (beam, nbest) among the jobs, in the worker thread."""
        groups: dict[tuple[int, int], list[_Job]] = {}
        for job in jobs:
            groups.setdefault((job.beam, job.nbest), []).append(job)
        for (beam, nbest), members in groups.items():
            try:
                outputs = await asyncio.to_thread(self._translate, [t for job in members for t in job.texts], beam, nbest)
            except Exception as exc:  # noqa: BLE001 - each caller gets the failure, the server goes on
                for job in members:
                    if not job.answer.done():
                        job.answer.set_exception(exc)
                continue
            self.batches += 1
            start = 0
            for job in members:
                mine = outputs[start : start + len(job.texts)]
                start += len(job.texts)
                if not job.answer.done():  # a caller that went away is not answered
                    job.answer.set_result(self._records(job, mine))

    def _translate(self, texts: list[str], beam: int, nbest: int):
        translator = self.translator.with_decoding(beam_size=beam, n_best=nbest)
        self.sentences += len(texts)
        return translator.translate_nbest(texts, batch_size=self.settings.max_batch)

    @staticmethod
    def _records(job: _Job, outputs) -> list[dict]:
        from seq2seq_cli.decoding.translator import json_record

        return [json_record(text, candidates, align=job.attention, attention=job.attention)
                for text, candidates in zip(job.texts, outputs)]


def create_app(translator, settings: Optional[ServeSettings] = None, run_name: str = "run"):
    """The FastAPI application serving ``translator`` (tests call it directly)."""
    from fastapi import FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse
    from pydantic import BaseModel, ConfigDict, Field

    settings = settings or ServeSettings()
    batcher = Batcher(translator, settings)

    class TranslateRequest(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)  # an unknown or mistyped field is an error

        texts: list[str] = Field(min_length=1)
        beam: Optional[int] = Field(default=None, ge=1)
        nbest: int = Field(default=1, ge=1)
        attention: bool = False

    @asynccontextmanager
    async def lifespan(_app):
        worker = asyncio.create_task(batcher.run())
        yield
        worker.cancel()  # uvicorn has already answered the requests in flight when this runs

    app = FastAPI(title="s2s", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": _one_line(exc.errors())}, status_code=422 if _parsed(exc) else 400)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")  # the traceback goes to the server's log, never to the client
        return JSONResponse({"error": "internal error: see the server's log"}, status_code=500)

    @app.post("/translate")
    async def translate(request: TranslateRequest) -> JSONResponse:
        beam = request.beam or translator.config.decode.beam_size
        problem = _check_limits(request.texts, beam, request.nbest, settings) or _check_texts(translator, request.texts)
        if problem:
            return JSONResponse({"error": problem}, status_code=422)
        try:
            records = await batcher.translate(request.texts, beam, request.nbest, request.attention)
        except S2SError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse({"translations": records})

    @app.get("/health")
    async def health() -> dict[str, Any]:
        model = translator.config.model
        return {
            "status": "ok", "run": run_name, "model": model.type, "attention": model.attention,
            "beam": translator.config.decode.beam_size, "batch_window_ms": settings.batch_window_ms,
            "requests": batcher.requests, "batches": batcher.batches, "sentences": batcher.sentences,
        }

    @app.get("/", response_class=HTMLResponse)
    async def explorer(text: str = Query(default="i am a student", max_length=settings.max_chars)) -> HTMLResponse:
        from seq2seq_cli.viz.explorer import Run, translations_document
        from seq2seq_cli.viz.page import render_page

        if not text.strip():
            text = "i am a student"
        try:
            document = await asyncio.to_thread(translations_document, [Run(run_name, translator)], [text])
        except S2SError as exc:
            return HTMLResponse(f"<!doctype html><p>error: {html.escape(str(exc))}</p>", status_code=422)
        return HTMLResponse(render_page(document, ask=text))

    return app


def _check_limits(texts: list[str], beam: int, nbest: int, settings: ServeSettings) -> str:
    """The reason a well-formed request is refused, or ''."""
    if len(texts) > settings.max_texts:
        return f"texts: {len(texts)} texts, at most {settings.max_texts} a request"
    for index, text in enumerate(texts):
        if len(text) > settings.max_chars:
            return f"texts[{index}]: {len(text)} characters, at most {settings.max_chars}"
        if not text.strip():
            return f"texts[{index}]: empty"
    if beam > settings.max_beam:
        return f"beam: {beam}, at most {settings.max_beam}"
    if nbest > min(beam, settings.max_nbest):
        return f"nbest: {nbest}, at most the beam ({beam})" if nbest > beam else f"nbest: at most {settings.max_nbest}"
    return ""


def _check_texts(translator, texts: list[str]) -> str:
    """A text the model cannot take is refused here, alone: in a shared batch it would fail its neighbours."""
    for index, text in enumerate(texts):
        try:
            translator.tokens(text)
        except S2SError as exc:
            return f"texts[{index}]: {exc}"
    return ""


def _parsed(exc) -> bool:
    """Whether the body was JSON at all (then a field is wrong: 422) or not (400)."""
    return not any(error.get("type") == "json_invalid" for error in exc.errors())


def _one_line(errors: list[dict]) -> str:
    """Pydantic's error list as one line: ``texts.1: Input should be a valid string``."""
    first = errors[0] if errors else {}
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first.get("loc", ()) if part != "body")
    where = where.lstrip(".") or "body"
    message = first.get("msg", "invalid request")
    if first.get("type") == "json_invalid":
        return f"body is not valid JSON ({first.get('ctx', {}).get('error', message)})"
    if first.get("type") == "extra_forbidden":
        return f"{where}: unknown field (fields: texts, beam, nbest, attention)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {message}{more}"


def check_installed() -> None:
    """One line naming the extra when FastAPI or uvicorn is missing."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise S2SError(f"s2s serve needs FastAPI and uvicorn ({exc.name} is missing): {INSTALL}") from None


def serve(translator, host: str, port: int, settings: ServeSettings, run_name: str, warn) -> None:
    """Run the server until SIGINT or SIGTERM (uvicorn finishes the requests in flight, then stops)."""
    import uvicorn

    if host not in LOCAL_HOSTS:
        warn(f"serving on {host}: anyone who can reach this machine on port {port} can use the model "
             "(the default, 127.0.0.1, is this machine only)")
    uvicorn.run(create_app(translator, settings, run_name), host=host, port=port, log_level="warning",
                timeout_graceful_shutdown=30)
