"""Writers queue, readers do not wait: the write lock of portal/db.py.

A transaction reads without the write lock and takes it at its first write; on SQLite
the lock is a FIFO in front of the database's own, so writers are served in the order
they came. The chain never forks, whatever was read before the lock.
"""

import gc
import os
import sqlite3
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from portal import db as db_module
from portal import migrate, turns
from portal.audit import AuditTag, record, verify
from portal.db import FifoLock, WriteLock, at_commit, make_engine, unit_of_work, write_lock_of
from portal.db_faults import is_unavailable
from portal.models import NODE_LOG, Agency, AuditEntry

import factories as make
from databases import BACKENDS, migrated_engine

WRITERS = 6


@pytest.fixture(params=BACKENDS)
def committed_engine(request, tmp_path):
    options = {"pool_size": WRITERS + 2, "lock_wait_ms": 5_000}
    with migrated_engine(request.param, tmp_path, **options) as engine:
        yield engine


@pytest.fixture
def sqlite_engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'lock.db'}", lock_wait_ms=300)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def _append(db, subject: str) -> None:
    record(db, AuditTag.SIGN_IN_FAILED, agency_id=None, subject=subject, at=make.AT)


def test_a_reader_reads_while_a_writer_holds_the_lock(committed_engine):
    with unit_of_work(committed_engine) as db:
        _append(db, "before")
    writer = Session(committed_engine)
    _append(writer, "held")  # the writer holds the lock (and, on PostgreSQL, the head row)
    try:
        # Before: every transaction took SQLite's write lock at BEGIN, so this read waited
        # for the writer (and failed after the lock wait).
        with unit_of_work(committed_engine) as reader:
            subjects = reader.exec(select(AuditEntry.subject)).all()
        assert subjects == ["before"]
    finally:
        writer.rollback()
        writer.close()


def test_a_transaction_that_read_before_another_committed_still_appends_after_it(
    committed_engine,
):
    """On SQLite the first transaction's snapshot is older than the second's commit: it
    starts again on the current state (it had written nothing) instead of failing, and
    its entry follows the other's in the chain."""
    with unit_of_work(committed_engine) as db:
        _append(db, "first")
    with unit_of_work(committed_engine) as early:
        assert early.exec(select(AuditEntry.subject)).all() == ["first"]  # its snapshot
        with unit_of_work(committed_engine) as other:
            _append(other, "second")
        _append(early, "third")
    with Session(committed_engine) as db:
        rows = db.exec(select(AuditEntry.subject, AuditEntry.seq).order_by(AuditEntry.seq)).all()
        assert rows == [("first", 1), ("second", 2), ("third", 3)]
        assert verify.verify_log(db, NODE_LOG).ok


def test_writers_that_read_first_never_fork_the_chain(committed_engine, keys):
    with unit_of_work(committed_engine) as db:
        owner_id = make.agency(db, keys).id
    start = threading.Barrier(WRITERS)
    failures = []

    def writer(number: int) -> None:
        try:
            start.wait()
            for n in range(10):
                with unit_of_work(committed_engine) as db:
                    db.exec(select(Agency.name).where(Agency.id == owner_id)).one()  # read first
                    record(
                        db,
                        AuditTag.AUDIT_EXPORTED,
                        agency_id=owner_id,
                        subject=f"w{number}-{n}",
                        at=make.AT + timedelta(seconds=n),
                    )
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[0]
    with Session(committed_engine) as db:
        log_key = db.get(Agency, owner_id).public_id
        report = verify.verify_log(db, log_key)
        assert report.ok, report.problem
        exported = db.exec(
            select(AuditEntry.seq).where(
                AuditEntry.log_key == log_key, AuditEntry.tag == AuditTag.AUDIT_EXPORTED
            )
        ).all()
        assert len(exported) == WRITERS * 10


def test_writers_are_served_in_the_order_they_came():
    lock = WriteLock(queue=True, wait_ms=5_000)
    lock.acquire()
    served, threads = [], []
    for number in range(5):

        def waiter(number=number):
            lock.acquire()
            served.append(number)
            lock.release()

        thread = threading.Thread(target=waiter)
        thread.start()
        threads.append(thread)
        while lock._queue.queued < number + 1:  # queued before the next one starts
            threading.Event().wait(0.001)
    lock.release()
    for thread in threads:
        thread.join()
    assert served == [0, 1, 2, 3, 4]
    assert lock.taken == 6 and lock.waited > 0


def test_a_writer_that_waits_past_the_limit_is_told_to_try_again(sqlite_engine):
    holder = Session(sqlite_engine)
    _append(holder, "held")
    try:
        with pytest.raises(Exception) as raised, unit_of_work(sqlite_engine) as db:
            _append(db, "waiting")
        assert is_unavailable(raised.value)
    finally:
        holder.rollback()
        holder.close()
    with unit_of_work(sqlite_engine) as db:  # the lock was given back by both
        _append(db, "after")
    # ...and by this one: the next writer takes it (the commit woke the WAL checkpointer,
    # which may hold it a moment for its checkpoint, so "held by no one" would be a race).
    queue = write_lock_of(sqlite_engine)._queue
    assert queue.acquire(timeout=5)
    queue.release()


def test_writes_kept_for_the_commit_run_then_and_are_dropped_on_rollback(sqlite_engine):
    with unit_of_work(sqlite_engine) as db:
        at_commit(db, lambda: _append(db, "at commit"))
        assert db.exec(select(AuditEntry)).all() == []  # not yet
    with pytest.raises(RuntimeError), unit_of_work(sqlite_engine) as db:
        at_commit(db, lambda: _append(db, "rolled back"))
        raise RuntimeError("the request failed")
    with Session(sqlite_engine) as db:
        assert db.exec(select(AuditEntry.subject)).all() == ["at commit"]
        assert db.exec(text("SELECT count(*) FROM audit_head")).scalar_one() == 1


def test_a_write_in_a_savepoint_after_another_commit_is_not_refused(committed_engine):
    """The services insert inside a savepoint (and try again on a conflict): the lock is
    taken before the savepoint, while the transaction can still start again. Before, a
    stale snapshot met inside the savepoint was answered 503."""
    with unit_of_work(committed_engine) as db:
        _append(db, "first")
    with unit_of_work(committed_engine) as early:
        early.exec(select(AuditEntry.subject)).all()  # its snapshot
        with unit_of_work(committed_engine) as other:
            _append(other, "second")
        with early.begin_nested():
            _append(early, "third")
    with Session(committed_engine) as db:
        assert db.exec(select(AuditEntry.subject).order_by(AuditEntry.seq)).all() == [
            "first",
            "second",
            "third",
        ]


def test_the_write_ahead_log_is_copied_back_by_a_thread_of_its_own_not_by_commits(
    sqlite_engine,
):
    """SQLite's checkpoint (copying the write-ahead log back into the file) runs after
    writers commit, from the checkpointer's thread; a request's commit does it only past
    the backstop. It stops when the engine is disposed."""
    lock = write_lock_of(sqlite_engine)
    checkpointer = lock.checkpointer
    assert checkpointer is not None
    with sqlite_engine.connect() as connection:
        backstop = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
    assert backstop == db_module.WAL_BACKSTOP_PAGES
    for number in range(20):
        with unit_of_work(sqlite_engine) as db:
            _append(db, f"writer-{number}")
    deadline = time.monotonic() + 5
    while not checkpointer.checkpoints and time.monotonic() < deadline:
        time.sleep(0.05)
    assert checkpointer.checkpoints > 0
    thread = checkpointer._thread
    sqlite_engine.dispose()
    assert thread is not None and not thread.is_alive()


def test_disposing_ends_the_checkpointers_pause_at_once(sqlite_engine, monkeypatch):
    """A dispose (every command that wrote, as it ends) stops the checkpointer; its pause
    between checkpoints ended only when the pause did, so the dispose waited it out (up to
    a second), or, past the five seconds it waits for the thread, left it running on."""
    monkeypatch.setattr(db_module.WalCheckpointer, "PAUSE", 60)
    checkpointer = write_lock_of(sqlite_engine).checkpointer
    with unit_of_work(sqlite_engine) as db:
        _append(db, "one write")
    _wait_for(lambda: checkpointer.checkpoints > 0)  # now in its pause
    thread = checkpointer._thread
    sqlite_engine.dispose()
    assert thread is not None and not thread.is_alive()


def test_a_checkpoint_under_way_at_dispose_leaves_no_connection_open(tmp_path):
    """Engine.dispose closes its pool's connections, then stops the checkpointer: the
    connection of a checkpoint under way went back to the pool just closed and stayed open
    there, holding the file, its log and shared memory (a deleted file's too), until the
    collector found it."""
    path = tmp_path / "disposed.db"
    engine = make_engine(f"sqlite:///{path}", lock_wait_ms=5_000)
    migrate.upgrade(engine)
    lock = write_lock_of(engine)
    gc.disable()  # the pool left behind is freed by the collector only
    try:
        assert lock.take()  # the checkpointer, once due, takes a connection and waits
        lock.checkpointer.committed()
        _wait_for(lambda: lock._queue.queued == 1)  # its connection taken, waiting
        pool = engine.pool
        disposing = threading.Thread(target=engine.dispose)
        disposing.start()
        _wait_for(lambda: engine.pool is not pool)  # closed, the checkpointer's aside
        lock.release()
        disposing.join(timeout=10)
        assert not disposing.is_alive()
        assert _descriptors_on(path) == []
    finally:
        gc.enable()


def test_the_checkpointers_connection_is_given_back_to_the_turns_too(sqlite_engine, monkeypatch):
    """Its connection is closed after each checkpoint, not given back to the pool (above),
    and a pooled connection counts for the thread that took it (portal/turns.py: a request
    holding one keeps its turn while it waits). Counted at checkout and never let go, the
    checkpointer's thread held connections for ever; a request thread given its identity
    once it ended kept its turn while waiting for another node (the whole suite's workers
    met it: test_turns and test_request_threads failed in ci-local)."""
    monkeypatch.setattr(db_module.WalCheckpointer, "PAUSE", 60)
    checkpointer = write_lock_of(sqlite_engine).checkpointer
    with unit_of_work(sqlite_engine) as db:
        _append(db, "one write")
    _wait_for(lambda: checkpointer.checkpoints > 0)  # done, and in its pause
    assert checkpointer._thread not in turns._connections


def test_a_checkpoint_takes_no_connection_from_the_pool(sqlite_engine):
    """The checkpointer works on a connection of its own. Before, it took the pool's warmest
    connection for each checkpoint and closed it after: every quarter of a second the next
    request opened a connection afresh, and a worker whose last connection that was closed
    SQLite's log and shared memory under the other workers (SQLite's last-connection close),
    which a server worker of the disclosure benchmark met as "file is not a database"."""
    checkpointer = write_lock_of(sqlite_engine).checkpointer
    with unit_of_work(sqlite_engine) as db:
        _append(db, "the first write")
        pooled = db.connection().connection.dbapi_connection
    for number in range(3):
        _wait_for(lambda before=checkpointer.checkpoints: checkpointer.checkpoints > before)
        with unit_of_work(sqlite_engine) as db:
            assert db.connection().connection.dbapi_connection is pooled, number
            _append(db, f"write {number}")
    path = sqlite_engine.url.database
    sqlite_engine.dispose()  # the checkpointer's own is closed with the pool's
    assert _descriptors_on(path) == []


def _descriptors_on(path) -> list[str]:
    """This process's open files that are `path` or its -wal or -shm."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.removesuffix(" (deleted)") in (str(path), f"{path}-wal", f"{path}-shm"):
            found.append(target)
    return found


def test_no_checkpoint_runs_while_a_writer_holds_the_lock(sqlite_engine, monkeypatch):
    """SQLite up to 3.51.2 (this Python's is older) can lose pages of a committed
    transaction when a checkpoint starts just after another ended and a writer starts the
    write-ahead log over meanwhile (sqlite.org/wal.html#walresetbug): a database disk image
    malformed. The checkpointer takes the writers' lock first, so no writer of any process
    writes while it copies; it tries again once the writer is done."""
    checkpointer = _checkpointed_once(sqlite_engine, monkeypatch)
    with unit_of_work(sqlite_engine) as db:
        _append(db, "holding the lock")
        db.flush()  # the lock held: a checkpoint due before has ended, none starts now
        before = checkpointer.checkpoints
        checkpointer.committed()  # due now: it must wait for this writer
        time.sleep(0.5)  # past the engine's 300 ms wait: it gives up, and tries again
        assert checkpointer.checkpoints == before
    _wait_for(lambda: checkpointer.checkpoints > before)


def test_the_checkpointer_writes_the_log_out_before_it_waits_for_the_writers(
    sqlite_engine, monkeypatch
):
    """Under synchronous=NORMAL no commit syncs the write-ahead log: a checkpoint's first
    fsync wrote out everything committed since the last one (10-19 MB a second under the
    case summary), with the writers' lock held, and no request of the node committed
    meanwhile (38-54 ms, once a second). The checkpointer syncs the log first, without the
    lock; the checkpoint's own fsync then finds little left to write."""
    checkpointer = _checkpointed_once(sqlite_engine, monkeypatch)
    lock = write_lock_of(sqlite_engine)
    log = os.path.realpath(f"{sqlite_engine.url.database}-wal")
    synced = []

    def recording(handle) -> None:
        # Only this database's log: a checkpointer an earlier test left running in this
        # process (its engine not yet collected) syncs its own log through the same function.
        if os.readlink(f"/proc/self/fd/{handle}") == log:
            synced.append(lock._queue.queued)

    with unit_of_work(sqlite_engine) as db:
        _append(db, "holding the lock")
        db.flush()  # the writers' lock held: a checkpoint due from now on waits for it
        before = checkpointer.checkpoints
        monkeypatch.setattr(db_module, "_fdatasync", recording)
        checkpointer.committed()
        _wait_for(lambda: synced)  # synced while this writer still holds the lock
        assert synced[0] == 0  # none waiting for the lock yet
        assert checkpointer.checkpoints == before
    _wait_for(lambda: checkpointer.checkpoints > before)


def test_a_database_without_a_log_file_has_nothing_to_sync(tmp_path, monkeypatch):
    """An in-memory database has no log file, nor has a file database in rollback mode:
    nothing is synced, and nothing fails."""
    synced = []
    monkeypatch.setattr(db_module, "_fdatasync", synced.append)
    for connection in (sqlite3.connect(":memory:"), sqlite3.connect(tmp_path / "fresh.db")):
        try:
            db_module._sync_log(connection)
        finally:
            connection.close()
    assert synced == []
    assert not (tmp_path / "fresh.db-wal").exists()


def test_a_log_that_cannot_be_synced_early_is_still_checkpointed(
    sqlite_engine, monkeypatch, caplog
):
    """The early sync only moves work out of the writers' lock: when it fails (a warning
    says so), the checkpoint runs all the same and writes the log itself. It was skipped,
    and tried again only 5 s later, to fail the same way."""
    checkpointer = _checkpointed_once(sqlite_engine, monkeypatch)
    failed_at = []  # the checkpoints counted when the early sync failed

    def failing(_handle) -> None:
        failed_at.append(checkpointer.checkpoints)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(db_module, "_fdatasync", failing)
    with unit_of_work(sqlite_engine) as db:
        _append(db, "second")
    _wait_for(lambda: failed_at and checkpointer.checkpoints > failed_at[0])
    assert "WAL written out before its checkpoint failed: [Errno 5]" in caplog.text


def _checkpointed_once(engine, monkeypatch):
    """The engine's checkpointer, ready again at once after each checkpoint, once one
    has run after a write."""
    monkeypatch.setattr(db_module.WalCheckpointer, "PAUSE", 0.01)
    checkpointer = write_lock_of(engine).checkpointer
    with unit_of_work(engine) as db:
        _append(db, "first")
    _wait_for(lambda: checkpointer.checkpoints > 0)
    return checkpointer


def _wait_for(condition, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert condition()


def test_a_fifo_lock_wait_ends_at_its_limit_and_leaves_the_queue():
    lock = FifoLock()
    lock.acquire()
    assert lock.acquire(timeout=0.01) is False
    assert lock.queued == 0
    lock.release()
    assert lock.acquire(timeout=0.01) is True


def test_a_fork_never_happens_in_the_middle_of_a_checkpoint(sqlite_engine, monkeypatch):
    """A process forked while a thread of it is inside SQLite inherits SQLite's mutexes
    held by a thread the child does not have: the child's first connection waits for ever
    (CI hung in the disclosure benchmark's forked server, its worker in sqlite3.connect).
    The checkpointer works holding the lock a fork takes first."""
    monkeypatch.setattr(db_module.WalCheckpointer, "PAUSE", 0.01)
    held_while_working = []
    original = db_module.WalCheckpointer._checkpoint

    def watched(self, connection, writers):
        held_while_working.append(db_module._SQLITE_WORK_IN_BACKGROUND.locked())
        return original(self, connection, writers)

    monkeypatch.setattr(db_module.WalCheckpointer, "_checkpoint", watched)
    with unit_of_work(sqlite_engine) as db:
        _append(db, "first")
    # A checkpoint after this commit, watched (one counted before the watch proves nothing).
    _wait_for(lambda: held_while_working)
    assert held_while_working and all(held_while_working)

    # A fork waits for a checkpoint under way, and the child starts with the lock free.
    db_module._SQLITE_WORK_IN_BACKGROUND.acquire()  # as a checkpoint under way holds it
    forked = []

    def fork_and_report() -> None:
        pid = os.fork()
        if pid == 0:
            os._exit(0 if not db_module._SQLITE_WORK_IN_BACKGROUND.locked() else 1)
        forked.append(os.waitpid(pid, 0)[1])

    forking = threading.Thread(target=fork_and_report)
    forking.start()
    time.sleep(0.3)
    assert not forked, "the process forked in the middle of a checkpoint"
    db_module._SQLITE_WORK_IN_BACKGROUND.release()
    forking.join(timeout=10)
    assert forked == [0]


def test_rows_committed_without_the_writers_lock_are_refused_under_the_tests(sqlite_engine):
    """The writers' lock is taken at a transaction's first write, as the statements show it
    (`_note_writes`). A write that goes round that check could start SQLite's log over while
    another process checkpoints (the WAL-reset bug of SQLite up to 3.51.2): its commit is
    refused here, and said in the node's log in production."""
    assert os.environ.get(db_module.UNLOCKED_WRITES) == "refuse"  # tests/conftest.py
    with Session(sqlite_engine) as db:
        connection = db.connection()
        raw = connection.connection.dbapi_connection  # past SQLAlchemy: no statement seen
        raw.execute("INSERT INTO sign_in_count (key, count, expires_at) VALUES ('synthetic', 1, 0)")
        with pytest.raises(db_module.UnlockedWrite, match="1 row"):
            db.commit()
    with Session(sqlite_engine) as db:  # refused: nothing of it was kept
        assert _sign_in_counts(db, "synthetic") == 0
        _append(db, "through the check")  # the usual way takes the lock, and commits
        db.commit()


def _sign_in_counts(db, key: str) -> int:
    found = db.execute(text("SELECT count(*) FROM sign_in_count WHERE key = :key"), {"key": key})
    return found.scalar_one()


@pytest.mark.parametrize(
    "statement",
    [
        "WITH one AS (SELECT 1 AS n) "
        "INSERT INTO sign_in_count (key, count, expires_at) SELECT 'synthetic', n, 0 FROM one",
        "/* why, not what */ INSERT INTO sign_in_count (key, count, expires_at) "
        "VALUES ('synthetic', 1, 0)",
        "-- a comment's line\n  INSERT INTO sign_in_count (key, count, expires_at) "
        "VALUES ('synthetic', 1, 0)",
    ],
    ids=["with", "block-comment", "line-comment"],
)
def test_a_write_led_by_a_with_or_a_comment_takes_the_writers_lock(sqlite_engine, statement):
    """Whether a statement writes was read from its first word alone: a write led by a WITH
    or a comment went without the writers' lock, and its commit was refused here."""
    with Session(sqlite_engine) as db:
        db.execute(text(statement))
        db.commit()
    with Session(sqlite_engine) as db:
        assert _sign_in_counts(db, "synthetic") == 1


def test_a_read_led_by_a_with_or_a_comment_takes_no_lock(sqlite_engine):
    with Session(sqlite_engine) as db:
        for statement in ("WITH one AS (SELECT 1) SELECT * FROM one", "/* x */ SELECT 1"):
            db.execute(text(statement))
        assert db_module._HOLDS not in db.connection().info


def test_a_log_grown_by_a_burst_is_trimmed_when_sqlite_starts_it_over(tmp_path, monkeypatch):
    """After a burst of writes the write-ahead log file is trimmed back to the limit once
    checkpointed and started over. Before, it kept its largest size for good."""
    monkeypatch.setattr(db_module, "WAL_KEPT_BYTES", 256 * 1024)
    path = tmp_path / "burst.db"
    engine = make_engine(f"sqlite:///{path}", lock_wait_ms=300)
    try:
        migrate.upgrade(engine)
        checkpointer = write_lock_of(engine).checkpointer
        with unit_of_work(engine) as db:
            db.execute(text("CREATE TABLE burst (payload BLOB)"))
            for _ in range(40):
                db.execute(text("INSERT INTO burst VALUES (:b)"), {"b": os.urandom(64 * 1024)})
        wal = f"{path}-wal"
        assert os.path.getsize(wal) > 2 * 1024 * 1024
        _wait_for(lambda: checkpointer.checkpoints > 0)
        with unit_of_work(engine) as db:  # SQLite starts the log over at the next write
            _append(db, "after the burst")
        assert os.path.getsize(wal) <= 256 * 1024
    finally:
        engine.dispose()
