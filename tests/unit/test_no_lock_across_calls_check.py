"""The build's check that no call to another node is sent with a lock held (issue 15): a
transaction that wrote, or read a log's head FOR UPDATE (PostgreSQL), or holds the
writers' lock (SQLite) is reported at the call; one that only read, or committed, is not.
On SQLite and on PostgreSQL."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text
from sqlmodel import Session

from portal import db as database
from portal.audit import lock_logs
from portal.federation import transport
from portal.federation.transport import Federation, LockHeldAcrossCall

# A write that changes nothing, in every database built by the migrations.
NOTHING_WRITTEN = text("UPDATE audit_head SET last_seq = last_seq WHERE 1 = 0")


@pytest.fixture
def federation():
    federation = Federation(timeout_seconds=1, window_seconds=30)
    yield federation
    federation.close()


def test_a_call_sent_with_a_write_held_is_refused_and_after_the_commit_sent(
    engine, federation, no_lock_held_across_a_call
):
    assert os.environ[transport.LOCKS_ACROSS_CALLS] == "refuse"
    with Session(engine) as db:
        db.exec(text("SELECT 1"))
        assert database.locks_held_here() is None
        assert federation.send([]) == []  # a transaction that only read holds no one up
        db.exec(NOTHING_WRITTEN)
        assert database.locks_held_here() is not None
        with pytest.raises(LockHeldAcrossCall):
            federation.send([])
        db.rollback()
        assert database.locks_held_here() is None
        assert federation.send([]) == []
    assert len(no_lock_held_across_a_call.messages) == 1
    no_lock_held_across_a_call.messages.clear()  # provoked here: the test's own


def test_a_log_head_read_for_update_is_a_lock_held(engine, federation, no_lock_held_across_a_call):
    with Session(engine) as db:
        lock_logs(db, [None])  # the node's log: its head made if it was never written
        db.commit()
        lock_logs(db, [None])  # PostgreSQL: only read FOR UPDATE; SQLite: the writers' lock
        assert database.locks_held_here() is not None
        with pytest.raises(LockHeldAcrossCall):
            federation.send([])
        db.rollback()
    no_lock_held_across_a_call.messages.clear()


def test_another_threads_write_is_not_this_threads(engine, federation):
    import threading

    wrote, done = threading.Event(), threading.Event()

    def write() -> None:
        with Session(engine) as db:
            db.exec(NOTHING_WRITTEN)
            wrote.set()
            done.wait(10)
            db.rollback()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert wrote.wait(10)
        assert database.locks_held_here() is None
        assert federation.send([]) == []
    finally:
        done.set()
        writer.join(10)
