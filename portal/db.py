"""Engines, sessions and the one place a unit of work is committed."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session


def normalise_url(url: str) -> str:
    """Accept the usual postgres:// spellings and use the psycopg 3 driver for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str, **kwargs) -> Engine:
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            # Starlette runs sync endpoints in a thread pool.
            connect_args={"check_same_thread": False, "timeout": 30},
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own BEGIN handling defers locks; take the write lock at BEGIN so
        # concurrent writers queue on busy_timeout instead of failing mid-transaction.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
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
