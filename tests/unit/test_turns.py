"""Turns (portal/turns.py): a request hands its turn on while it waits only when it holds
no database connection, so the request with the turn never waits for one waiting for a
turn. (One at a time, in arrival order: test_request_threads.py.)"""

from __future__ import annotations

import asyncio
import threading
import time

from sqlalchemy import text
from sqlmodel import Session

from portal.db import between_transactions, locks_held_here, make_engine
from portal.serving import RequestThreads
from portal.turns import handed_over, holds_a_connection


def test_outside_a_turn_a_wait_is_a_plain_block():
    with handed_over():
        pass  # the CLI, a benchmark, a background thread: nothing to hand over


def _two_requests(wait) -> None:
    """The first request runs `wait(until)`, where `until()` waits (up to two seconds)
    for the second request to have run and says whether it did. The second is sent once
    the first is waiting, not after a set while: on a loaded machine the first may not
    have had its turn by then, and the second, run first, made a kept turn look handed on."""
    threads, ran, waiting = RequestThreads(40), threading.Event(), threading.Event()

    def until() -> bool:
        waiting.set()
        return ran.wait(timeout=2)

    async def requests():
        first = asyncio.ensure_future(threads.run(wait, until))
        deadline = time.monotonic() + 30
        while not waiting.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.005)  # the first has its turn, and waits
        await threads.run(ran.set)
        await first

    # In a thread of its own: under the whole suite the browser tests' event loop already
    # runs in this one, and asyncio.run refuses to start another there.
    runner = threading.Thread(target=lambda: asyncio.run(requests()))
    runner.start()
    runner.join()


def test_a_request_without_a_connection_hands_its_turn_on_while_it_waits():
    seen = []

    def wait(until):
        with handed_over():
            seen.append(until())

    _two_requests(wait)
    assert seen == [True]  # the second request ran while the first waited


def test_a_request_that_holds_a_connection_keeps_its_turn_while_it_waits(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    try:
        seen = []

        def wait(until):
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                with handed_over():
                    seen.append(until())

        def wait_after(until):
            with engine.connect() as connection:  # given back before the wait
                connection.execute(text("SELECT 1"))
            with handed_over():
                seen.append(until())

        _two_requests(wait)
        _two_requests(wait_after)
        assert seen == [False, True]
    finally:
        engine.dispose()


def test_a_password_check_between_transactions_hands_the_turn_on_until_something_is_written(
    tmp_path,
):
    """A sign-in's argon2 check (0.1 s) runs between its unit of work's transactions while
    nothing is written yet, and other requests run meanwhile; after a write it keeps the
    transaction, and the turn, so that the writes still commit as one."""
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    try:
        with engine.begin() as setup:
            setup.execute(text("CREATE TABLE note (body TEXT)"))
        seen = []

        def read_then_check(until):
            with Session(engine, expire_on_commit=False) as db:
                db.exec(text("SELECT count(*) FROM note")).one()
                seen.append(between_transactions(db, until))
                db.commit()

        def write_then_check(until):
            with Session(engine, expire_on_commit=False) as db:
                db.exec(text("INSERT INTO note (body) VALUES ('synthetic')"))
                seen.append(between_transactions(db, until))
                db.rollback()  # the write was still this transaction's to undo

        _two_requests(read_then_check)
        _two_requests(write_then_check)
        assert seen == [True, False]
        with engine.connect() as check:
            assert check.execute(text("SELECT count(*) FROM note")).scalar_one() == 0
    finally:
        engine.dispose()


def _thread_with_the_ident_of(ident: int, work) -> object:
    """`work()` run in a new thread that got `ident` (the system gives an ended thread's
    to the next one it starts, as in a worker's pool of request threads); its result."""
    seen = {}

    def run() -> None:
        if threading.get_ident() == ident:
            seen["result"] = work()

    for _ in range(200):
        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        if "result" in seen:
            return seen["result"]
    raise AssertionError("no new thread got the ended thread's ident")


def test_a_thread_that_ended_holding_a_connection_leaves_nothing_to_the_next_with_its_ident(
    tmp_path,
):
    """Connections were counted, and their locks looked up, by thread ident: a thread that
    ended holding one (a leaked session; before 1d3fe3a, the WAL checkpointer's) handed its
    count and its write lock on to the next thread the system gave its ident. That thread,
    a request's, then kept its turn while it waited for another node, and was said to send
    a call with a lock held."""
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    kept = []
    try:
        with engine.begin() as setup:
            setup.execute(text("CREATE TABLE note (body TEXT)"))

        def leak() -> None:
            connection = engine.connect()
            connection.execute(text("INSERT INTO note (body) VALUES ('synthetic')"))
            kept.append(connection)  # ends with the connection and its write held

        ended = threading.Thread(target=leak)
        ended.start()
        ended.join()
        assert _thread_with_the_ident_of(
            ended.ident, lambda: (holds_a_connection(), locks_held_here())
        ) == (False, None)
    finally:
        for connection in kept:
            connection.close()
        engine.dispose()
