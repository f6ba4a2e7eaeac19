"""The HTTP routes, each registered on the app by its own function, and the one-line errors.

Every error, whatever its status, is one line of JSON ``{"error": ...}``, never a traceback: a bad
request is a 400 or 422 with its reason, a body too large or too slow a 413 or 408 (``guard``), a
full queue or a stopped decoder a 503, anything unexpected a 500 (logged here). Every decode, the
explorer's too, goes through the batcher and its limits.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations at run
# time, and the request model is defined inside ``request_model`` (pydantic is only imported there).
import functools
import logging
from typing import Any, Literal, Optional

from seq2seq_cli.errors import S2SError
from seq2seq_cli.serve.batcher import Batcher, Job, Unavailable
from seq2seq_cli.serve.settings import (
    ServeSettings,
    attributed_work,
    check_limits,
    check_unicode,
    check_work,
    text_work,
)

EXPLORER_TEXT = "i am a student"  # the explorer's sentence until the visitor types one
FIELDS = {"/translate": "texts, beam, nbest, attention, prefix, attribution", "/alternatives": "text, prefix, k"}
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
        prefix: Optional[str] = None  # every translation starts with these words; the search goes on from there
        attribution: Optional[Literal["grad", "ig", "occlusion"]] = None

    return TranslateRequest


@functools.cache
def error_model() -> type:
    """Every error's body, ``{"error": "..."}``, as a pydantic model (for the OpenAPI schema)."""
    from pydantic import BaseModel

    class Error(BaseModel):
        error: str

    return Error


def error_responses(*statuses: int) -> dict:
    """The OpenAPI description of the error answers a route can give."""
    return {status: {"model": error_model(), "description": "one line saying what is wrong"} for status in statuses}


def add_error_handlers(app) -> None:
    """A malformed request is a 400 or 422 with its reason, anything unexpected a 500 (logged here)."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": _one_line(exc.errors(), request.url.path)}, status_code=422 if _parsed(exc) else 400)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        where = f"{request.method} {request.url.path}"
        reason = {404: f"no such page: {where} (POST /translate, POST /alternatives, GET /health, GET /)",
                  405: f"method not allowed: {where}"}.get(exc.status_code, str(exc.detail))
        return JSONResponse({"error": reason}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")  # the traceback goes to the server's log, never to the client
        return JSONResponse({"error": "internal error: see the server's log"}, status_code=500)


def add_translate(app, translator, batcher: Batcher, settings: ServeSettings) -> None:
    """``POST /translate``: checked alone against the limits and the model, then decoded in shared batches."""
    from fastapi.responses import Response

    TranslateRequest = request_model()

    record = {"type": "object", "required": ["source", "hypotheses"]}
    answer = {"type": "object", "required": ["translations"], "properties": {"translations": {"type": "array", "items": record}}}
    done = {200: {"description": "one record per text, as `s2s translate --json` prints it",
                  "content": {"application/json": {"schema": answer}}}}

    @app.post("/translate", response_class=Response, responses={**done, **error_responses(400, 408, 413, 422, 500, 503)})
    async def translate(request: TranslateRequest) -> Response:
        beam = request.beam or translator.config.decode.beam_size
        limits = check_limits(request.texts, beam, request.nbest, settings)
        tokens, work, refusal = checked(translator, settings, request.texts, beam, request.nbest, request.attention, limits)
        prefix, refusal = (None, refusal) if refusal else checked_prefix(translator, settings, request.prefix)
        refusal = refusal or attribution_missing(request.attribution)
        if refusal:
            return refusal
        # The forced words are decoded too; an attribution reads each hypothesis again.
        work = [attributed_work(text_work(len(t) + len(prefix), beam, request.nbest, request.attention), t,
                                request.attribution, request.nbest) for t in tokens]
        if check_work(work, beam, request.nbest, settings):
            return error(422, check_work(work, beam, request.nbest, settings))
        parts = await decoded(batcher, Job(request.texts, tokens, work, beam, request.nbest, request.attention,
                                           prefix=prefix, attribution=request.attribution))
        if isinstance(parts, Response):
            return parts
        return Response('{"translations":[' + ",".join(parts) + "]}", media_type="application/json")


def add_health(app, translator, batcher: Batcher, settings: ServeSettings, run_name: str) -> None:
    """``GET /health``: the run, the decode settings and how many requests and batches so far (503 if the
    decoder has stopped)."""
    from fastapi.responses import JSONResponse

    @app.get("/health", responses=error_responses(503))
    async def health() -> dict[str, Any]:
        if not batcher.alive:
            return JSONResponse({"error": f"the decoder has stopped ({batcher.stopped or 'not started'})",
                                 "status": "stopped"}, status_code=503)
        model = translator.config.model
        return {
            "status": "ok", "run": run_name, "model": model.type, "attention": model.attention,
            "beam": translator.config.decode.beam_size, "batch_window_ms": settings.batch_window_ms,
            "adaptive_window": settings.adaptive_window,
            "requests": batcher.requests, "batches": batcher.batches, "sentences": batcher.sentences,
            "waiting": batcher.waiting(),
        }


async def decoded(batcher: Batcher, job: Job):
    """The job's answers from the batcher, or the error response: 503 (busy or stopped), 422, 500."""
    try:
        return await batcher.submit(job)
    except Unavailable as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return error(503, str(exc), headers)
    except S2SError as exc:
        return error(422, str(exc))
    except Exception:  # noqa: BLE001 - the batch failed (the batcher logged why): a 500, the server goes on
        return error(500, "internal error: see the server's log")


def error(status: int, message: str, headers: Optional[dict] = None):
    """The one-line JSON error."""
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status, headers=headers)


def checked(translator, settings: ServeSettings, texts: list[str], beam: int, nbest: int, attention: bool,
            limits: str, name: str = "") -> tuple[list[list[str]], list[int], Any]:
    """Each text's tokens and estimated work, or the refusal: 400 for text that is not Unicode, 422 for a
    text over the limits (``limits``: check_limits' reason), one the model cannot take, or too much work."""
    problem = check_unicode(texts)
    if problem:
        return [], [], error(400, _named(problem, name))
    tokens, problem = ([], limits) if limits else check_texts(translator, texts)
    work = [text_work(len(t), beam, nbest, attention) for t in tokens]
    problem = problem or check_work(work, beam, nbest, settings)
    return tokens, work, error(422, _named(problem, name)) if problem else None


def checked_prefix(translator, settings: ServeSettings, prefix: Optional[str], name: str = "prefix") -> tuple[list[int], Any]:
    """The forced prefix as target ids ([] for none or blank), or the refusal: 400 for text that is not
    Unicode, 422 for one too long or with a word the search cannot force (``<eos>``, one it does not know)."""
    if prefix is None or not prefix.strip():
        return [], None
    if check_unicode([prefix]):
        return [], error(400, _named(check_unicode([prefix]), name))
    if len(prefix) > settings.max_chars:
        return [], error(422, f"{name}: {len(prefix)} characters, at most {settings.max_chars}")
    try:
        ids = translator.prefix_ids(prefix)
    except S2SError as exc:
        return [], error(422, str(exc).replace("--prefix", name, 1))
    unknown = [token for token, i in zip(translator.tgt_tokenizer.tokens(prefix), ids) if i == translator.tgt_vocab.UNK]
    if unknown:  # forced as <unk>, they would derail the search: the CLI warns, an API refuses
        return [], error(422, f"{name}: words the model never produces: {', '.join(unknown)}")
    return ids, None


def attribution_missing(method: Optional[str]):
    """The refusal (422, naming the extra) when attribution is asked for and captum is missing: checked
    here, alone, a failure in the worker would fail the whole shared batch."""
    if not method:
        return None
    from seq2seq_cli.decoding.attribution import require_captum

    try:
        require_captum()
    except S2SError as exc:
        return error(422, f"attribution: {exc}")
    return None


def check_texts(translator, texts: list[str]) -> tuple[list[list[str]], str]:
    """Each text as the model reads it, and why one cannot be taken ('' if all can): refused here, alone,
    a text would fail its neighbours in a shared batch."""
    tokens = []
    for index, text in enumerate(texts):
        try:
            tokens.append(translator.tokens(text))
        except S2SError as exc:
            return [], f"texts[{index}]: {exc}"
    return tokens, ""


def _named(problem: str, name: str) -> str:
    """The explorer's one text is called ``text``, not ``texts[0]``."""
    return problem.replace("texts[0]", name) if name else problem


def _parsed(exc) -> bool:
    """Whether the body was JSON at all (then a field is wrong: 422) or not (400)."""
    return not any(error.get("type") == "json_invalid" for error in exc.errors())


def _one_line(errors: list[dict], path: str = "/translate") -> str:
    """Pydantic's error list as one line: ``texts.1: Input should be a valid string``."""
    first = errors[0] if errors else {}
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first.get("loc", ()) if part != "body")
    where = where.lstrip(".") or "body"
    message = first.get("msg", "invalid request")
    if first.get("type") == "json_invalid":
        return f"body is not valid JSON ({first.get('ctx', {}).get('error', message)})"
    if first.get("type") == "extra_forbidden":
        return f"{where}: unknown field (fields: {FIELDS.get(path, FIELDS['/translate'])})"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {message}{more}"
