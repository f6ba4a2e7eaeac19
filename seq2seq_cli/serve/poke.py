"""The served explorer and what a learner pokes on it: ``GET /`` and ``POST /alternatives``.

``GET /?text=...`` shows a sentence's translation and attention; ``&prefix=...`` forces the
translation to start with those words (the search goes on from there), ``&attribution=grad`` adds
the attribution. Clicking an output word asks ``POST /alternatives`` for the words the model weighed
at that position (teacher-forced on the words before it); choosing one reloads the page with the
words before it and the chosen one as the prefix. Every decode goes through the batcher, in turn.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoints' annotations at run time.
import json
from typing import Annotated, Literal, Optional

from seq2seq_cli.serve.batcher import Batcher, Job
from seq2seq_cli.serve.routes import EXPLORER_TEXT, attribution_missing, checked, checked_prefix, decoded, error, error_responses
from seq2seq_cli.serve.settings import ServeSettings, attributed_work, check_sizes, check_work

Method = Optional[Literal["grad", "ig", "occlusion"]]
MAX_K = 50  # alternatives one request may ask for


def alternatives_model() -> type:
    """The body of ``POST /alternatives``, as a pydantic model."""
    from pydantic import BaseModel, ConfigDict, Field

    class AlternativesRequest(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)

        text: str
        prefix: str = ""  # the output words before the position asked about
        k: int = Field(default=5, ge=1, le=MAX_K)

    return AlternativesRequest


def add_alternatives(app, translator, batcher: Batcher, settings: ServeSettings) -> None:
    """``POST /alternatives``: the model's ``k`` likeliest next words after ``prefix``, best first."""
    from fastapi.responses import Response

    AlternativesRequest = alternatives_model()
    choice = {"type": "object", "required": ["token", "log_prob", "prefix"]}
    answer = {"type": "object", "required": ["alternatives"],
              "properties": {"alternatives": {"type": "array", "items": choice}}}
    done = {200: {"description": "the next words the model weighs, best first, each with the prefix that forces it",
                  "content": {"application/json": {"schema": answer}}}}

    @app.post("/alternatives", response_class=Response, responses={**done, **error_responses(400, 408, 413, 422, 500, 503)})
    async def alternatives(request: AlternativesRequest) -> Response:
        tokens, work, refusal = checked(translator, settings, [request.text], 1, 1, False,
                                        check_sizes([request.text], settings), name="text")
        prefix, refusal = (None, refusal) if refusal else checked_prefix(translator, settings, request.prefix)
        if refusal:
            return refusal
        page = lambda: alternatives_json(translator, tokens[0], prefix, request.k)  # noqa: E731
        parts = await decoded(batcher, Job([request.text], tokens, work, 1, 1, False, page=page))
        return parts if isinstance(parts, Response) else Response(parts[0], media_type="application/json")


def alternatives_json(translator, tokens: list[str], prefix: list[int], k: int) -> str:
    """The answer of ``POST /alternatives`` (in the batcher's worker thread)."""
    from seq2seq_cli.decoding.alternatives import alternatives

    found = alternatives(translator, tokens, prefix, k)
    record = {"source_tokens": tokens, "prefix_tokens": translator.tgt_vocab.decode(prefix), "position": len(prefix),
              "alternatives": [{"token": a.token, "log_prob": round(a.log_prob, 6), "prefix": a.prefix} for a in found]}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def add_explorer(app, translator, batcher: Batcher, settings: ServeSettings, run_name: str) -> None:
    """``GET /``: the attention explorer, live: type a sentence, see its attention, poke its words
    (decoded in turn, within the limits)."""
    from fastapi import Query
    from fastapi.responses import HTMLResponse, Response

    page = {200: {"description": "the explorer's page", "content": {"text/html": {"schema": {"type": "string"}}}}}

    @app.get("/", response_class=Response, responses={**page, **error_responses(400, 408, 413, 422, 500, 503)})
    async def explorer(text: str = Query(default=EXPLORER_TEXT), prefix: str = Query(default=""),
                       attribution: Annotated[Method, Query()] = None) -> Response:
        text = text if text.strip() else EXPLORER_TEXT
        decode = translator.config.decode
        tokens, work, refusal = checked(translator, settings, [text], decode.beam_size, decode.n_best, True,
                                        check_sizes([text], settings), name="text")
        _, refusal = (None, refusal) if refusal else checked_prefix(translator, settings, prefix)
        refusal = refusal or attribution_missing(attribution)
        work = [attributed_work(w, t, attribution, decode.n_best) for w, t in zip(work, tokens)]
        if refusal or check_work(work, decode.beam_size, decode.n_best, settings):
            return refusal or error(422, check_work(work, decode.beam_size, decode.n_best, settings))
        render = lambda: explorer_page(translator, run_name, text, prefix.strip(), attribution)  # noqa: E731
        parts = await decoded(batcher, Job([text], tokens, work, decode.beam_size, decode.n_best, True, page=render))
        return parts if isinstance(parts, Response) else HTMLResponse(parts[0])


def explorer_page(translator, run_name: str, text: str, prefix: str = "", attribution: Method = None) -> str:
    """The explorer's page for one sentence, its translation forced to start with ``prefix`` and, when
    asked for, its attribution beside its attention (in the batcher's worker thread); what the page's
    poking needs rides along (``poke_data``)."""
    from seq2seq_cli.viz.explorer import Explaining, Run, translations_document
    from seq2seq_cli.viz.page import render_page

    forced = translator.with_prefix(prefix or None)
    explaining = Explaining(attribution) if attribution else None
    document = translations_document([Run(run_name, forced)], [text], explaining=explaining)
    best = forced.translate([text])[0]  # the page's first hypothesis: the same decode, deterministic
    return render_page(document, ask=text, poke=poke_data(best, text, prefix, attribution))


def poke_data(best, text: str, prefix: str, attribution: Method) -> dict:
    """What poke.js needs: the sentence, the prefix and attribution it was shown with (kept when it
    reloads), the output words (to build the next prefix) and the Pharaoh alignment of the translation
    shown (for its download)."""
    from seq2seq_cli.data.alignments import pharaoh

    words = best.by_words()
    return {"text": text, "prefix": prefix, "attribution": attribution, "output_words": words.output,
            "source_words": words.source, "pharaoh": pharaoh(best.word_alignment()[0])}
