"""The HTTP routes, each registered on the app by its own function, and the one-line errors.

Every error is a 4xx or 500 with a one-line JSON ``{"error": ...}``, never a traceback.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations at run
# time, and the request model is defined inside ``request_model`` (pydantic is only imported there).
import asyncio
import html
import logging
from typing import Any, Optional

from seq2seq_cli.errors import S2SError
from seq2seq_cli.serve.batcher import Batcher
from seq2seq_cli.serve.settings import ServeSettings, check_limits

EXPLORER_TEXT = "i am a student"  # the explorer's sentence until the visitor types one
log = logging.getLogger("s2s.serve")


def request_model() -> type:
    """The body of ``POST /translate``, as a pydantic model."""
    from pydantic import BaseModel, ConfigDict, Field

    class TranslateRequest(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)  # an unknown or mistyped field is an error

        texts: list[str] = Field(min_length=1)
        beam: Optional[int] = Field(default=None, ge=1)
        nbest: int = Field(default=1, ge=1)
        attention: bool = False

    return TranslateRequest


def add_error_handlers(app) -> None:
    """A malformed request is a 400 or 422 with its reason, anything unexpected a 500 (logged here)."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": _one_line(exc.errors())}, status_code=422 if _parsed(exc) else 400)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")  # the traceback goes to the server's log, never to the client
        return JSONResponse({"error": "internal error: see the server's log"}, status_code=500)


def add_translate(app, translator, batcher: Batcher, settings: ServeSettings) -> None:
    """``POST /translate``: checked alone against the limits and the model, then decoded in a shared batch."""
    from fastapi.responses import JSONResponse

    TranslateRequest = request_model()

    @app.post("/translate")
    async def translate(request: TranslateRequest) -> JSONResponse:
        beam = request.beam or translator.config.decode.beam_size
        problem = check_limits(request.texts, beam, request.nbest, settings) or check_texts(translator, request.texts)
        if problem:
            return JSONResponse({"error": problem}, status_code=422)
        try:
            records = await batcher.translate(request.texts, beam, request.nbest, request.attention)
        except S2SError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse({"translations": records})


def add_health(app, translator, batcher: Batcher, settings: ServeSettings, run_name: str) -> None:
    """``GET /health``: the run, the decode settings and how many requests and batches so far."""

    @app.get("/health")
    async def health() -> dict[str, Any]:
        model = translator.config.model
        return {
            "status": "ok", "run": run_name, "model": model.type, "attention": model.attention,
            "beam": translator.config.decode.beam_size, "batch_window_ms": settings.batch_window_ms,
            "requests": batcher.requests, "batches": batcher.batches, "sentences": batcher.sentences,
        }


def add_explorer(app, translator, settings: ServeSettings, run_name: str) -> None:
    """``GET /``: the attention explorer, live: type a sentence, see its attention."""
    from fastapi import Query
    from fastapi.responses import HTMLResponse

    @app.get("/", response_class=HTMLResponse)
    async def explorer(text: str = Query(default=EXPLORER_TEXT, max_length=settings.max_chars)) -> HTMLResponse:
        from seq2seq_cli.viz.explorer import Run, translations_document
        from seq2seq_cli.viz.page import render_page

        if not text.strip():
            text = EXPLORER_TEXT
        try:
            document = await asyncio.to_thread(translations_document, [Run(run_name, translator)], [text])
        except S2SError as exc:
            return HTMLResponse(f"<!doctype html><p>error: {html.escape(str(exc))}</p>", status_code=422)
        return HTMLResponse(render_page(document, ask=text))


def check_texts(translator, texts: list[str]) -> str:
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
