"""How the node serves HTTP: uvicorn with its C parser and event loop (httptools and
uvloop, where they are installed), and Nagle's algorithm off.

asyncio turns TCP_NODELAY on only for sockets whose protocol number says TCP. uvicorn
binds its own listening socket without one whenever it runs several workers (and so does
any caller that hands it a socket), so its connections kept Nagle on: on a kept-alive
connection each small response then waited for the browser's delayed ACK, about 40 ms
a request. The protocols below turn it off themselves, whatever made the socket.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import weakref
from collections.abc import Callable
from typing import Any

import anyio
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _no_delay(transport) -> None:
    connection = transport.get_extra_info("socket")
    if connection is not None and connection.family in (socket.AF_INET, socket.AF_INET6):
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport) -> None:
        _no_delay(transport)
        super().connection_made(transport)


class NoDelayH11Protocol(H11Protocol):
    """The pure-Python parser, for a platform without httptools' wheel."""

    def connection_made(self, transport) -> None:
        _no_delay(transport)
        super().connection_made(transport)


# What every uvicorn the portal starts is given: `uvicorn.run(app, **UVICORN_OPTIONS)`.
UVICORN_OPTIONS = {
    "http": NoDelayHttpToolsProtocol,
    # The app decides whose X-Forwarded-For it believes (PORTAL_TRUSTED_PROXIES), not
    # uvicorn, which would believe any local peer.
    "proxy_headers": False,
    "server_header": False,
}


class RequestThreads:
    """How many requests one worker process works on at once: its page and API handlers
    (sync code, run in threads), the rest waiting their turn in arrival order.

    Python runs one thread at a time per process. Past a few handlers at once, more threads
    only take turns on that one lock every few milliseconds: a handler holding the
    database's write lock then waits for its turn among all the others between each of its
    statements, and every other writer waits behind it (on two cores, eight requests at
    once spent most of their time so). A few threads keep the core busy while one waits on
    the database; the node-to-node endpoints keep a pool of their own, so that two nodes
    waiting on each other never wait for the same threads.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        # One limiter per event loop (a test client runs a loop of its own per request).
        self._limiters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    async def run(self, function: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = self._limiters[loop] = anyio.CapacityLimiter(self.size)
        return await anyio.to_thread.run_sync(functools.partial(function, *args), limiter=limiter)
