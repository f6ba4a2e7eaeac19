"""The server's limits and batching window, and the check of a request against the limits."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ServeSettings:
    """Limits that keep one client from taking the server, and the batching window."""

    batch_window_ms: float = 5.0  # the quiet gap that closes a batch (0: no batching); at most 10 windows in all
    max_batch: int = 64  # sentences decoded together at most
    max_texts: int = 64  # texts in one request at most
    max_chars: int = 1000  # characters in one text at most
    max_beam: int = 16
    max_nbest: int = 16


def check_limits(texts: list[str], beam: int, nbest: int, settings: ServeSettings) -> str:
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
