"""Engines, sessions and the one place a unit of work is committed."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

from portal.db_faults import is_unavailable

log = logging.getLogger("portal")


def normalise_url(url: str) -> str:
    """Accept the usual postgres:// spellings and use the psycopg 3 driver for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


# A command (migrations, imports, audit verification) may wait longer for a lock than a
# person at a page; the web app passes its own setting.
COMMAND_LOCK_WAIT_MS = 30_000
# A PostgreSQL server that does not answer is "unavailable" after this, not a hung request.
CONNECT_TIMEOUT_SECONDS = 5
# Set on a connection whose transaction only reads (the readiness probe): on SQLite it
# begins without taking the write lock, so a writer holding it cannot stall the probe.
READ_ONLY = "portal_read_only"
_WROTE = "portal_wrote"
_WRITES = ("INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "REPLACE")


def make_engine(url: str, *, lock_wait_ms: int = COMMAND_LOCK_WAIT_MS, **kwargs) -> Engine:
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            # Starlette runs sync endpoints in a thread pool.
            connect_args={"check_same_thread": False, "timeout": lock_wait_ms / 1000},
            **kwargs,
        )
        event.listen(engine, "connect", functools.partial(_sqlite_pragmas, lock_wait_ms))
        event.listen(engine, "begin", _sqlite_begin)
    else:
        connect_args = {
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            # A row or table lock waited on past the limit fails (55P03) instead of holding
            # the request; the app answers 503 and nothing is saved.
            "options": f"-c lock_timeout={int(lock_wait_ms)}",
        }
        engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)
    event.listen(engine, "before_cursor_execute", _note_writes)
    event.listen(engine, "commit", _forget_writes)
    event.listen(engine, "rollback", _forget_writes)
    return engine


def _sqlite_begin(conn) -> None:
    # pysqlite's own BEGIN handling defers locks; take the write lock at BEGIN so
    # concurrent writers queue on busy_timeout instead of failing mid-transaction.
    read_only = conn.get_execution_options().get(READ_ONLY)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _note_writes(conn, _cursor, statement, _parameters, _context, _executemany) -> None:
    if not conn.info.get(_WROTE) and statement.lstrip()[:7].upper().startswith(_WRITES):
        conn.info[_WROTE] = True


def _forget_writes(conn) -> None:
    conn.info.pop(_WROTE, None)


def commit(session: Session) -> None:
    """Commit the request's unit of work. A request that wrote nothing is still answered
    when only its commit failed for want of the database: nothing was lost."""
    read_only = wrote_nothing(session)
    try:
        session.commit()
    except Exception as error:
        if not (read_only and is_unavailable(error)):
            raise
        log.warning("the commit of a request that wrote nothing failed: %s", error)
        session.rollback()


def wrote_nothing(session: Session) -> bool:
    """True when this unit of work has sent no INSERT, UPDATE or DELETE: if its commit
    fails, nothing was lost and what the request read can still be answered."""
    if session.new or session.dirty or session.deleted:
        return False
    connections = [session.connection()] if session.in_transaction() else []
    return not any(c.info.get(_WROTE) for c in connections)


def _sqlite_pragmas(lock_wait_ms: int, dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={int(lock_wait_ms)}")
    # SQLite's default page cache is 2 MB; past that every query reads pages back through
    # system calls, so queries slow down as the file grows. 64 MB of cache and a memory map
    # of the file keep an embedded node's working set in memory.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA mmap_size=268435456")
    cursor.close()


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One transaction: committed once at the end, rolled back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def read(db: Session, statement, params: dict | None = None):
    """Run a prebuilt read on the session's own connection and transaction.

    For the hot reads of every request (the session, the gates, the audit heads): a
    statement built once at import and run on the connection skips most of the ORM's
    per-call work. Pending changes are flushed first, as `Session.execute` would, so the
    read sees everything this unit of work has written.
    """
    if db.autoflush:
        db.flush()
    return db.connection().execute(statement, params or {})


def write_many(db: Session, statement, rows: Sequence[dict], *, columns: tuple[str, ...] = ()):
    """Run a prebuilt INSERT (of `columns`) or UPDATE once per row, in one executemany on
    the session's connection and transaction.

    The statement is compiled once per dialect and each row's parameters are converted by
    the statement's own bind processors, as `Connection.execute` would do, without its
    per-row bookkeeping: for the audit entries every disclosure writes, that bookkeeping
    cost as much as the insert itself.
    """
    if not rows:
        return
    connection = db.connection()
    sql, converters, positional = _prepared(statement, connection.dialect, columns)
    if positional:
        params = [
            tuple(convert(row[name]) if convert else row[name] for name, convert in converters)
            for row in rows
        ]
    else:
        params = [
            {name: convert(row[name]) if convert else row[name] for name, convert in converters}
            for row in rows
        ]
    connection.exec_driver_sql(sql, params)


@functools.lru_cache(maxsize=64)
def _prepared(statement, dialect, columns: tuple[str, ...]):
    compiled = statement.compile(dialect=dialect, column_keys=list(columns) or None)
    names = list(compiled.positiontup) if compiled.positional else list(compiled.binds)
    converters = tuple((name, compiled.binds[name].type.bind_processor(dialect)) for name in names)
    return str(compiled), converters, compiled.positional
