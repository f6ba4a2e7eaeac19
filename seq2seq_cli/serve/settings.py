"""The server's limits and batching window, and the checks of a request against them.

Every limit is a setting with a default and an ``s2s serve`` option (``cli/serve.py``): one client
must not be able to take the server, by the size of what it sends, by how slowly it sends it, or by
how much decoding it asks for.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ServeSettings:
    """Limits that keep one client from taking the server, and the batching window."""

    batch_window_ms: float = 5.0  # the quiet gap that closes a batch (0: no batching); at most 10 windows in all
    adaptive_window: bool = True  # under load the gap widens to twice the gap between arrivals, at most 4 windows
    max_batch: int = 64  # sentences decoded together at most
    max_texts: int = 64  # texts in one request at most
    max_chars: int = 1000  # characters in one text at most
    max_beam: int = 16
    max_nbest: int = 16
    # Work is estimated before decoding from each text's tokens: tokens x (beam + n-best, x2 with attention),
    # summed over the texts (text_work). The model's own speed sets what a unit costs: the default run
    # (configs/default.yaml) decodes about 75,000 a second on a 2-core AMD EPYC, so a request at the limit
    # takes 2.5 to 3.5 s there, and one decode about 0.3 s (bench/SOAK.md).
    max_work: int = 200_000  # one request's work at most: more is refused (422) before any decoding
    batch_work: int = 20_000  # one decode's work at most: a large request is decoded in turns, between other callers'
    max_queue: int = 256  # requests waiting or being decoded at most: more are told to come back (503, Retry-After)
    max_body_bytes: int = 1_000_000  # a larger body is refused (413) before it is read whole
    read_timeout_s: float = 10.0  # a request's head, and then its body, must arrive within this (else 408 / closed)
    # An idle connection, new or kept alive, is closed after this: longer than clients keep theirs (httpx 5 s,
    # aiohttp 15 s), so that a client never sends on a connection the server is closing at that very moment.
    keep_alive_s: float = 20.0


def check_limits(texts: list[str], beam: int, nbest: int, settings: ServeSettings) -> str:
    """The reason a well-formed request is refused, or ''."""
    return check_sizes(texts, settings) or check_search(beam, nbest, settings)


def check_sizes(texts: list[str], settings: ServeSettings) -> str:
    """The reason the texts are too many, too long or empty, or ''."""
    if len(texts) > settings.max_texts:
        return f"texts: {len(texts)} texts, at most {settings.max_texts} a request"
    for index, text in enumerate(texts):
        if len(text) > settings.max_chars:
            return f"texts[{index}]: {len(text)} characters, at most {settings.max_chars}"
        if not text.strip():
            return f"texts[{index}]: empty"
    return ""


def check_search(beam: int, nbest: int, settings: ServeSettings) -> str:
    """The reason the beam or the n-best list asked for is too large, or ''."""
    if beam > settings.max_beam:
        return f"beam: {beam}, at most {settings.max_beam}"
    if nbest > min(beam, settings.max_nbest):
        return f"nbest: {nbest}, at most the beam ({beam})" if nbest > beam else f"nbest: at most {settings.max_nbest}"
    return ""


def check_unicode(texts: list[str]) -> str:
    """The reason a text is not Unicode that can be encoded (a lone surrogate, sent as a JSON escape), or ''."""
    for index, text in enumerate(texts):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"texts[{index}]: a lone surrogate (U+{ord(text[exc.start]):04X}) at character {exc.start}: not text"
    return ""


def text_work(tokens: int, beam: int, nbest: int, attention: bool) -> int:
    """The estimated cost of one text: the search reads its tokens once per beam entry, and the answer
    holds n-best hypotheses of about as many tokens (twice as costly with their attention matrices)."""
    return tokens * (beam + nbest * (2 if attention else 1))


ATTRIBUTION_PASSES = {"grad": 2, "ig": 32}  # forward and backward passes per row; occlusion: one per source token


def attributed_work(work: int, tokens: list[str], method: str | None, nbest: int = 1) -> int:
    """A text's work with its attribution, when asked for: each hypothesis is read again once per output
    word (about as many as the source's tokens), over source and output, once per pass of the method."""
    if not method:
        return work
    rows = len(tokens)
    return work + nbest * rows * 2 * rows * ATTRIBUTION_PASSES.get(method, rows)


def check_work(work: list[int], beam: int, nbest: int, settings: ServeSettings) -> str:
    """The reason a request asks for more decoding than one request may, or ''."""
    total = sum(work)
    if total <= settings.max_work:
        return ""
    return (f"work: {len(work)} texts at beam {beam}, n-best {nbest} is about {total:,} units (tokens x (beam + n-best, "
            f"x2 with attention)), at most {settings.max_work:,} a request: send fewer or shorter texts, "
            f"or a smaller beam or n-best")
