"""Requests take turns: one request of a worker process runs at a time, the others waiting
in the order they came, and a request hands its turn on while it waits for another node.

Python runs one thread of a process at a time, and a thread gives the interpreter up at
every database call (the driver releases it around each statement). With several requests
in a worker's threads at once, each of a summary's hundred-odd statements was a switch to
another request and back: on two cores, a page at eight connections cost 45 % more CPU
than the same page alone (9.5 against 13–15 ms, measured in the server process), and eight
connections served fewer pages a second than one. A request that runs to its end before
the next one starts switches once.

The threads stay, for what a request does not compute: a request waiting for a partner
node's answer hands its turn to the next request (`handed_over`) and queues again when the
answer is in. It does so only while it holds nothing of the database (no pooled
connection, so no transaction, no write lock and no row lock): whatever the request that
has the turn waits for in the database is then held by a thread that is not waiting for a
turn (another process, a node-to-node endpoint, a background thread), and a request can
never wait for a turn that waits for it. A request that holds a connection keeps its turn
while it waits (its node's timeout bounds the wait).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import anyio.from_thread

_this_thread = threading.local()  # .turns: the Turns whose turn this thread has
_connections_lock = threading.Lock()
# Thread -> pooled connections it holds. By thread, not ident: the system gives an ended
# thread's ident to the next thread it starts, and one that ended holding a connection (a
# session leaked) would hand its count on to that thread, a request's.
_connections: weakref.WeakKeyDictionary[threading.Thread, int] = weakref.WeakKeyDictionary()


class Turns:
    """One worker's turns, on one event loop (each app has its own: two nodes served in one
    process, as in the tests, never wait for each other's turns).

    A request waits for its turn in the event loop, before it is given a thread: the
    requests waiting for a turn hold no thread and are woken in the order they came."""

    def __init__(self) -> None:
        self._semaphore = anyio.Semaphore(1, fast_acquire=True)

    @asynccontextmanager
    async def taken(self) -> AsyncIterator[None]:
        """The block (which runs the request in a thread) in the request's turn."""
        async with self._semaphore:
            yield

    def run(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run the request in the thread given to it, its turn taken for it."""
        _this_thread.turns = self
        try:
            return function(*args)
        finally:
            _this_thread.turns = None


@contextmanager
def handed_over() -> Iterator[None]:
    """Wait in the block without the turn, when this thread has one and holds no
    database connection; otherwise a plain block."""
    turns = getattr(_this_thread, "turns", None)
    if turns is None or holds_a_connection():
        yield
        return
    _this_thread.turns = None
    anyio.from_thread.run_sync(turns._semaphore.release)
    try:
        yield
    finally:
        anyio.from_thread.run(_take_back, turns._semaphore)  # in line behind those waiting
        _this_thread.turns = turns


async def _take_back(semaphore: anyio.Semaphore) -> None:
    """The turn, taken back whatever became of the request meanwhile: its thread runs on
    until it ends (the request waits for it), with the turn its task gives back then. Run
    in the request's own cancel scope, a cancelled request's wait never ended (the scope
    no longer delivers its cancellation, and the semaphore's fast path polls for it)."""
    with anyio.CancelScope(shield=True):
        await semaphore.acquire()


def holds_a_connection() -> bool:
    """Whether this thread holds a pooled connection (checked out, not given back yet)."""
    return bool(_connections.get(threading.current_thread()))


def connection_taken() -> threading.Thread:
    """A pooled connection was checked out in this thread; returns the thread, for
    `connection_returned` (a connection may be given back from another thread)."""
    thread = threading.current_thread()
    with _connections_lock:
        _connections[thread] = _connections.get(thread, 0) + 1
    return thread


def connection_returned(thread: threading.Thread) -> None:
    with _connections_lock:
        left = _connections.get(thread, 0) - 1
        if left > 0:
            _connections[thread] = left
        else:
            _connections.pop(thread, None)
