"""Many people at once, over real HTTP: the server in a process of its own, as `portal
serve` runs it, and a load generator here that keeps N connections busy.

The server is forked off with the app built from the benchmark's settings and served by
uvicorn with the node's options (`UVICORN_OPTIONS`) on 127.0.0.1; the load generator
(asyncio, kept-alive HTTP/1.1 connections, a few lines of parsing) runs in this process,
so the two do not share an interpreter lock. The server reports, on request, how long its
writers have waited for the write lock so far: on SQLite its workers' queues
(`portal.db.WriteLock`), on PostgreSQL the database's row locks (`row_locks`).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import signal
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from sqlalchemy.engine import make_url

from portal import worker_shares
from portal.bench.percentiles import percentile
from portal.bench.row_locks import RowLockWaits
from portal.serving import UVICORN_OPTIONS, settle_worker


@dataclass
class Run:
    """One load run: what it asked, how long it took, what came back."""

    label: str
    connections: int
    seconds: float
    latencies: list[float]  # seconds, one per answered request
    errors: int  # transport failures and answers not in `ok`
    lock_waited: float | None = None  # seconds writers waited for the write lock meanwhile
    # Requests each worker process answered meanwhile: uvicorn's workers share one
    # listening socket, and whichever wakes first takes every connection waiting (the
    # workers then even out what they serve: portal/worker_shares.py).
    per_worker: tuple[int, ...] = ()

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        return percentile(self.latencies, share)

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def p95_ms(self) -> float:
        return self.percentile(0.95) * 1000

    @property
    def p99_ms(self) -> float:
        return self.percentile(0.99) * 1000

    @property
    def lock_share(self) -> float | None:
        """The share of the requests' time spent waiting for the write lock."""
        busy = sum(self.latencies)
        return None if self.lock_waited is None or not busy else self.lock_waited / busy


def _serve_in_child(make_app: Callable, listener: socket.socket, stats, shares: str | None) -> None:
    app = make_app()
    settle_worker()  # as `portal serve`'s workers do
    from portal.db import write_lock_of

    engine = app.state.engine
    answered, counting_lock = [0], threading.Lock()  # requests since the last stats
    served = worker_shares.shared(app, shares)  # as `portal serve --workers N` does

    async def counting(scope, receive, send) -> None:
        if scope["type"] == "http":
            with counting_lock:
                answered[0] += 1
        await served(scope, receive, send)

    def answer_stats() -> None:
        while True:
            try:
                stats.recv()
            except EOFError:
                return
            lock = write_lock_of(engine)
            with counting_lock:
                counted, answered[0] = answered[0], 0
            stats.send((lock.waited, counted))

    threading.Thread(target=answer_stats, daemon=True).start()
    options = {**UVICORN_OPTIONS, "log_level": "warning", "access_log": False}
    # stopped as a person stops `portal serve`
    with suppress(KeyboardInterrupt):
        uvicorn.Server(uvicorn.Config(counting, **options)).run(sockets=[listener])


class Server:
    """The forked server (one process per worker): its port, and on request the write
    lock's figures summed over the workers and the requests each worker answered."""

    def __init__(self, port: int, pipes, row_locks: RowLockWaits | None = None) -> None:
        self.port, self._pipes, self._row_locks = port, pipes, row_locks

    def stats(self) -> tuple[float, tuple[int, ...]]:
        """Seconds writers waited for the write lock (all along), and the requests each
        worker answered since the last call."""
        for pipe in self._pipes:
            pipe.send("stats")
        answers = [pipe.recv() for pipe in self._pipes]
        waited = sum(waited for waited, _ in answers)
        if self._row_locks is not None:
            waited += self._row_locks.waited
        return waited, tuple(count for _, count in answers)

    def lock_waited(self) -> float:
        return self.stats()[0]


@contextmanager
def serve_in_process(
    make_app: Callable, *, workers: int = 1, database_url: str | None = None
) -> Iterator[Server]:
    """Fork `workers` server processes running `make_app()` on one listening socket on
    127.0.0.1 (a port the kernel picks), as `portal serve --workers N` does; stopped (as
    a person stops `portal serve`) when the block ends. `database_url`: the app's
    database, watched for row-lock waits when it is PostgreSQL's; when it is an SQLite
    file, no server is forked while this process holds it open."""
    held = sqlite_files_held(database_url)
    if held:
        raise RuntimeError(
            f"this process holds {held[0]} open: a server forked now would take its SQLite "
            "state for its own and could corrupt the file; dispose of every engine on it first"
        )
    # Several workers share the requests as `portal serve`'s do (portal/worker_shares.py).
    shares = worker_shares.WorkerShares.create(workers) if workers > 1 else None
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    context = multiprocessing.get_context("fork")
    processes, pipes = [], []
    for _ in range(workers):
        ours, theirs = context.Pipe()
        process = context.Process(target=_serve_in_child, args=(make_app, listener, theirs, shares))
        process.start()
        processes.append(process)
        pipes.append(ours)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or not all(p.is_alive() for p in processes):
                    raise RuntimeError("the benchmark server did not start") from None
                time.sleep(0.05)
        with ExitStack() as watching:
            row_locks = None
            if database_url is not None and database_url.startswith("postgresql"):
                row_locks = watching.enter_context(RowLockWaits(database_url))
            yield Server(port, pipes, row_locks)
    finally:
        for process in processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)
        for process in processes:
            process.join(timeout=15)
            if process.is_alive():
                process.kill()
                process.join()
        listener.close()
        for pipe in pipes:
            pipe.close()
        if shares is not None:
            os.unlink(shares)


def sqlite_files_held(database_url: str | None) -> list[str]:
    """The files of `database_url`'s SQLite database (the file, its log, its shared memory)
    this process holds open, as /proc lists its descriptors; none for another database.

    SQLite's rule: a connection open before a fork must not be used, nor even exist, in the
    child. The child inherits SQLite's record of the locks its parent holds on the file
    (locks the child itself does not hold), and its own connections go by that record."""
    if not database_url or not database_url.startswith("sqlite"):
        return []
    database = make_url(database_url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return []
    real = os.path.realpath(database)
    files = {real, real + "-wal", real + "-shm"}
    held = []
    for descriptor in sorted(Path("/proc/self/fd").glob("*")):
        with suppress(OSError):  # a descriptor closed meanwhile (the listing's own)
            target = os.readlink(descriptor)
            if target in files:
                held.append(target)
    return held


ANSWER_SECONDS = 60  # far past any page's time, even on a loaded machine


class Connection:
    """One kept-alive HTTP/1.1 connection (asyncio), with the cookies it was given."""

    def __init__(self, port: int, cookies: dict[str, str]) -> None:
        self.port, self.cookies = port, dict(cookies)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        self._writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    async def request(self, method: str, path: str, body: bytes = b"", headers=None) -> int:
        """The answer's status; a TimeoutError (an OSError: counted as an error) for an
        answer that does not come, so a stuck server ends the run instead of hanging it."""
        async with asyncio.timeout(ANSWER_SECONDS):
            return await self._request(method, path, body, headers)

    async def _request(self, method: str, path: str, body: bytes, headers) -> int:
        if self._writer is None:
            await self._open()
        sent = {"Host": "127.0.0.1"}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if body or method == "POST":
            sent["Content-Length"] = str(len(body))
        sent.update(headers or {})
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in sent.items())
        self._writer.write(head.encode("latin-1") + b"\r\n" + body)
        reader = self._reader
        received = await reader.readuntil(b"\r\n\r\n")
        status = int(received[9:12])
        lines = received.decode("latin-1").lower().split("\r\n")
        length, chunked, closing = 0, False, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            value = value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value == "close":
                closing = True
        if chunked:
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                await reader.readexactly(size + 2)
            await reader.readuntil(b"\r\n")
        elif length:
            await reader.readexactly(length)
        if closing:
            self.close()
        return status


# The connections of a closed-loop run open this far apart, as people's browsers do, not in
# the same tenth of a millisecond. Opened at once, they all went to one worker process:
# uvicorn's workers share one listening socket, and the first to wake took every connection
# then waiting (0/8 in each of three rounds on PostgreSQL's two workers; 4/4, 5/3, 5/3 with
# 5 ms between them). The workers then even out the requests they serve (a worker with more
# than its share hands a connection back: portal/worker_shares.py); the run prints how many
# requests each worker answered.
CONNECT_SPACING = 0.005


async def _closed_loop(port, cookies, path, connections, seconds, ok) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def one_connection(number: int) -> None:
        nonlocal errors
        connection = Connection(port, cookies)
        await asyncio.sleep(number * CONNECT_SPACING)
        try:
            while time.perf_counter() < stop:
                started = time.perf_counter()
                try:
                    status = await connection.request("GET", path)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    errors += 1
                    connection.close()
                    continue
                if status in ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1
        finally:
            connection.close()

    await asyncio.gather(*(one_connection(n) for n in range(connections)))
    return latencies, errors


def closed_loop(
    server: Server, cookies, path: str, *, label: str, connections: int, seconds: float
) -> Run:
    """`connections` connections (opened `CONNECT_SPACING` apart), each sending its next
    request as soon as the last is answered, for `seconds`."""
    waited_before, _ = server.stats()
    started = time.perf_counter()
    latencies, errors = _in_own_loop(
        lambda: _closed_loop(server.port, cookies, path, connections, seconds, ok={200})
    )
    elapsed = time.perf_counter() - started
    waited, per_worker = server.stats()
    return Run(label, connections, elapsed, latencies, errors, waited - waited_before, per_worker)


def _in_own_loop(make_coroutine):
    """Run the load in an event loop of its own, on a thread of its own: whatever loop the
    caller's thread may already run (a test runner's, a notebook's) is left alone."""
    outcome: dict = {}

    def body() -> None:
        try:
            outcome["value"] = asyncio.run(make_coroutine())
        except BaseException as error:  # handed to the caller below
            outcome["error"] = error

    thread = threading.Thread(target=body, name="bench-load")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@dataclass(frozen=True)
class Visit:
    """What a user does: a weight, and the request (method, path, form body)."""

    weight: int
    method: str
    path: str
    body: Callable[[int], bytes] | None = None  # from a counter, for writes that change
    ok: frozenset[int] = frozenset({200})


async def _users(port, sessions, visits, seconds, think, seed) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    weights = [visit.weight for visit in visits]

    async def user(number: int, cookies) -> None:
        nonlocal errors
        rng = random.Random(seed + number)
        connection = Connection(port, cookies)
        await asyncio.sleep(rng.uniform(0, think[1]))  # not all at once
        count = 0
        try:
            while time.perf_counter() < stop:
                visit = rng.choices(visits, weights)[0]
                body = visit.body(number * 1_000_000 + count) if visit.body else b""
                count += 1
                started = time.perf_counter()
                try:
                    status = await connection.request(visit.method, visit.path, body)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    errors += 1
                    connection.close()
                    continue
                if status in visit.ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1
                await asyncio.sleep(rng.uniform(*think))
        finally:
            connection.close()

    await asyncio.gather(*(user(n, cookies) for n, cookies in enumerate(sessions)))
    return latencies, errors


def users(
    server: Server,
    sessions: list[dict[str, str]],
    visits: list[Visit],
    *,
    seconds: float,
    think: tuple[float, float],
    label: str,
    seed: int = 11,
) -> Run:
    """One user per signed-in session, each choosing a visit by weight, then thinking for
    a time drawn evenly from `think` seconds before the next one, for `seconds`."""
    waited_before = server.lock_waited()
    started = time.perf_counter()
    latencies, errors = _in_own_loop(
        lambda: _users(server.port, sessions, visits, seconds, think, seed)
    )
    elapsed = time.perf_counter() - started
    waited = server.lock_waited() - waited_before
    return Run(label, len(sessions), elapsed, latencies, errors, waited)
