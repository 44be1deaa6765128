"""Test databases: a fresh, empty one per backend, and the PostgreSQL availability rule."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text

from portal import migrate
from portal.audit import lock_order
from portal.db import make_engine, normalise_url, unit_of_work, write_lock_of
from portal.errors import Conflict
from portal.scratch_db import scratch_database

POSTGRES_URL = os.environ.get(
    "PORTAL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
BACKENDS = ("sqlite", "postgresql")


def _postgres_reachable() -> str | None:
    try:
        engine = create_engine(normalise_url(POSTGRES_URL), connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as error:  # any failure means: no PostgreSQL here
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"


def require_postgres() -> None:
    problem = _postgres_reachable()
    if problem is None:
        return
    message = f"PostgreSQL at {POSTGRES_URL} is not reachable ({problem})"
    if IN_CI:
        pytest.fail(message + " — under CI=true a missing PostgreSQL is a failure")
    pytest.skip(message)


def new_empty_database(backend: str, directory: Path) -> tuple[str, callable]:
    """A fresh, empty database of the backend; returns its URL and a function to drop it."""
    if backend == "sqlite":
        return scratch_database("sqlite", directory=directory, prefix="portal_test")
    require_postgres()
    return scratch_database(
        "postgresql", directory=directory, postgres_url=POSTGRES_URL, prefix="portal_test"
    )


@contextmanager
def migrated_engine(backend: str, directory: Path, **engine_options) -> Iterator:
    """An engine on a fresh database of the backend with every migration applied, whose
    transactions really commit; disposed and the database dropped afterwards."""
    url, drop = new_empty_database(backend, directory)
    engine = make_engine(url, **engine_options)
    try:
        migrate.upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        drop()


# Session.info: a test's own session building its world (the `db` fixture's, `setup_unit`'s),
# left out of the check on the order of locks (conftest.py): a setup does in one
# transaction what no request does, with nothing else running.
TEST_SETUP = lock_order.ALONE


@contextmanager
def setup_unit(engine) -> Iterator:
    """A unit of work of a test's setup, several of the product's writes in one
    transaction, which no request makes (see `TEST_SETUP`)."""
    with unit_of_work(engine) as db:
        db.info[TEST_SETUP] = True
        yield db


def outcome_of(engine, work) -> str:
    """`work(db)` in a unit of work of its own that really commits, as one of two people at
    once: "done", "refused <status>" when refused as a conflict, or the error (for the
    caller's assertion to show)."""
    try:
        with unit_of_work(engine) as db:
            work(db)
    except Conflict as error:
        return f"refused {error.status_code}"
    except BaseException as error:  # reported by the caller's assertion
        return repr(error)
    return "done"


def lock_waiters(engine, monkeypatch) -> Callable[[], bool]:
    """A test of two writes at once: whether a writer on `engine` waits for a lock another
    holds now. On SQLite, a writer queued for the node's write lock (the WAL checkpointer,
    which queues there too, is not a writer); on PostgreSQL, a server process of the test's
    database waiting for a lock (a row, FOR UPDATE)."""
    if engine.dialect.name == "postgresql":

        def waits() -> bool:
            with engine.connect() as conn:
                return bool(
                    conn.execute(
                        text(
                            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
                            " AND wait_event_type = 'Lock' LIMIT 1"
                        )
                    ).first()
                )

        return waits
    lock = write_lock_of(engine)
    queued: set[threading.Thread] = set()
    acquire = lock.acquire

    def acquire_noted() -> None:
        this = threading.current_thread()
        if lock.held:
            queued.add(this)
        try:
            acquire()
        finally:
            queued.discard(this)

    monkeypatch.setattr(lock, "acquire", acquire_noted)
    return lambda: bool(queued)


def until(event: threading.Event, waiting: Callable[[], bool], *, timeout: float = 3) -> None:
    """Wait for `event`, or until `waiting()` (the other write has blocked on this one: only
    this one going on can free it), or `timeout` seconds. Waiting out the seconds while the
    other was already blocked left it only the rest of its own lock wait (5 s less 3) for
    this one's remaining work: on a loaded CI machine it ran out."""
    deadline = time.monotonic() + timeout
    while not event.wait(timeout=0.02):
        if waiting() or time.monotonic() >= deadline:
            return


@contextmanager
def counted(db):
    """The statements the session's connection runs in the block, as sent to the driver."""
    statements = []
    connection = db.connection()

    def note(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(connection, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(connection, "before_cursor_execute", note)
