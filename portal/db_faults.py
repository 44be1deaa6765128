"""Which database errors mean "unavailable for now, try again" rather than a bug.

The database being down, a connection dropped under a request, a lock waited on past its
limit, a pool with no free connection: the request's transaction was rolled back (or never
began), so nothing was saved and the same request can simply be sent again. Everything
else (a constraint, a syntax error, a missing table) is a fault in the portal: a 500.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from sqlalchemy import exc

try:  # the PostgreSQL driver is needed only where PostgreSQL is used
    import psycopg
except ImportError:  # pragma: no cover - SQLite-only installs
    psycopg = None

# SQLSTATE classes: 08 connection exception, 53 insufficient resources, 57 operator
# intervention (shutdown, pg_terminate_backend, statement timeout), 58 system error.
_TRANSIENT_CLASSES = ("08", "53", "57", "58")
# 55P03 lock not available (lock_timeout), 40001 serialization failure, 40P01 deadlock.
_TRANSIENT_STATES = ("55P03", "40001", "40P01")
_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")
# Seconds a client is asked to wait before sending the request again.
RETRY_AFTER_SECONDS = 5


def _causes(error: BaseException) -> Iterator[BaseException]:
    """`error`, then what caused it, each once (a cycle of contexts ends the walk)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_unavailable(error: BaseException) -> bool:
    """True when `error` (or what caused it) says the database could not serve for now."""
    return any(_transient(cause) for cause in _causes(error))


def is_lock_wait(error: BaseException) -> bool:
    """True when `error` (or what caused it) is a lock waited on past its limit: another
    process holds the database (or a row of it), which is up and answering."""
    for cause in _causes(error):
        if isinstance(cause, exc.DBAPIError) and cause.orig is not None:
            cause = cause.orig  # the driver's own error, which SQLAlchemy's wraps
        if isinstance(cause, sqlite3.OperationalError):
            return str(cause).startswith(_SQLITE_BUSY)
        if psycopg is not None and isinstance(cause, psycopg.Error):
            return getattr(cause, "sqlstate", None) == "55P03"
    return False


def _transient(error: BaseException) -> bool:
    if isinstance(error, exc.TimeoutError):  # no pooled connection came free in time
        return True
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, exc.DBAPIError):
        return _transient(error.orig) if error.orig is not None else False
    if isinstance(error, sqlite3.OperationalError):
        return str(error).startswith(_SQLITE_BUSY)
    if psycopg is not None and isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        state = getattr(error, "sqlstate", None)
        # No SQLSTATE: the server never answered (refused, closed, timed out connecting).
        return state is None or state[:2] in _TRANSIENT_CLASSES or state in _TRANSIENT_STATES
    return False
