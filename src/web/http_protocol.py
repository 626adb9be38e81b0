"""uvicorn's h11 protocol with a bound on reading a request head (entrypoint.sh passes it as --http).

uvicorn arms a timer only after a response (its keep-alive timeout): a connection that never
finishes its request head (`GET / HTTP/1.1\\r\\nHost: x` and then nothing, or no byte at all) is
held for as long as the peer likes. Enough of them use up the task's file descriptors, and then
the health probe fails and ECS replaces a task that was fine (slowloris).

Contract: from the moment a connection opens, and from the first byte of each further request on
a kept-alive connection, the whole request head must arrive within REQUEST_HEAD_TIMEOUT seconds
(`src.config.Settings.request_head_timeout`: default 10, at most 30). Otherwise the connection is
closed, with `408 Request Timeout` when part of a head had come. The body is not bounded here (the
service's routes take none). Between requests, uvicorn's own keep-alive timeout applies
(KEEP_ALIVE_TIMEOUT, longer than the load balancer's idle timeout).

A subclass rather than a proxy in front or a middleware: an ASGI middleware runs only after the
head is parsed, too late; a proxy would be one more process in the container. The class is named
on uvicorn's command line (`--http src.web.http_protocol:HeadTimeoutH11Protocol`): uvicorn's
--http takes a name or an import string (its Config.load imports `HTTP_PROTOCOLS.get(http, http)`).
h11 either way: httptools is not in requirements-api.lock, so uvicorn's `auto` was h11 already.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from src.config import DEFAULT_REQUEST_HEAD_TIMEOUT, request_head_timeout_from

REQUEST_TIMEOUT_RESPONSE = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class HeadTimeoutH11Protocol(H11Protocol):
    """H11Protocol that closes a connection whose request head is not complete in time."""

    head_timeout: float = request_head_timeout_from(
        os.environ.get("REQUEST_HEAD_TIMEOUT"), DEFAULT_REQUEST_HEAD_TIMEOUT
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # The first bytes of a request on a kept-alive connection: uvicorn cancels its keep-alive
        # timer here and arms none until the response, so the head's bound starts now.
        if self.conn.their_state is h11.IDLE:
            self._arm_head_timer()
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:
            self._cancel_head_timer()  # the head is in (or the connection is over)
        elif self.conn.trailing_data[0]:
            self._arm_head_timer()  # part of a pipelined request is waiting: bound it too

    def _arm_head_timer(self) -> None:
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.trailing_data[0]:
            self.transport.write(REQUEST_TIMEOUT_RESPONSE)
        self.transport.close()
