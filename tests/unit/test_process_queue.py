"""The writers of several processes on one SQLite file take turns (portal/process_queue.py).

Each "other process" here is a real one: a Python started for the test, on the same file.
"""

import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlmodel import Session
from test_write_lock import _wait_for

from portal import migrate
from portal.audit import AuditTag, record, verify
from portal.db import PROCESS_QUEUE_SUFFIX, WriteLock, make_engine, unit_of_work, write_lock_of
from portal.db_faults import is_unavailable
from portal.process_queue import ProcessQueue

import factories as make

ROOT = Path(__file__).resolve().parents[2]


def _start(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _line(process: subprocess.Popen) -> str:
    line = process.stdout.readline().strip()
    if not line:
        raise AssertionError(f"the other process said nothing: {process.stderr.read()}")
    return line


def _in_line(process: subprocess.Popen, lock_file: Path, *, at_most: float) -> None:
    """Until `process` holds a record lock on `lock_file` (the turnstile, which a writer
    holds while it waits in line, or the write lock), as the kernel lists them, or
    `at_most` seconds have passed. /proc/locks is read, not the file opened: closing any
    descriptor on it would let go of every lock this process holds there."""
    # "1: POSIX  ADVISORY  WRITE <pid> <major>:<minor>:<inode> <start> <end>"
    held = ("POSIX", str(process.pid), str(os.stat(lock_file).st_ino))
    deadline = time.monotonic() + at_most
    while time.monotonic() < deadline:
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            if (fields[1], fields[4], fields[5].rsplit(":", 1)[-1]) == held:
                return
        time.sleep(0.01)


HOLDER = """
    import sys, time
    from portal.process_queue import ProcessQueue
    queue = ProcessQueue.of(sys.argv[1])
    print("asking", flush=True)
    print("held" if queue.acquire(timeout=10) else "timed out", flush=True)
    time.sleep(float(sys.argv[2]))
    queue.release()
    print("released", flush=True)
"""


def test_a_process_that_lets_go_cannot_take_the_lock_back_from_one_waiting(tmp_path):
    """Process B waits while this one writes; this one lets go and asks again at once.
    B is served first: it waits at the turnstile, which this process must pass again.
    Without the turnstile, the process that just let go took the lock straight back
    while B slept between its tries."""
    path = str(tmp_path / f"node.db{PROCESS_QUEUE_SUFFIX}")
    queue = ProcessQueue.of(path)
    assert queue.acquire(timeout=1)
    waiting = _start(HOLDER, path, "1.0")
    try:
        assert _line(waiting) == "asking"
        # B is in line (it holds the turnstile), trying the lock between short sleeps. A
        # fixed 0.1 s after "asking" could end before it was, on a loaded machine: this
        # process then took the lock straight back.
        _in_line(waiting, Path(path), at_most=5)
        queue.release()
        assert queue.acquire(timeout=0.3) is False  # B holds it now, for a second
        assert _line(waiting) == "held"
        assert _line(waiting) == "released"
        assert queue.acquire(timeout=5)  # and then it is ours again
        queue.release()
    finally:
        waiting.kill()
        waiting.wait()


def test_a_writer_waits_for_another_process_only_as_long_as_the_limit(tmp_path):
    url = f"sqlite:///{tmp_path / 'node.db'}"
    engine = make_engine(url, lock_wait_ms=300)
    migrate.upgrade(engine)
    holder = _start(HOLDER, str(tmp_path / f"node.db{PROCESS_QUEUE_SUFFIX}"), "5")
    try:
        assert _line(holder) == "asking"
        assert _line(holder) == "held"
        with pytest.raises(Exception) as raised, unit_of_work(engine) as db:
            record(db, AuditTag.SIGN_IN_FAILED, agency_id=None, subject="waits", at=make.AT)
        assert is_unavailable(raised.value)  # answered 503: try again, nothing saved
    finally:
        holder.kill()
        holder.wait()
    with unit_of_work(engine) as db:  # the other process ended: its lock went with it
        record(db, AuditTag.SIGN_IN_FAILED, agency_id=None, subject="after", at=make.AT)
    engine.dispose()


APPENDER = """
    import sys
    from portal.audit import AuditTag, record
    from portal.db import make_engine, unit_of_work
    from datetime import UTC, datetime
    engine = make_engine(sys.argv[1], lock_wait_ms=30_000)
    for number in range(int(sys.argv[3])):
        with unit_of_work(engine) as db:
            record(db, AuditTag.SIGN_IN_FAILED, agency_id=None, subject=sys.argv[2],
                   at=datetime(2026, 11, 2, 15, 0, tzinfo=UTC))
    print("done", flush=True)
"""


def test_writers_of_several_processes_never_fork_the_chain(tmp_path):
    url = f"sqlite:///{tmp_path / 'node.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    appenders = [_start(APPENDER, url, name, "150") for name in ("first", "second", "third")]
    try:
        for appender in appenders:
            assert _line(appender) == "done"
    finally:
        for appender in appenders:
            appender.kill()
            appender.wait()
    with Session(engine) as db:
        (report,) = [r for r in verify.verify_all(db) if r.entries]
    assert report.ok and report.entries == 450
    engine.dispose()


def _append(engine, subject: str) -> None:
    with unit_of_work(engine) as db:
        record(db, AuditTag.SIGN_IN_FAILED, agency_id=None, subject=subject, at=make.AT)


def test_a_lock_file_that_cannot_be_used_leaves_the_writers_to_sqlites_lock(tmp_path, caplog):
    """A lock file this process cannot open (here a folder in its place; a read-only
    folder, another user's file, no record locks on the file system) costs the turn between
    processes, never the writes. Before, the first write failed (IsADirectoryError, a 500)
    and kept the process's queue: every later writer waited out the limit (503)."""
    (tmp_path / f"node.db{PROCESS_QUEUE_SUFFIX}").mkdir()
    engine = make_engine(f"sqlite:///{tmp_path / 'node.db'}", lock_wait_ms=300)
    try:
        migrate.upgrade(engine)
        _append(engine, "first")
        _append(engine, "second")
        # Let go once the writes end; the WAL checkpointer may be taking its own turn after
        # them (it did in ci-local), so it is waited for, not read at once.
        queue = write_lock_of(engine)._queue
        _wait_for(lambda: queue.held is False)
        assert "cannot be used" in caplog.text
        with Session(engine) as db:
            (report,) = [r for r in verify.verify_all(db) if r.entries]
        assert report.ok and report.entries == 2
    finally:
        engine.dispose()


class _Interrupted(ProcessQueue):
    def acquire(self, timeout: float) -> bool:
        raise KeyboardInterrupt  # or any error while taking the turn


def test_a_failure_while_taking_the_turn_gives_the_process_queue_back(tmp_path):
    lock = WriteLock(queue=True, wait_ms=200, processes=_Interrupted(str(tmp_path / "x")))
    with pytest.raises(KeyboardInterrupt):
        lock.acquire()
    assert lock._queue.held is False  # the next writer of this process is not kept waiting


def test_writers_through_a_link_to_the_database_take_turns_with_the_others(tmp_path):
    """SQLite puts its -wal beside the file a link leads to; the writers' lock file too,
    or a process reaching the database through a link would queue apart."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "node.db").touch()
    (tmp_path / "node.db").symlink_to(tmp_path / "data" / "node.db")
    direct = make_engine(f"sqlite:///{tmp_path / 'data' / 'node.db'}")
    linked = make_engine(f"sqlite:///{tmp_path / 'node.db'}")
    try:
        assert write_lock_of(linked).processes is write_lock_of(direct).processes
        assert write_lock_of(linked).processes.path == str(
            tmp_path / "data" / f"node.db{PROCESS_QUEUE_SUFFIX}"
        )
    finally:
        direct.dispose()
        linked.dispose()


def test_the_lock_file_takes_the_database_files_mode_and_owner(tmp_path):
    """As SQLite's -wal and -shm: a command run by root (or with a tighter umask) must not
    leave a lock file the server's workers cannot open."""
    database = tmp_path / "node.db"
    database.touch(mode=0o600)
    os.chmod(database, 0o660)
    owner = (65534, 65534) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    if os.geteuid() == 0:
        os.chown(database, *owner)  # the service's user; this process is root
    engine = make_engine(f"sqlite:///{database}")
    try:
        migrate.upgrade(engine)
        _append(engine, "written by root")
        made = os.stat(tmp_path / f"node.db{PROCESS_QUEUE_SUFFIX}")
        assert stat.S_IMODE(made.st_mode) == 0o660
        assert (made.st_uid, made.st_gid) == owner
    finally:
        engine.dispose()


WRITER = """
    import sys, time
    from datetime import UTC, datetime
    from portal.audit import AuditTag, record
    from portal.db import make_engine, unit_of_work
    from portal.db_faults import is_unavailable
    engine = make_engine(sys.argv[1], lock_wait_ms=int(sys.argv[2]))
    print("writing", flush=True)
    try:
        with unit_of_work(engine) as db:
            record(db, AuditTag.SIGN_IN_FAILED, agency_id=None, subject="worker",
                   at=datetime(2026, 11, 2, 15, 0, tzinfo=UTC))
        print("saved", flush=True)
    except Exception as error:
        print("503" if is_unavailable(error) else repr(error), flush=True)
"""


def test_a_migration_that_changes_the_schema_then_writes_does_not_hold_up_a_worker(tmp_path):
    """`portal db upgrade` on a node that serves: a migration's DDL takes SQLite's lock,
    and its data step (or alembic's version row) then asks for the writers' turn. A
    worker's writer that took the turn in between waits for SQLite's lock while holding
    it: both wait, until the worker's limit answers it 503. The DDL takes the turn first."""
    url = f"sqlite:///{tmp_path / 'node.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with engine.connect() as migration:
        migration.begin()
        migration.exec_driver_sql("CREATE TABLE added (x INTEGER)")
        # The worker's limit ends only a wait for each other (before the fix, answered
        # 503): ample, so that the migration's write and commit and the worker's own, slow
        # on a loaded machine, never run past it.
        worker = _start(WRITER, url, "10000")
        try:
            assert _line(worker) == "writing"
            # Go on once the worker's writer is at the lock, not after a fixed second of
            # the worker's wait.
            _in_line(worker, tmp_path / f"node.db{PROCESS_QUEUE_SUFFIX}", at_most=3)
            migration.exec_driver_sql("INSERT INTO added VALUES (1)")
            migration.commit()
            assert _line(worker) == "saved"
        finally:
            worker.kill()
            worker.wait()
    engine.dispose()


def _descriptors_on(path: Path) -> int:
    return sum(
        1
        for fd in os.listdir("/proc/self/fd")
        if os.path.realpath(f"/proc/self/fd/{fd}") == str(path)
    )


def test_a_disposed_engine_leaves_no_descriptor_on_the_lock_file(tmp_path):
    """The whole test run left 143 of them open (one per database written), 769 descriptors
    in all at its end, against a usual limit of 1,024."""
    sidecar = tmp_path / f"node.db{PROCESS_QUEUE_SUFFIX}"
    engine = make_engine(f"sqlite:///{tmp_path / 'node.db'}")
    migrate.upgrade(engine)
    _append(engine, "first")
    assert _descriptors_on(sidecar) == 1
    engine.dispose()
    assert _descriptors_on(sidecar) == 0
    _append(engine, "after dispose")  # opened again by the next writer
    assert _descriptors_on(sidecar) == 1
    engine.dispose()
