"""The writers of several processes on one SQLite file take turns (portal/process_queue.py).

Each "other process" here is a real one: a Python started for the test, on the same file.
"""

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlmodel import Session

from portal import migrate
from portal.audit import AuditTag, record, verify
from portal.db import PROCESS_QUEUE_SUFFIX, make_engine, unit_of_work
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
        time.sleep(0.1)  # B is in line, trying the lock between short sleeps
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
