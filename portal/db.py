"""Engines, sessions and the one place a unit of work is committed."""

from __future__ import annotations

import functools
import logging
import operator
import os
import re
import select
import sqlite3
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event, exc, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool
from sqlmodel import Session

from portal import turns
from portal.db_faults import is_unavailable
from portal.process_queue import ProcessQueue

log = logging.getLogger("portal")


def normalise_url(url: str) -> str:
    """Accept the usual postgres:// spellings and use the psycopg 3 driver for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


# Beside an SQLite database file, as SQLite's own -wal and -shm: where the writers of every
# process on it take turns (portal/process_queue.py).
PROCESS_QUEUE_SUFFIX = "-writers"
# A command (migrations, imports, audit verification) may wait longer for a lock than a
# person at a page; the web app passes its own setting.
COMMAND_LOCK_WAIT_MS = 30_000
# A PostgreSQL server that does not answer is "unavailable" after this, not a hung request.
CONNECT_TIMEOUT_SECONDS = 5
# Set on a connection whose transaction only reads (the readiness probe). Every transaction
# now begins without the write lock; the option stays for callers that say so.
READ_ONLY = "portal_read_only"
_WROTE = "portal_wrote"
_HOLDS = "portal_holds_write_lock"  # connection info: the WriteLock this transaction holds
_TAKEN_BY = "portal_taken_by"  # connection record info: the thread that checked it out
_ROW_LOCKS = "portal_row_locks"  # connection info: the transaction read rows FOR UPDATE (PG)
_BEGAN = "portal_began_after"  # connection info: the writers' commits counted at BEGIN
_CHANGES = "portal_changes_at_begin"  # connection info: SQLite's count of rows changed, at BEGIN
# A write committed without the writers' lock is logged; where PORTAL_UNLOCKED_WRITES is
# "refuse" (the tests, and the nodes and commands they start) it raises, failing the build.
UNLOCKED_WRITES = "PORTAL_UNLOCKED_WRITES"
# A schema change takes SQLite's write lock too: taken after it, the writers' lock (and the
# turn between processes) could be waited for by one who holds SQLite's lock, while the
# writer holding the turn waits for SQLite's (a migration on a node that serves).
_WRITES = ("INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "REPLACE", "CREATE", "ALTER", "DROP")
_AT_COMMIT = "portal_at_commit"  # Session.info: writes kept for the moment before commit
# A write that starts nothing and touches nothing: run first under the write lock, it makes
# SQLite take its own write lock now, and fails at once (SQLITE_BUSY_SNAPSHOT) when another
# connection committed since this transaction's reads began.
_SQLITE_PROBE = "UPDATE audit_head SET last_seq = last_seq WHERE 0"
_SQLITE_BUSY_CODES = (5, 517)  # SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT
_PG_IDLE = 0  # psycopg's TransactionStatus.IDLE: connected, in no transaction
# A read that locks the rows it reads until the transaction ends (PostgreSQL's spellings;
# SQLite renders none of them: its writers' lock is taken first).
_LOCKING_READ = re.compile(r"\bFOR (?:NO KEY )?UPDATE\b|\bFOR (?:KEY )?SHARE\b")


class FifoLock:
    """A lock handed to its waiters in the order they came (threading.Lock wakes any)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Lock] = deque()

    def acquire(self, timeout: float = -1) -> bool:
        """True once held; False when `timeout` seconds passed first (-1: no limit)."""
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        if turn.acquire(timeout=timeout):
            return True
        with self._mutex:
            if turn in self._waiters:  # not handed over in the meantime
                self._waiters.remove(turn)
                return False
        return True  # handed over just as the wait ended: held

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()  # handed on: stays held, in arrival order
            else:
                self._held = False

    @property
    def held(self) -> bool:
        return self._held

    @property
    def queued(self) -> int:
        """How many wait for it."""
        return len(self._waiters)


class WriteLock:
    """Writers queue, readers do not wait: one engine's write lock in this process.

    A transaction begins without it and reads (and renders) on its own snapshot; it takes
    the lock at its first write (an INSERT, UPDATE or DELETE, or a log head it is about to
    move) and holds it until it commits or rolls back. On SQLite the lock is a FIFO in
    front of the database's own write lock: waiters are handed the lock in the order they
    came, instead of SQLite's busy handler making each sleep and poll (which left some
    waiting for seconds). On PostgreSQL a writer's lock is the row locks it takes (an audit
    log's head, FOR UPDATE), which the server already hands out in order; only the server
    can tell how long they were waited for (`portal.bench.row_locks`).
    """

    def __init__(self, *, queue: bool, wait_ms: int, processes: ProcessQueue | None = None):
        self.queue = queue
        self.timeout = wait_ms / 1000
        self._queue = FifoLock()
        # An SQLite file: the writers of every process on it take turns (several workers).
        self.processes = processes
        self.waited = 0.0  # seconds waited in the queues (SQLite), summed over every writer
        self.taken = 0
        self.commits = 0  # commits of this process's writers: a snapshot older is stale
        self.checkpointer: WalCheckpointer | None = None  # SQLite files: see WalCheckpointer

    def acquire(self) -> None:
        self.taken += 1
        started = time.perf_counter()
        handed = self.take()
        self.waited += time.perf_counter() - started
        if not handed:
            raise sqlite3.OperationalError(
                f"database is locked: waited {self.timeout:.0f} s for the write lock"
            )

    def take(self) -> bool:
        """True once held (this process's queue, then the turn between processes); False
        when the wait passed the limit, nothing then held. Not counted in the writers'
        figures: for work that is not a writer's (a checkpoint)."""
        started = time.perf_counter()
        handed = self._queue.acquire(timeout=self.timeout)
        if handed and self.processes is not None:
            left = self.timeout - (time.perf_counter() - started)
            handed = False
            try:
                handed = self.processes.acquire(timeout=max(left, 0.0))
            finally:
                if not handed:  # else no writer of this process would ever write again
                    self._queue.release()
        return handed

    @property
    def held(self) -> bool:
        """Whether a writer (or the checkpointer) of this process holds it now."""
        return self._queue.held

    def release(self) -> None:
        try:
            if self.processes is not None:
                self.processes.release()
        finally:
            self._queue.release()


# SQLite copies its write-ahead log back into the database file (a checkpoint) from a
# thread of its own (`WalCheckpointer`), not in a request's commit: there, the commit that
# took the log past 1,000 pages copied them all with the write lock held (a page's audit
# batch took 2.2 ms to commit on average, and up to tens of ms; under 1 ms without).
# A connection still does it itself past this many pages, should that thread fall behind.
WAL_BACKSTOP_PAGES = 10_000
# SQLite starts the log over from its top once it is all checkpointed, but keeps the file
# at the largest size it ever reached: one burst (an import, a migration, a restore) left a
# log of hundreds of MB beside the database for good. Past this size SQLite trims it as it
# starts over. A busy node's log stays far below it (a quarter of a second between
# checkpoints holds a few MB: see WalCheckpointer), so it is never trimmed and grown back.
WAL_KEPT_BYTES = 32 * 1024 * 1024


# A process forked while one of its threads is inside SQLite inherits SQLite's internal
# mutexes held, by a thread that does not exist in the child: the child's first connection
# then waits for ever (the disclosure benchmark forks its servers from a process whose
# checkpointers run in the background; a CI run hung there). Checkpointers work holding
# this lock, and a fork takes it first: it never happens in the middle of a checkpoint.
_SQLITE_WORK_IN_BACKGROUND = threading.Lock()


def _fresh_background_lock() -> None:
    global _SQLITE_WORK_IN_BACKGROUND
    _SQLITE_WORK_IN_BACKGROUND = threading.Lock()


os.register_at_fork(
    before=lambda: _SQLITE_WORK_IN_BACKGROUND.acquire(),
    after_in_parent=lambda: _SQLITE_WORK_IN_BACKGROUND.release(),
    after_in_child=_fresh_background_lock,
)


class WalCheckpointer:
    """Checkpoints an SQLite database's write-ahead log soon after writers commit, from a
    daemon thread of its own, on a connection of its own, with the writers' lock
    held (PASSIVE: it waits for no reader, and copies what no reader still needs). Stopped
    when the engine is disposed or dropped; started again by the next commit."""

    # Seconds between checkpoints: commits in between are copied together. A checkpoint
    # holds the writers' lock. With the log written out first (`_sync_log`), it held them
    # 4-12 ms for a quarter of a second's log, under the case summary at 58 pages a second;
    # for a second's log, 6-20 ms, and the one request then committing waited that long
    # (`portal bench disclosure`, SQLite: p99 at one connection 34.6 ms against 25.8 with
    # a quarter, p50 17; at eight connections 178 ms against 110). Single appends
    # (`portal bench audit`) were as fast either way: 2,227-2,381/s.
    PAUSE = 0.25

    def __init__(self, engine: Engine) -> None:
        self._engine = weakref.ref(engine)
        self._due = threading.Event()
        self._mutex = threading.Lock()
        self._thread: threading.Thread | None = None
        # Set by stop(): the thread's pause between checkpoints ends with it. A dispose (every
        # command that wrote, as it ends) waited out the rest of the pause, up to a second.
        self._halt = threading.Event()
        self._generation = 0
        self.checkpoints = 0  # how many it ran (for tests)

    def committed(self) -> None:
        """A writer committed: a checkpoint is due."""
        if self._thread is None or not self._thread.is_alive():
            with self._mutex:
                if self._thread is None or not self._thread.is_alive():
                    self._halt = threading.Event()
                    self._thread = threading.Thread(
                        target=self._run,
                        args=(self._generation, self._halt),
                        name="portal-wal-checkpoint",
                        daemon=True,
                    )
                    self._thread.start()
        self._due.set()

    def stop(self) -> None:
        with self._mutex:
            self._generation += 1
            thread, self._thread = self._thread, None
            self._halt.set()
        self._due.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _run(self, generation: int, halt: threading.Event) -> None:
        # A connection of its own, kept while the thread runs and closed as it ends. Taken
        # from the pool for each checkpoint and closed after it, it was the pool's warmest
        # connection, gone every quarter of a second; and when it was a worker's last one,
        # its close was SQLite's last-connection close: a checkpoint of its own, outside the
        # writers' lock, which deletes the log and shared memory once no other connection
        # holds the file. In `portal bench disclosure` a server worker then met "disk I/O
        # error" and "file is not a database" moments after the other had closed its last
        # connection so (one run in 51 of the full benchmark; none in 48 since).
        connection = None
        try:
            while True:
                self._due.wait(timeout=5)
                if generation != self._generation:
                    return
                engine = self._engine()
                if engine is None:
                    return
                self._due.clear()
                try:
                    with _SQLITE_WORK_IN_BACKGROUND:  # no fork meanwhile (see above)
                        if connection is None:
                            connection = self._own_connection(engine)
                        self._checkpoint(connection, write_lock_of(engine))
                except Exception as error:  # the next commit tries again, on a connection
                    log.warning(  # opened afresh; a connection's own backstop still holds
                        "WAL checkpoint failed: %s (%s, process %d)",
                        error,
                        getattr(error, "sqlite_errorname", type(error).__name__),
                        os.getpid(),
                    )
                    connection = self._closed(connection)
                del engine
                if halt.wait(self.PAUSE):
                    return
        finally:
            self._closed(connection)

    @staticmethod
    def _own_connection(engine: Engine):
        """A new connection, opened as the engine's are (its pragmas), never one of the
        pool's: from a pool made like the engine's for it alone. Detached, so never given
        back: a pool disposed meanwhile would keep it open (the file, its log and shared
        memory held) until the collector found it. No transaction is wanted on it."""
        connection = engine.pool.recreate().connect()
        connection.detach()
        return connection

    @staticmethod
    def _closed(connection) -> None:
        if connection is not None:
            with _SQLITE_WORK_IN_BACKGROUND, suppress(Exception):
                connection.close()

    def _checkpoint(self, connection, writers: WriteLock | None) -> None:
        _sync_log(connection.dbapi_connection)
        # With the writers' lock held: SQLite up to 3.51.2 can lose pages of a committed
        # transaction when a checkpoint starts just after another ended and a writer starts
        # the log over meanwhile (the WAL-reset bug, sqlite.org/wal.html#walresetbug). No
        # writer of any process on this file writes while the lock is held; a commit's own
        # checkpoint (the backstop) runs with it held too.
        if writers is not None and not writers.take():
            self._due.set()  # a writer held it past the limit: after the pause, again
            return
        try:
            connection.dbapi_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self.checkpoints += 1
        finally:
            if writers is not None:
                writers.release()


_fdatasync = getattr(os, "fdatasync", os.fsync)  # macOS has only fsync


def _sync_log(dbapi_connection) -> None:
    """Write the log's pages out to the disk before the checkpoint, without the writers'
    lock: the checkpoint's own first fsync, of the log, then finds little left to write.

    Under synchronous=NORMAL no commit syncs the log, so each checkpoint's first fsync
    wrote all the log written since the last (47-89 pages of 4 KB for each case summary:
    10-19 MB a second at 52 pages a second) with the writers' lock held, 38-54 ms in which
    no request of the node could commit. That was the tail of the summary at one
    connection: p99 49-57 ms against a p50 of 17 ms, one request a second. SQLite's own
    syncs all still run, in the same order; this only moves the writing out of the lock."""
    name = dbapi_connection.execute("PRAGMA database_list").fetchone()[2]
    if not name:  # an in-memory database has no log
        return
    try:
        handle = os.open(name + "-wal", os.O_RDONLY)
    except OSError:
        return  # no log yet; or one this process cannot open: the checkpoint writes it
    try:
        _fdatasync(handle)
    except OSError as error:  # the checkpoint, next, writes the log itself
        log.warning("WAL written out before its checkpoint failed: %s", error)
    finally:
        os.close(handle)


# By the engine's dialect: one per engine, shared by an engine with other execution
# options, kept by dispose().
_WRITE_LOCKS: weakref.WeakKeyDictionary[object, WriteLock] = weakref.WeakKeyDictionary()


def write_lock_of(bind) -> WriteLock | None:
    """The write lock of an engine (or of a connection's engine): its figures (time
    waited, times taken) for benchmarks."""
    return _WRITE_LOCKS.get(bind.dialect)


def make_engine(url: str, *, lock_wait_ms: int = COMMAND_LOCK_WAIT_MS, **kwargs) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    # The pool hands out the connection given back last, not the one idle longest: a
    # connection's caches are warm only if no other connection wrote since it was last
    # used (SQLite drops its page cache then, and PostgreSQL's prepared statements are per
    # connection). Taken in turn, every unit of work started cold: one audit append took
    # 600 µs against 430-560 µs this way.
    pool = kwargs.get("poolclass") or parsed.get_dialect().get_pool_class(parsed)
    if issubclass(pool, QueuePool):  # an in-memory SQLite database has one connection
        kwargs.setdefault("pool_use_lifo", True)
    # A statement's error names its bound values, and a 500's traceback goes to the node's
    # log, which is the operator's: what staff typed about a survivor (a task's words, a
    # comment, minutes) must not go with it. The statement itself still does.
    kwargs.setdefault("hide_parameters", True)
    if sqlite:
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
        engine.dialect.do_ping = functools.partial(_ping_unless_quiet, engine.dialect.do_ping)
    database = parsed.database
    on_file = sqlite and database and database != ":memory:" and not database.startswith("file:")
    # Beside the file itself, as SQLite puts its -wal: writers that reach the database
    # through a symbolic link must not queue apart from the others.
    real = os.path.realpath(database) if on_file else ""
    _WRITE_LOCKS[engine.dialect] = WriteLock(
        queue=sqlite,
        wait_ms=lock_wait_ms,
        processes=ProcessQueue.of(real + PROCESS_QUEUE_SUFFIX, like=real) if on_file else None,
    )
    if on_file:
        checkpointer = WalCheckpointer(engine)
        _WRITE_LOCKS[engine.dialect].checkpointer = checkpointer
        event.listen(engine, "engine_disposed", lambda _engine: checkpointer.stop())
        queue = _WRITE_LOCKS[engine.dialect].processes
        event.listen(engine, "engine_disposed", lambda _engine: queue.close_if_idle())
    if sqlite:
        # Given back once the database has let go of its own lock, not before (SQLAlchemy's
        # commit and rollback events run before the driver's commit): a waiter handed the
        # lock earlier would find SQLite's still taken.
        dialect = engine.dialect
        dialect.do_commit = functools.partial(_then_release, dialect.do_commit, True)
        dialect.do_rollback = functools.partial(_then_release, dialect.do_rollback, False)
        # A savepoint is begun to write (insert, and on a conflict try again): the lock is
        # taken before it, while a stale snapshot can still start again.
        event.listen(engine, "savepoint", _lock_before_savepoint)
    event.listen(engine, "before_cursor_execute", _note_writes)
    if not sqlite:
        event.listen(engine, "before_cursor_execute", _note_row_locks)
    event.listen(engine, "commit", _forget_writes)
    event.listen(engine, "rollback", _forget_writes)
    event.listen(engine.pool, "checkout", _note_checkout)
    event.listen(engine.pool, "checkin", _release_on_checkin)
    # A connection taken from the pool and detached (the WAL checkpointer's) is given back
    # no more: let go of as if it had been.
    event.listen(engine.pool, "detach", _release_on_checkin)
    return engine


def _ping_unless_quiet(ping, dbapi_connection) -> bool:
    """The pool's check of a PostgreSQL connection before a request uses it, without a
    round trip when nothing has come from the server since it was last used.

    An idle connection receives nothing unless the server is ending it (a terminated
    backend, a restart, a failover: the server says so and closes the socket, which then
    reads as ready). A quiet socket is a live connection as far as anything can tell
    without asking; anything else is asked as before (`SELECT 1`), and a dead one is
    replaced by the pool. Every request paid that round trip (a sixth of a single audit
    append's)."""
    try:
        idle = dbapi_connection.info.transaction_status == _PG_IDLE
        waiting = select.poll()
        waiting.register(dbapi_connection.fileno(), select.POLLIN)
        ready = waiting.poll(0)
    except Exception:  # closed, or not a psycopg connection: ask the server
        return ping(dbapi_connection)
    return True if idle and not ready else ping(dbapi_connection)


def _sqlite_begin(conn) -> None:
    # A deferred BEGIN: the transaction reads on its snapshot without the write lock, and
    # takes it (take_write_lock) at its first write. Sent by the driver itself: nothing
    # of SQLAlchemy's statement machinery is needed for it, and every transaction pays it.
    dbapi = conn.connection.dbapi_connection
    dbapi.execute("BEGIN")
    conn.info[_BEGAN] = write_lock_of(conn).commits
    conn.info[_CHANGES] = dbapi.total_changes


def _note_writes(conn, _cursor, statement, _parameters, _context, _executemany) -> None:
    if not conn.info.get(_WROTE) and _writes(statement):
        if _HOLDS not in conn.info:
            take_write_lock(conn)
        conn.info[_WROTE] = True


_LEADING_COMMENT = re.compile(r"\s*(?:--[^\n]*(?:\n|$)|/\*.*?\*/)", re.DOTALL)
_WRITE_WORD = re.compile(r"\b(?:INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


def _writes(statement: str) -> bool:
    """Whether a statement may change rows: by its first word, after any comments; a WITH
    that names a write anywhere is taken for one (at worst the lock is taken for a read)."""
    start = statement.lstrip()[:7].upper()
    if start.startswith(_WRITES):
        return True
    if not start.startswith(("WITH", "--", "/*")):
        return False  # every other statement, at the cost of one slice
    while (comment := _LEADING_COMMENT.match(statement)) is not None:
        statement = statement[comment.end() :]
    start = statement.lstrip()[:7].upper()
    if start.startswith(_WRITES):
        return True
    return start.startswith("WITH") and _WRITE_WORD.search(statement) is not None


def _note_row_locks(conn, _cursor, statement, _parameters, _context, _executemany) -> None:
    if not conn.info.get(_ROW_LOCKS) and " FOR " in statement and _LOCKING_READ.search(statement):
        conn.info[_ROW_LOCKS] = True


def _forget_writes(conn) -> None:
    # A connection the server ended is gone with all it noted: asking for its info then
    # would try to reconnect inside the transaction being rolled back, and fail.
    if not conn.invalidated:
        conn.info.pop(_WROTE, None)
        conn.info.pop(_ROW_LOCKS, None)


def _then_release(end, committed: bool, dbapi_connection) -> None:
    if committed:
        _written_under_the_lock(dbapi_connection)
    try:
        end(dbapi_connection)
    finally:
        # The pool's proxy of the connection carries the record's info; a bare or ad hoc
        # connection (the engine's first connect) has none, and holds nothing.
        try:
            info = dbapi_connection.info
        except (AttributeError, NotImplementedError):
            info = {}
        held = info.pop(_HOLDS, None)
        if held is not None:
            if committed:
                held.commits += 1
            held.release()
            if committed and held.checkpointer is not None:
                held.checkpointer.committed()


def _written_under_the_lock(dbapi_connection) -> None:
    """A transaction that changed rows took the writers' lock first (`_note_writes`): else
    its writes could start SQLite's log over while another process checkpoints, which SQLite
    up to 3.51.2 can answer by losing pages (the WAL-reset bug; see WalCheckpointer). A write
    the statement check missed is said in the node's log, and fails a test."""
    try:
        info, changes = dbapi_connection.info, dbapi_connection.total_changes
    except (AttributeError, NotImplementedError):
        return  # a bare connection (the engine's first connect): nothing began on it
    began = info.get(_CHANGES)
    if began is None or changes == began or _HOLDS in info:
        return
    message = (
        f"{changes - began} row(s) changed and committed without the writers' lock: a "
        "statement the write check does not know (portal.db._WRITES)"
    )
    if os.environ.get(UNLOCKED_WRITES) == "refuse":
        dbapi_connection.rollback()  # refused whole: nothing of the transaction is kept
        raise UnlockedWrite(message)
    log.error(message)


class UnlockedWrite(RuntimeError):
    """Rows changed and about to be committed without the writers' lock."""


def _lock_before_savepoint(conn, _name) -> None:
    take_write_lock(conn)


# Every pooled connection checked out, of every engine, and the thread that took it: what
# a thread's transactions hold (`locks_held_here`). Weak: a record the pool drops without
# a checkin (an invalidated connection's) is forgotten with it.
_CHECKED_OUT: weakref.WeakKeyDictionary[object, threading.Thread] = weakref.WeakKeyDictionary()
_CHECKED_OUT_LOCK = threading.Lock()


def _note_checkout(_dbapi_connection, record, _proxy) -> None:
    # A request that holds a connection keeps its turn while it waits (portal/turns.py).
    thread = turns.connection_taken()
    record.info[_TAKEN_BY] = thread
    with _CHECKED_OUT_LOCK:
        _CHECKED_OUT[record] = thread


def _release_on_checkin(_dbapi_connection, record) -> None:
    if record is None:
        return
    with _CHECKED_OUT_LOCK:
        _CHECKED_OUT.pop(record, None)
    taken_by = record.info.pop(_TAKEN_BY, None)
    if taken_by is not None:
        turns.connection_returned(taken_by)
    # A connection given back without its transaction's end being seen (an error on the
    # way) must not keep the lock.
    held = record.info.pop(_HOLDS, None)
    if held is not None:
        held.release()


def locks_held_here() -> str | None:
    """What the calling thread's transactions hold that another writer would wait for, in
    words, or None: on SQLite the writers' lock (taken at a transaction's first write),
    on PostgreSQL the rows written or read FOR UPDATE (an audit log's head). Writers
    queue, readers do not wait (issue 15): nothing that waits on something else (another
    node's answer) may start while this is not None."""
    this = threading.current_thread()  # not its ident: an ended thread's is given again
    with _CHECKED_OUT_LOCK:
        held = [record.info for record, taken_by in _CHECKED_OUT.items() if taken_by is this]
    return next((what for info in held if (what := _held_by(info)) is not None), None)


def _held_by(info: dict) -> str | None:
    """What a connection's transaction holds that another writer would wait for, in words."""
    if _HOLDS in info:
        return "the database's write lock held (its first write taken it)"
    if info.get(_WROTE):
        return "rows written and not yet committed"
    if info.get(_ROW_LOCKS):
        return "rows locked (read FOR UPDATE: an audit log's head)"
    return None


def take_write_lock(conn) -> None:
    """Take the engine's write lock for this connection's transaction, if it does not
    hold it yet; held until the transaction ends.

    On SQLite the transaction then takes the database's write lock too. If another writer
    committed since this transaction's reads began, SQLite cannot let it write on that
    snapshot: a transaction that has written nothing and holds no savepoint starts again
    on the current state (its reads decided nothing that is written yet, and what it goes
    on to read and write sees every commit before it, as PostgreSQL's READ COMMITTED
    does); otherwise it fails as "database is locked" (503, try again, nothing saved).
    """
    if _HOLDS in conn.info:
        return
    lock = write_lock_of(conn)
    if lock is None or not lock.queue:
        return
    lock.acquire()
    conn.info[_HOLDS] = lock
    try:
        _sqlite_write_transaction(conn, lock)
    except BaseException:
        del conn.info[_HOLDS]
        lock.release()
        raise


def _sqlite_write_transaction(conn, lock: WriteLock) -> None:
    dbapi = conn.connection.dbapi_connection
    refreshable = not conn.info.get(_WROTE) and not conn.in_nested_transaction()
    if refreshable and conn.info.get(_BEGAN) != lock.commits:
        # A writer of this process committed since this transaction began: its snapshot
        # may be stale, and starting again costs no more than finding out.
        dbapi.execute("ROLLBACK")
        dbapi.execute("BEGIN IMMEDIATE")
        return
    try:
        dbapi.execute(_SQLITE_PROBE)
    except sqlite3.OperationalError as error:
        if str(error).startswith("no such table"):
            return  # a database being built: its migrations run alone
        # Stale (another connection committed since this snapshot), or another process
        # holds SQLite's lock, for which a transaction that has read cannot wait.
        if getattr(error, "sqlite_errorcode", None) not in _SQLITE_BUSY_CODES or not refreshable:
            raise
        dbapi.execute("ROLLBACK")
        dbapi.execute("BEGIN IMMEDIATE")  # waits (busy_timeout) for another process's writer


# SQLAlchemy's own insert cannot say what to do on a conflict; each dialect's can, and
# SQLite and PostgreSQL spell it alike (on_conflict_do_nothing, on_conflict_do_update).
_INSERTS = {"sqlite": sqlite_dialect.insert, "postgresql": postgresql.insert}


def insert_of(db: Session):
    """The insert of the session's database, for an INSERT ... ON CONFLICT."""
    return _INSERTS[db.get_bind().dialect.name]


def stamp_once(db: Session, row, column: str, value) -> bool:
    """Set `column` of `row` (empty so far) with one conditional statement: of two
    requests at once (a double submit, two people), one sets it and the other is told it
    was set already (False) and writes nothing. The row is read again either way."""
    model = type(row)
    stamped = db.execute(
        update(model)
        .where(model.id == row.id, getattr(model, column).is_(None))
        .values({column: value})
        .returning(model.id)
    ).first()
    db.refresh(row)
    return stamped is not None


def hold_write_lock(db: Session) -> None:
    """Take the write lock now, before reading what this transaction is about to move (an
    audit log's head): on SQLite the read must come after it."""
    take_write_lock(db.connection())


def at_commit(db: Session, write: Callable[[], None]) -> None:
    """Run `write` as this transaction's last work, just before it commits: the write lock
    is then held for that write and the commit only, not for what the request does in
    between (a page's rendering). Dropped if the transaction rolls back."""
    stage_for_commit(db, _AT_COMMIT, write)


def writes_at_commit(db: Session) -> bool:
    """Whether writes are staged for this transaction's commit (`at_commit`)."""
    return bool(db.info.get(_STAGED, {}).get(_AT_COMMIT))


_STAGED = "portal_staged"  # Session.info: {key: [(transaction staged in, item)]}


def stage_for_commit(db: Session, key: str, item: object) -> None:
    """Keep `item` under `key` for this unit of work's commit (`take_staged`). A rollback
    drops what it undid: the whole unit of work's items, or a savepoint's own (those staged
    while it, or a savepoint within it, was open), never those staged before it."""
    within = db.get_nested_transaction() or db.get_transaction()
    db.info.setdefault(_STAGED, {}).setdefault(key, []).append((within, item))


def take_staged(db: Session, key: str) -> list:
    """The items staged under `key`, in order, handed over once."""
    return [item for _within, item in db.info.get(_STAGED, {}).pop(key, [])]


def _undone(within, rolled_back) -> bool:
    # A flush's own subtransaction, rolled back by a failed flush, rolled back the savepoint
    # (or the unit of work) it was in: that one's `with` block then only closes it.
    while not rolled_back.nested and rolled_back.parent is not None:
        rolled_back = rolled_back.parent
    if rolled_back.parent is None:  # the unit of work itself
        return True
    while within is not None:
        if within is rolled_back:
            return True
        within = within.parent
    return False


@event.listens_for(Session, "after_transaction_end")
def _forget_staged(session, transaction) -> None:
    if transaction.parent is None:  # the unit of work ended, however: nothing outlives it
        session.info.pop(_STAGED, None)


@event.listens_for(Session, "after_soft_rollback")
def _drop_undone(session, rolled_back) -> None:
    staged = session.info.get(_STAGED)
    for key, items in list((staged or {}).items()):
        staged[key] = [(within, item) for within, item in items if not _undone(within, rolled_back)]


_T = TypeVar("_T")
_MEMO = "portal_transaction_memo"  # Session.info: what this transaction has read once


def transaction_memo(db: Session, name: str) -> dict:
    """A dict kept for the session's current transaction only: a row that a request reads
    many times (an agency by public id, whether a node is this one) is read once per
    transaction, and read afresh by the next one (emptied when any transaction ends)."""
    return db.info.setdefault(_MEMO, {}).setdefault(name, {})


@event.listens_for(Session, "after_transaction_end")
def _forget_memo(session, _transaction) -> None:
    session.info.pop(_MEMO, None)


@event.listens_for(Session, "before_commit")
def _run_at_commit(session) -> None:
    # SQLAlchemy calls this for a savepoint's release too: the writes wait for the unit of
    # work's own commit, the last work before it.
    if session.in_nested_transaction():
        return
    while writes := take_staged(session, _AT_COMMIT):
        for write in writes:
            write()


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


def between_transactions(db: Session, work: Callable[[], _T]) -> _T:
    """Run `work`, which needs nothing of the database but takes a while (a password's
    argon2 check: 0.1 s), between this unit of work's transactions, the worker's turn going
    to the next request meanwhile (portal/turns.py). Only while the unit of work has written
    nothing: its read-only transaction ends first, giving its connection back. One that has
    written keeps its transaction, and its turn, so that its writes still commit as one."""
    if not wrote_nothing(db):
        return work()
    commit(db)
    with turns.handed_over():
        return work()


def holds_locks(session: Session) -> bool:
    """True when this unit of work's transaction holds what another writer would wait for:
    the write lock (SQLite), rows written or read FOR UPDATE (PostgreSQL)."""
    if not session.in_transaction():
        return False
    return _held_by(session.connection().info) is not None


def commit_before_waiting(session: Session, commit: Callable[[], None] | None) -> None:
    """Before this unit of work waits for something outside the database (another node's
    answer): what it holds is let go, its writes so far committed by `commit` (the
    caller's; the unit of work goes on in a new transaction), so that no other writer
    waits for that answer too (issue 15). Nothing is done when it holds nothing; without
    `commit` it waits holding them (`portal.federation.transport` reports the call)."""
    if commit is not None and holds_locks(session):
        commit()


def wrote_nothing(session: Session) -> bool:
    """True when this unit of work has sent no INSERT, UPDATE or DELETE: if its commit
    fails, nothing was lost and what the request read can still be answered."""
    if (
        session.new
        or session.dirty
        or session.deleted
        or session.info.get(_STAGED, {}).get(_AT_COMMIT)
    ):
        return False
    connections = [session.connection()] if session.in_transaction() else []
    return not any(c.info.get(_WROTE) for c in connections)


def _sqlite_pragmas(lock_wait_ms: int, dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")  # see WalCheckpointer
    cursor.execute(f"PRAGMA journal_size_limit={WAL_KEPT_BYTES}")
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


def read_row(db: Session, statement, params: dict) -> dict | None:
    """The first row of a prebuilt read, as a dict, or None: the statement compiled once
    per dialect and run by the driver (`driver_execute`), for the read every audit append
    makes (its log's head). Only for columns the driver already gives as Python wants them
    (strings, integers): no result type is applied. Pending changes are flushed first."""
    rows = _driver_read(db, statement, params, fetch="one")
    return rows[0] if rows else None


def read_rows(db: Session, statement, params: dict) -> list[dict]:
    """Every row of a prebuilt read, as dicts, as `read_row` reads the first (the heads of
    the logs a page's audit entries go to)."""
    return _driver_read(db, statement, params, fetch="all")


def _driver_read(db: Session, statement, params: dict, *, fetch: str) -> list[dict]:
    if db.autoflush:
        db.flush()
    connection = db.connection()
    sql, binds, positional = _prepared_read(statement, connection.dialect)
    values = [
        convert(params.get(name, default)) if convert else params.get(name, default)
        for name, convert, default in binds
    ]
    parameters = (
        tuple(values) if positional else dict(zip((b[0] for b in binds), values, strict=True))
    )
    return driver_execute(connection, sql, parameters, fetch=fetch)


@functools.lru_cache(maxsize=64)
def _prepared_read(statement, dialect):
    compiled = statement.compile(dialect=dialect)
    names = list(compiled.positiontup) if compiled.positional else list(compiled.binds)
    binds = tuple(
        (name, _converter(compiled.binds[name].type, dialect), compiled.binds[name].value)
        for name in names
    )
    return str(compiled), binds, compiled.positional


def _converter(type_, dialect):
    """A value's conversion for the driver, as SQLAlchemy's own execution makes it: through
    the dialect's type, not the generic one. A time on SQLite is then text with its six
    places ("15:00:00.000000"), as every other write stores it; the generic one left the
    time to the driver, which drops a zero fraction ("15:00:00") and so sorts before the
    same time compared with in a search (`test_audit_times_stored`)."""
    return type_.dialect_impl(dialect).bind_processor(dialect)


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
    sql, names, take, converters, positional = _prepared(statement, connection.dialect, columns)
    # Most columns go to the driver as they are: taken at once, only the rest converted.
    params = [[take(row)] if len(names) == 1 else list(take(row)) for row in rows]
    for values in params:
        for place, convert in converters:
            values[place] = convert(values[place])
    if not positional:
        params = [dict(zip(names, values, strict=True)) for values in params]
    if len(params) == 1:
        # One row, one statement: psycopg runs an executemany as a pipeline, whose opening
        # and closing cost a single append two more waits on the server than the row.
        driver_execute(connection, sql, params[0])
        return
    driver_execute(connection, sql, params, many=True)


def driver_execute(connection, sql: str, parameters, *, many: bool = False, fetch: str = ""):
    """Run SQL compiled for this dialect on the connection's driver cursor, inside the
    connection's transaction, for the statements every audit append makes.

    `exec_driver_sql` builds an execution context and a result for each statement, which
    cost more than SQLite's own work for the head read, the entry's insert and the head's
    move (half of a single append's time). This keeps what matters of it: the engine's
    `before_cursor_execute` listeners run (the write lock is taken before a write, as for
    any statement), and a driver error is raised as SQLAlchemy's own, the connection
    invalidated when the driver says it is gone. `fetch`: "one" or "all" of the rows, as
    dicts (a list, empty when there is none); otherwise None.
    """
    dbapi_connection = connection.connection.dbapi_connection
    cursor = None
    try:
        # Inside: a connection the driver already knows is gone fails here first.
        cursor = dbapi_connection.cursor()
        if connection.dispatch.before_cursor_execute:
            connection.dispatch.before_cursor_execute(
                connection, cursor, sql, parameters, None, many
            )
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        if not fetch:
            return None
        rows = cursor.fetchall() if fetch == "all" else [cursor.fetchone()]
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in rows if row is not None]
    except connection.dialect.loaded_dbapi.Error as error:
        gone = connection.dialect.is_disconnect(error, dbapi_connection, cursor)
        if gone:
            connection.invalidate(error)
        raise exc.DBAPIError.instance(
            sql,
            parameters,
            error,
            connection.dialect.loaded_dbapi.Error,
            connection_invalidated=gone,
            ismulti=many,
            dialect=connection.dialect,
        ) from error
    finally:
        # Not on a connection just invalidated: closed with it (SQLite's cursor would
        # raise, hiding the error above).
        if cursor is not None and not connection.invalidated:
            cursor.close()


@functools.lru_cache(maxsize=64)
def _prepared(statement, dialect, columns: tuple[str, ...]):
    compiled = statement.compile(dialect=dialect, column_keys=list(columns) or None)
    names = tuple(compiled.positiontup) if compiled.positional else tuple(compiled.binds)
    converters = tuple(
        (place, convert)
        for place, name in enumerate(names)
        if (convert := _converter(compiled.binds[name].type, dialect)) is not None
    )
    take = operator.itemgetter(*names) if names else (lambda _row: ())
    return str(compiled), names, take, converters, compiled.positional
