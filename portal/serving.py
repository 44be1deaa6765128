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
import gc
import socket
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from portal.turns import Turns


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


def settle_worker() -> None:
    """Called once a worker process has built its app, before it serves: everything made
    so far (the modules, the app, its templates and policies) lives as long as the process,
    so the garbage collector's full passes stop looking at it.

    Python's full collection walks every object the process holds: with the app loaded
    that took 82-110 ms, a pause every few seconds under load during which no request
    moved (the 99th percentile of the case summary at eight connections went from 80 to
    157 ms); after this, 3-4 ms."""
    gc.collect()
    gc.freeze()


# What every uvicorn the portal starts is given: `uvicorn.run(app, **UVICORN_OPTIONS)`.
UVICORN_OPTIONS = {
    "http": NoDelayHttpToolsProtocol,
    # The app decides whose X-Forwarded-For it believes (PORTAL_TRUSTED_PROXIES), not
    # uvicorn, which would believe any local peer.
    "proxy_headers": False,
    "server_header": False,
    # A request line can carry survivor information (the client search was a GET form:
    # name and birth date in the query string; an old bookmark still can) or a token
    # (calendar feeds): never written to a log, as the proxy's access log is off
    # (ops/README.md).
    "access_log": False,
}


class RequestThreads:
    """How many requests one worker process admits at once: its page and API handlers
    (sync code, run in threads), the rest waiting in arrival order.

    Of those, one runs at a time (portal/turns.py): the others wait for their turn, or
    for another node's answer without one. The threads are for those waits: a request
    waiting for a partner that does not answer leaves the worker to the others. The
    node-to-node endpoints keep a pool of their own, outside the turns, so that two nodes
    waiting on each other never wait for the same threads.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        # Per event loop (a test client runs a loop of its own per request).
        self._workers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    async def run(self, function: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        worker = self._workers.get(loop)
        if worker is None:
            worker = self._workers[loop] = _Worker(
                admitted=anyio.Semaphore(self.size, fast_acquire=True),
                threads=anyio.CapacityLimiter(self.size),
                turns=Turns(),
            )
        # Admitted first, then the turn: a request with the turn never waits to be admitted
        # behind requests that wait for the turn.
        async with worker.admitted, worker.turns.taken():
            return await anyio.to_thread.run_sync(
                functools.partial(worker.turns.run, function, *args), limiter=worker.threads
            )


@dataclass(frozen=True)
class _Worker:
    admitted: anyio.Semaphore  # requests let in (PORTAL_REQUEST_THREADS), in arrival order
    threads: anyio.CapacityLimiter  # their threads: one each, never waited for
    turns: Turns
