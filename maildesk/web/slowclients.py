"""Deadlines for HTTP clients that send slowly or not at all (slowloris).

uvicorn closes a keep-alive connection that stays idle after a response
(`timeout_keep_alive`) but has no deadline for reading a request: a connection that sends
half a request line and then nothing stays open for ever, holding a descriptor. Two small
guards, on public interfaces only:

- `GuardedH11Protocol`: uvicorn's h11 protocol (passed as `uvicorn.Config(http=...)`) that
  closes the connection when a request's header block (up to the empty line, RFC 9112 §2.1)
  has not arrived within `seconds` of the connection opening or of the previous response;
- `read_deadline`: an ASGI wrapper under which each wait for the next piece of a request
  body ends after `seconds` with 408 Request Timeout (RFC 9110 §15.5.9).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

from litestar.exceptions import HTTPException
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("maildesk.web")

_END_OF_HEADERS = b"\r\n\r\n"

ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[[dict[str, Any]], Awaitable[None]]],
                   Awaitable[None]]


def header_guard(seconds: float) -> type[H11Protocol]:
    """uvicorn's H11Protocol with a header deadline of `seconds`."""

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            self.header_tail: bytes | None = b""  # None once this request's headers are complete
            self.header_timer: asyncio.TimerHandle | None = None
            super().connection_made(transport)
            self._arm(transport)

        def _arm(self, transport: asyncio.Transport) -> None:
            if self.header_timer is not None:
                self.header_timer.cancel()
            self.header_timer = asyncio.get_running_loop().call_later(seconds, self._expired, transport)

        def _disarm(self) -> None:
            if self.header_timer is not None:
                self.header_timer.cancel()
                self.header_timer = None

        def _expired(self, transport: asyncio.Transport) -> None:
            self.header_timer = None
            if not transport.is_closing():
                log.info("HTTP connection closed: no complete request headers within %.0f s", seconds)
                transport.close()

        def data_received(self, data: bytes) -> None:
            if self.header_tail is not None:
                seen = self.header_tail + data
                if _END_OF_HEADERS in seen:
                    self.header_tail = None
                    self._disarm()
                else:
                    self.header_tail = seen[-3:]
            super().data_received(data)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # The next request on this connection has the same deadline; uvicorn's keep-alive
            # timeout still closes it sooner when nothing at all arrives.
            if self.transport is not None and not self.transport.is_closing():
                self.header_tail = b""
                self._arm(self.transport)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return GuardedH11Protocol


def read_deadline(app: ASGIApp, seconds: float) -> ASGIApp:
    """`app` with each request-body read bounded by `seconds` (408 past it)."""

    async def guarded(scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                      send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        if scope.get("type") != "http":
            await app(scope, receive, send)
            return

        body_done = False

        async def timed_receive() -> dict[str, Any]:
            nonlocal body_done
            if body_done:  # afterwards receive() waits for the disconnect: no deadline on that
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), seconds)
                body_done = message.get("type") != "http.request" or not message.get("more_body", False)
                return message
            except asyncio.TimeoutError:
                log.info("HTTP request body not received within %.0f s: 408", seconds)
                raise HTTPException(status_code=408, detail=f"the request body did not arrive within {seconds:g} seconds",
                                    headers={"Connection": "close"}) from None

        await app(scope, timed_receive, send)

    return guarded
