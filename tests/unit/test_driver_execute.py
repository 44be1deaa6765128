"""The audit chain's statements go to the driver's cursor (`portal.db.driver_execute`)
without SQLAlchemy's execution context: what that context gave must still hold, on both
databases. A write takes the write lock and counts as written; a driver error is raised as
SQLAlchemy's own; a connection the server ended is invalidated and answered as
unavailable; the engine's listeners see every statement."""

import psycopg
import pytest
from sqlalchemy import event, exc, insert
from sqlalchemy.engine import make_url
from sqlmodel import Session

from portal.db import read_row, unit_of_work, write_lock_of, write_many, wrote_nothing
from portal.db_faults import is_unavailable
from portal.models import AuditHead

from databases import BACKENDS, migrated_engine

_heads = AuditHead.__table__
_NEW_HEAD = insert(_heads)
_COLUMNS = ("log_key", "agency_id", "last_seq", "last_hash", "checkpoint_seq")
_HEAD_OF = _heads.select().where(_heads.c.log_key == "node-a")


def _head(log_key: str) -> dict:
    return {
        "log_key": log_key,
        "agency_id": None,
        "last_seq": 0,
        "last_hash": "0" * 64,
        "checkpoint_seq": 0,
    }


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    with migrated_engine(request.param, tmp_path) as engine:
        yield engine


def test_a_write_takes_the_write_lock_and_counts_as_written(engine):
    with Session(engine) as db:
        read_row(db, _HEAD_OF, {})
        assert wrote_nothing(db)
        write_many(db, _NEW_HEAD, [_head("node-a")], columns=_COLUMNS)
        assert not wrote_nothing(db)
        lock = write_lock_of(db.connection())
        if lock.queue:  # SQLite: the process's writers queue in front of the database
            assert lock._queue.held
        db.commit()
        if lock.queue:
            # Let go: the next writer takes it. Not "held by no one": the commit wakes the
            # WAL checkpointer, which takes it for its checkpoint at once, and under load
            # got there before this line (once in this session's three ci-local runs).
            assert lock._queue.acquire(timeout=5)
            lock._queue.release()
    with Session(engine) as db:
        assert read_row(db, _HEAD_OF, {})["last_hash"] == "0" * 64


def test_a_driver_error_is_sqlalchemys_own_and_nothing_of_the_transaction_stays(engine):
    with pytest.raises(exc.IntegrityError), unit_of_work(engine) as db:
        write_many(db, _NEW_HEAD, [_head("node-a"), _head("node-a")], columns=_COLUMNS)
    with Session(engine) as db:
        assert read_row(db, _HEAD_OF, {}) is None


def test_the_engines_listeners_see_each_statement(engine):
    seen = []

    @event.listens_for(engine, "before_cursor_execute")
    def note(_conn, _cursor, statement, _parameters, _context, executemany):
        seen.append((statement.split()[0], executemany))

    with unit_of_work(engine) as db:
        write_many(db, _NEW_HEAD, [_head("node-a")], columns=_COLUMNS)
        write_many(db, _NEW_HEAD, [_head("node-b"), _head("node-c")], columns=_COLUMNS)
        read_row(db, _HEAD_OF, {})
    # One row is one statement; more are one batch (a pipeline, on PostgreSQL).
    assert seen == [("INSERT", False), ("INSERT", True), ("SELECT", False)]


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_a_connection_the_server_ended_is_invalidated_and_unavailable(engine):
    url = make_url(engine.url.render_as_string(hide_password=False))
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with Session(engine) as db:
        connection = db.connection()
        pid = connection.connection.dbapi_connection.info.backend_pid
        with psycopg.connect(dsn, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(exc.DBAPIError) as raised:
            read_row(db, _HEAD_OF, {})
        assert raised.value.connection_invalidated
        assert is_unavailable(raised.value)
    with Session(engine) as db:  # the pool made a new connection
        assert read_row(db, _HEAD_OF, {}) is None


def test_a_connection_the_driver_already_closed_is_invalidated_and_unavailable(engine):
    # The driver can know its connection is gone before a cursor is asked of it (psycopg
    # once it has seen the socket end; SQLite's closed handle): asking for the cursor is
    # the first thing that fails, and it must be answered as any other driver error is.
    with Session(engine) as db:
        connection = db.connection()
        connection.connection.dbapi_connection.close()
        with pytest.raises(exc.DBAPIError) as raised:
            read_row(db, _HEAD_OF, {})
        assert raised.value.connection_invalidated
        assert connection.invalidated
        assert is_unavailable(raised.value)
    with Session(engine) as db:  # closed without an error; the pool made a new connection
        assert read_row(db, _HEAD_OF, {}) is None
