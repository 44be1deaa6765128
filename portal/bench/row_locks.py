"""How long a PostgreSQL database's transactions waited for row locks, as the server
itself sees it.

On PostgreSQL a writer's lock is the row lock on its audit log's head (SELECT … FOR
UPDATE). The app cannot time only the wait: timing the statement also times its round
trip and its read, which made the benchmark print a 6.5 % lock-wait share at one
connection, where nothing can wait. The server knows: a backend waiting for another
transaction's row lock shows `wait_event_type = 'Lock'` in `pg_stat_activity`. A thread
with a connection of its own counts those backends every `interval`; each count stands for
the time since the previous one, which sums to the time waited (a wait shorter than the
interval is counted whole or not at all, in proportion to its length).
"""

from __future__ import annotations

import threading
import time

import psycopg
from sqlalchemy.engine import make_url

_WAITING = (
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


class RowLockWaits:
    """Seconds the database's backends spent waiting for locks while the block runs,
    summed over the backends. `interval`: seconds between samples (each is one query)."""

    def __init__(self, url: str, *, interval: float = 0.005) -> None:
        self._url = make_url(url).set(drivername="postgresql").render_as_string(False)
        self.interval = interval
        self._waited = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed: BaseException | None = None

    @property
    def waited(self) -> float:
        return self._waited

    def __enter__(self) -> RowLockWaits:
        connection = psycopg.connect(self._url, autocommit=True, connect_timeout=5)
        self._thread = threading.Thread(target=self._sample, args=(connection,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type, *_exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        # A sampler that failed stopped counting: its figure is never printed as one.
        if self._failed is not None and exc_type is None:
            raise self._failed

    def _sample(self, connection) -> None:
        try:
            self._sample_on(connection)
        except BaseException as error:
            self._failed = error

    def _sample_on(self, connection) -> None:
        with connection:
            last = time.perf_counter()
            while not self._stop.wait(self.interval):
                # Each statement in autocommit is a transaction of its own, so each reads
                # pg_stat_activity afresh.
                (waiting,) = connection.execute(_WAITING).fetchone()
                now = time.perf_counter()
                self._waited += waiting * (now - last)
                last = now
