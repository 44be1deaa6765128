"""The benchmarks' write-lock wait on PostgreSQL, as the server sees it: the time a
transaction waited for another's row lock, not the time its FOR UPDATE took."""

import threading
import time

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from portal.bench import load
from portal.bench.row_locks import RowLockWaits
from portal.db import make_engine

from databases import new_empty_database


@pytest.fixture
def postgres_url(tmp_path):
    url, drop = new_empty_database("postgresql", tmp_path)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE head (id integer PRIMARY KEY, seq integer)"))
        connection.execute(text("INSERT INTO head VALUES (1, 0)"))
    engine.dispose()
    yield url
    drop()


def _connect(url: str):
    return psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))


def _waits_for_a_lock(watcher) -> bool:
    found = watcher.execute(
        "SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock'"
    ).fetchone()
    return found is not None


def test_a_wait_for_another_transactions_row_lock_is_counted_for_as_long_as_it_lasts(
    postgres_url,
):
    """The holder keeps its lock half a second once the server shows the other waiting, and
    what is counted is checked against the span the test saw: at least from the wait seen
    to the commit sent, at most from the waiter's start to the commit done, give or take
    a few samples. Half a second from the waiter's start, against a fixed 0.3-0.8 s, could
    fail on a loaded machine: the waiter's statement reaching the server late counted less
    than 0.3 s, a commit answered late more than 0.8 s."""
    holder, waiter = _connect(postgres_url), _connect(postgres_url)
    watcher = _connect(postgres_url)
    watcher.autocommit = True  # each look reads pg_stat_activity afresh
    with RowLockWaits(postgres_url, interval=0.005) as waits:
        holder.execute("SELECT seq FROM head WHERE id = 1 FOR UPDATE")
        blocked = threading.Thread(
            target=lambda: (
                waiter.execute("SELECT seq FROM head WHERE id = 1 FOR UPDATE"),
                waiter.commit(),
            )
        )
        started = time.monotonic()
        blocked.start()
        deadline = started + 10
        while not _waits_for_a_lock(watcher) and time.monotonic() < deadline:
            time.sleep(0.005)
        seen = time.monotonic()
        time.sleep(0.5)
        committing = time.monotonic()
        holder.commit()
        committed = time.monotonic()
        blocked.join(timeout=10)
    for connection in (holder, waiter, watcher):
        connection.close()
    assert not blocked.is_alive()
    assert seen < deadline, "the waiter never waited for the holder's row lock"
    least, most = committing - seen, committed - started
    assert least - 0.2 < waits.waited < most + 0.3, (least, waits.waited, most)


def _locking_app(url: str):
    """Each request locks the one head row, as an audit append does, and keeps it 20 ms."""
    engine = make_engine(url)

    def append(_request):
        with engine.begin() as connection:
            connection.execute(text("SELECT seq FROM head WHERE id = 1 FOR UPDATE"))
            connection.execute(text("UPDATE head SET seq = seq + 1 WHERE id = 1"))
            connection.execute(text("SELECT pg_sleep(0.02)"))
        return PlainTextResponse("appended")

    app = Starlette(routes=[Route("/", append)])
    app.state.engine = engine
    return app


def test_the_load_run_counts_row_lock_waits_only_when_requests_wait_for_each_other(
    postgres_url,
):
    """Before, the app timed its FOR UPDATE statements: at one connection, where nothing can
    wait, the benchmark printed a share of several per cent."""
    with load.serve_in_process(
        lambda: _locking_app(postgres_url), workers=2, database_url=postgres_url
    ) as server:
        alone = load.closed_loop(server, {}, "/", label="one", connections=1, seconds=0.6)
        together = load.closed_loop(server, {}, "/", label="four", connections=4, seconds=0.6)
    assert alone.latencies and alone.errors == 0 and together.errors == 0
    assert alone.lock_waited == 0
    # Four connections on one row: most of each request's time is the others' turns.
    assert together.lock_share > 0.3, together.lock_share
