"""How much a client may send and how slowly: checked before the app reads a byte of the body.

``BodyGuard`` (ASGI middleware) refuses a body over ``max_body_bytes`` with a 413: at once when
``Content-Length`` says so, else as soon as a chunked body passes the limit, so that a 150 MB body
is never held in memory. A body that has not arrived within ``read_timeout_s`` is a 408. Both
answers close the connection. ``timed_protocol`` is uvicorn's HTTP/1.1 protocol with the same
deadline for the request's head, which uvicorn itself does not have (a client that trickles its
headers is cut off), and with its keep-alive timeout for new connections too: an idle connection,
new or kept alive, is closed after ``keep_alive_s``.
"""

from __future__ import annotations

import asyncio
import json

from seq2seq_cli.serve.settings import ServeSettings


class _TooLarge(Exception):
    """The body has passed the limit."""


class _Gone(Exception):
    """The client went away before its body had arrived."""


class BodyGuard:
    """ASGI middleware: the body is read here, within the limits, and handed to the app whole."""

    def __init__(self, app, settings: ServeSettings):
        self.app, self.settings = app, settings

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.settings.max_body_bytes
        declared = [value for name, value in scope["headers"] if name == b"content-length"]
        if declared and (not declared[0].isdigit() or len(set(declared)) > 1):
            return await refuse(send, 400, "Content-Length is not a number")
        if declared and int(declared[0]) > limit:
            return await refuse(send, 413, f"body: {int(declared[0]):,} bytes, at most {limit:,}")
        try:
            body = await asyncio.wait_for(self._read(receive, limit), self.settings.read_timeout_s)
        except _TooLarge:
            return await refuse(send, 413, f"body: over {limit:,} bytes, at most {limit:,}")
        except TimeoutError:
            return await refuse(send, 408, f"body: not received within {self.settings.read_timeout_s:g} s")
        except _Gone:
            return None
        await self.app(scope, _replay(body, receive), send)

    @staticmethod
    async def _read(receive, limit: int) -> bytes:
        """The whole body, counted as it streams in; ``_TooLarge`` as soon as it passes ``limit``."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Gone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive):
    """A ``receive`` that gives the app the body already read, then the client's own messages (a disconnect)."""
    given = False

    async def replay() -> dict:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def refuse(send, status: int, error: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """A one-line JSON error, closing the connection (what the client has not sent yet is not read)."""
    body = json.dumps({"error": error}).encode()
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": start + list(headers)})
    await send({"type": "http.response.body", "body": body})


def timed_protocol(read_timeout_s: float) -> type:
    """uvicorn's h11 protocol, with two deadlines uvicorn lacks: a new connection that sends nothing is
    closed after the keep-alive timeout, as an idle kept-alive one is; and a request head must arrive
    within ``read_timeout_s`` of its first byte, else the connection is closed."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class TimedH11Protocol(H11Protocol):
        head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

        def data_received(self, data: bytes) -> None:
            if self.head_timer is None and self.conn.their_state is h11.IDLE:  # the first bytes of a head
                self.head_timer = self.loop.call_later(read_timeout_s, self._head_late)
            super().data_received(data)

        def handle_events(self) -> None:
            super().handle_events()
            if self.conn.their_state is not h11.IDLE:
                self._stop_head_timer()  # the head is in: the body has BodyGuard's deadline

        def connection_lost(self, exc) -> None:
            self._stop_head_timer()
            super().connection_lost(exc)

        def _stop_head_timer(self) -> None:
            if self.head_timer is not None:
                self.head_timer.cancel()
                self.head_timer = None

        def _head_late(self) -> None:
            self.head_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

    return TimedH11Protocol
