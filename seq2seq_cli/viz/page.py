"""The attention explorer: one self-contained HTML page built from an ``s2s-attention/1`` document.

The page is opened from ``file://`` with no network, so everything is inlined: the template,
the stylesheet, the script and the document as JSON. A Content-Security-Policy forbids every
fetch and runs only the one script whose hash it names, so text from a sentence can never
become markup or code. Nothing here imports torch: the document is plain data.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
from importlib import resources
from pathlib import Path
from typing import Any

from seq2seq_cli.runs import write_text_atomically

FORMAT = "s2s-attention/1"
ASSETS = "page_assets"
_SLOT = re.compile(r"\{\{(title|csp|css|script|document|form)\}\}")


def render_page(document: dict, ask: str | None = None, poke: dict | None = None) -> str:
    """The whole HTML text of the explorer for ``document``; with ``ask`` (``s2s serve``), a form above it
    that sends another sentence to the same address (the text box holding ``ask``), and poke.js, which
    asks that server for the alternatives to an output word (``poke``: its data, serve/poke.py's)."""
    if document.get("format") != FORMAT:
        raise ValueError(f"expected a {FORMAT} document, got format {document.get('format')!r}")
    css, script = _asset("explorer.css"), _asset("explorer.js")
    if ask is not None:  # one style and one script element each: the CSP hashes what they hold
        css, script = css + "\n" + _asset("poke.css"), script + "\n" + _asset("poke.js")
    form = _ask_form(ask, poke or {}) if ask is not None else ""
    slots = {
        "title": html.escape(str(document.get("title") or "Attention explorer")),
        "csp": _content_security_policy(css, script, form=ask is not None),
        "css": css,
        "script": script,
        "document": document_json(document),
        "form": form,
    }
    # One pass, so text inserted into one slot is never read as another slot.
    return _SLOT.sub(lambda match: slots[match.group(1)], _asset("explorer.html"))


def write_page(document: dict, path: Path) -> None:
    """Render ``document`` and write it to ``path`` as UTF-8, whole or not at all (an open page is never
    replaced by half of one); the bytes are exactly what the CSP hashes (no newline translation)."""
    write_text_atomically(path, render_page(document))


def document_json(document: dict) -> str:
    """The document as compact JSON that is safe inside a ``<script>`` element.

    Every ``<`` becomes ``\\u003c``: no ``</script>`` or ``<!--`` in a sentence can end or
    change the script element, and ``JSON.parse`` reads the text back unchanged.
    """
    text = json.dumps(_plain(document), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c")


def _plain(value: Any) -> Any:
    """``value`` as JSON can hold it: NaN and infinities become null, numpy values Python ones."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "tolist"):
        return _plain(value.tolist())  # a numpy scalar or array
    return value


def _asset(name: str) -> str:
    text = (resources.files("seq2seq_cli.viz") / ASSETS / name).read_text(encoding="utf-8")
    # The stylesheet and script are inlined as they are: nothing in them may end or alter their element.
    if name != "explorer.html" and re.search(r"</(script|style)|<!--", text, re.IGNORECASE):
        raise ValueError(f"{ASSETS}/{name} must not contain '</script', '</style' or '<!--'")
    return text


def _content_security_policy(css: str, script: str, form: bool = False) -> str:
    """No fetches of any kind; only the page's own stylesheet and script may apply; a served page's
    form, and its script (the alternatives to a word), may reach the server it came from, and nowhere else."""
    action = "'self'" if form else "'none'"
    connect = "; connect-src 'self'" if form else ""
    return (f"default-src 'none'; style-src '{_sha256(css)}'; script-src '{_sha256(script)}'; base-uri 'none'; "
            f"form-action {action}{connect}")


def _ask_form(text: str, poke: dict) -> str:
    """The served explorer's text box: a plain GET form, so it works under the page's CSP without a fetch;
    then poke.js's data (JSON, never run) and the place it shows the alternatives."""
    value = html.escape(text, quote=True)
    method = poke.get("attribution")
    keep = f'<input type="hidden" name="attribution" value="{html.escape(method, quote=True)}"> ' if method else ""
    return (f'<form class="ask" method="get" action="/"><label for="ask-text">Sentence</label> '
            f'<input id="ask-text" name="text" value="{value}" size="60" autofocus> {keep}'
            '<button type="submit">Translate</button></form>'
            f'<script id="s2s-poke" type="application/json">{document_json(poke)}</script>'
            '<div id="poke" class="poke" data-testid="poke"></div>')


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
