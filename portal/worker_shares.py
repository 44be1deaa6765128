"""Worker processes share the requests: a worker with more requests in hand than its share
answers its next one with `Connection: close`, and the client's next connection goes to
whichever worker takes it first, most often the one with less to do.

uvicorn's workers share one listening socket, and a kept-alive connection stays with the
worker that accepted it. Whichever worker wakes first accepts every connection then waiting,
so eight people opening the case summary together (or a proxy's kept-alive pool) were
served six by one worker and two by the other as often as four and four: the first six
waited three times as long as the others, and the second core idled. Measured with
`portal bench disclosure`, which prints the requests each worker answered.

The counts live in a small file every worker maps (`WorkerShares`): a slot of 8 bytes each,
which a worker holds by a byte-range lock for as long as it lives. The kernel lets go of
that lock when a worker dies, so the worker started in its place takes a free slot and
zeroes every free one. There are two slots per worker: on SIGHUP (`kill -HUP`, an upgrade)
uvicorn starts each new worker before it stops the old one, and a new worker finding
every slot taken failed to start, so the restart was aborted and the old code kept
serving. A worker writes only its own slot and reads the others' without a lock: a count
read a moment late costs at most one connection closed, or kept, to no purpose.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import tempfile
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

# Set by `portal serve --workers N` (N > 1) for its workers: the file they count in.
ENVIRONMENT = "PORTAL_WORKER_SHARES"
_SLOT = struct.Struct("=q")  # one worker's requests in hand
_SANE = range(0, 1_000_000)  # a count outside this was read half-written: ignored
SLOTS_PER_WORKER = 2  # the workers, and as many again started in their place on SIGHUP


class WorkerShares:
    """The requests each worker process has in hand, in a file they all map."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file = open(path, "r+b")  # noqa: SIM115 (kept open: it holds the slot's lock)
        size = os.fstat(self._file.fileno()).st_size
        if size < _SLOT.size or size % _SLOT.size:
            self._file.close()
            raise ValueError(f"{path} is not a worker shares file")
        self.slots = size // _SLOT.size
        self.workers = max(1, self.slots // SLOTS_PER_WORKER)  # a share is theirs to divide
        self._counts = struct.Struct(f"={self.slots}q")
        self._map = mmap.mmap(self._file.fileno(), size)
        self.slot: int | None = None
        self.in_hand = 0

    @staticmethod
    def create(workers: int, *, directory: str | None = None) -> str:
        """A new shares file for `workers` processes; returns its path (the caller
        removes it once the workers are gone)."""
        if workers < 1:
            raise ValueError("workers: at least 1")
        handle, path = tempfile.mkstemp(prefix="portal-workers-", dir=directory)
        try:
            os.write(handle, bytes(_SLOT.size * workers * SLOTS_PER_WORKER))
        finally:
            os.close(handle)
        return path

    def claim(self) -> int:
        """Take a slot no living worker holds, for as long as this process lives."""
        for slot in range(self.slots):
            if slot == self.slot:
                continue  # ours already: never zeroed and let go of here
            try:
                fcntl.lockf(
                    self._file, fcntl.LOCK_EX | fcntl.LOCK_NB, _SLOT.size, _SLOT.size * slot
                )
            except OSError:
                continue  # a living worker's
            # A dead worker's count, gone: in the slot taken and in every other free one,
            # where a worker stopped for good (a restart's old one) left it.
            _SLOT.pack_into(self._map, _SLOT.size * slot, 0)
            if self.slot is None:
                self.slot, self.in_hand = slot, 0
            else:
                fcntl.lockf(self._file, fcntl.LOCK_UN, _SLOT.size, _SLOT.size * slot)
        if self.slot is None:
            raise RuntimeError(f"every one of the {self.slots} worker slots is taken")
        return self.slot

    def _write(self) -> None:
        _SLOT.pack_into(self._map, _SLOT.size * self.slot, self.in_hand)

    def started(self) -> None:
        self.in_hand += 1
        self._write()

    def finished(self) -> None:
        self.in_hand -= 1
        self._write()

    def over_share(self) -> bool:
        """Whether this worker has more requests in hand than its even share of all the
        workers' (rounded up): then a connection is better served elsewhere."""
        total = sum(count for count in self._counts.unpack_from(self._map) if count in _SANE)
        return self.in_hand > -(-total // self.workers)

    def close(self) -> None:
        self._map.close()
        self._file.close()


ASGIApp = Callable[[MutableMapping[str, Any], Callable, Callable], Awaitable[None]]


class SharedRequests:
    """ASGI middleware of one worker: counts the requests it has in hand, and answers with
    `Connection: close` while it has more than its share (see the module's docstring)."""

    def __init__(self, app: ASGIApp, shares: WorkerShares) -> None:
        self.app, self.shares = app, shares

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        shares = self.shares

        async def sending(message) -> None:
            if message["type"] == "http.response.start" and shares.over_share():
                headers = [*message.get("headers", ()), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        shares.started()
        try:
            await self.app(scope, receive, sending)
        finally:
            shares.finished()


def shared(app: ASGIApp, path: str | None = None) -> ASGIApp:
    """`app` in a worker that shares the requests with the others counting in `path`
    (default: the file `portal serve` names in the environment); `app` itself when there
    is none (a single worker)."""
    path = path or os.environ.get(ENVIRONMENT)
    if not path:
        return app
    shares = WorkerShares(path)
    shares.claim()
    return SharedRequests(app, shares)
