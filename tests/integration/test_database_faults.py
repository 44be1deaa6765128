"""A database that fails under a request: 503 "try again", nothing half-written, and the
next request is served. Each test has a scratch database of its own (no test transaction
around the app), since what is tried is the real commit and the real connection."""

from __future__ import annotations

import dataclasses
import functools
import sqlite3
import time

import psycopg
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from portal import db as db_module
from portal import migrate
from portal.app import create_app
from portal.db import make_engine, normalise_url, unit_of_work
from portal.models import AuditEntry, MdtCase, Role

import factories as make
from databases import new_empty_database

CASE_FORM = {"intake_date": "2026-11-01", "referral_source": "hotline"}


@pytest.fixture
def live(backend, tmp_path, settings, keys):
    """(client signed in as a coordinator, engine) on a scratch database."""
    url, drop = new_empty_database(backend, tmp_path)
    lock_wait_ms = 300
    engine = make_engine(url, lock_wait_ms=lock_wait_ms)
    migrate.upgrade(engine)
    with unit_of_work(engine) as db:
        agency = make.agency(db, keys)
        make.user(db, agency, Role.MDT_COORDINATOR, username="coordinator")
    live_settings = dataclasses.replace(
        settings, database_url=url, database_lock_wait_ms=lock_wait_ms
    )
    app = create_app(live_settings, engine=engine)
    with TestClient(app, follow_redirects=False) as client:
        make.login(client, "coordinator")
        yield client, engine
    engine.dispose()
    drop()


def _written(engine) -> tuple[int, int]:
    with engine.connect() as connection:
        cases = connection.execute(select(func.count()).select_from(MdtCase)).scalar_one()
        audit = connection.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    return cases, audit


def _open_case(client, token: str | None = None):
    token = token or make.csrf_of_page(client, "/cases/new")
    return client.post("/cases", data={**CASE_FORM, "csrf_token": token})


def _assert_unavailable(response) -> None:
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert "Nothing was saved" in response.text and "try again" in response.text
    assert response.headers["X-Request-ID"] in response.text


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_connection_cut_mid_request_is_a_503_and_nothing_is_half_written(live):
    client, engine = live
    before = _written(engine)
    url = make_url(normalise_url(engine.url.render_as_string(hide_password=False)))
    cut = {"armed": True}

    @event.listens_for(engine, "before_cursor_execute")
    def terminate_before_the_first_insert(conn, cursor, statement, *args):
        # From another connection, as an operator or a failover would: the request's
        # connection dies between its reads and its first write.
        if cut["armed"] and statement.lstrip().upper().startswith("INSERT"):
            cut["armed"] = False
            pid = conn.connection.dbapi_connection.info.backend_pid
            dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
            with psycopg.connect(dsn, autocommit=True) as other:
                other.execute("SELECT pg_terminate_backend(%s)", (pid,))

    _assert_unavailable(_open_case(client))
    assert not cut["armed"], "the request never reached its first write"
    assert _written(engine) == before
    event.remove(engine, "before_cursor_execute", terminate_before_the_first_insert)

    assert client.get("/readyz").status_code == 200
    assert _open_case(client).status_code == 303
    assert _written(engine)[0] == before[0] + 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_write_lock_held_past_the_limit_is_a_503_and_readiness_still_answers(live):
    client, engine = live
    before = _written(engine)
    token = make.csrf_of_page(client, "/cases/new")
    holder = sqlite3.connect(make_url(engine.url).database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer, holding the lock
    try:
        started = time.monotonic()
        _assert_unavailable(_open_case(client, token))
        assert time.monotonic() - started < 5  # the setting (300 ms) per wait, not 30 s
        # Readiness reads without the write lock: answered at once, and ready.
        started = time.monotonic()
        assert client.get("/readyz").status_code == 200
        assert time.monotonic() - started < 1.5
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert _written(engine) == before
    assert _open_case(client).status_code == 303
    assert _written(engine)[0] == before[0] + 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_readiness_answers_503_quickly_when_nothing_can_be_read(live):
    client, engine = live
    # Another process in exclusive locking mode keeps even readers out; it can take that
    # lock only once the app's pooled connections are closed.
    engine.dispose()
    holder = sqlite3.connect(make_url(engine.url).database, isolation_level=None)
    holder.execute("PRAGMA busy_timeout=5000")
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("CREATE TABLE held (x)")
    try:
        started = time.monotonic()
        response = client.get("/readyz")
        assert time.monotonic() - started < 3
        assert response.status_code == 503 and response.headers["Retry-After"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_read_only_page_survives_a_failed_final_commit(live):
    """The connection drops after the page's last read: nothing was written, so the page
    is still answered (and the next request gets a fresh connection)."""
    client, engine = live
    url = make_url(normalise_url(engine.url.render_as_string(hide_password=False)))
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    armed = {"on": False}

    @event.listens_for(engine, "commit")
    def terminate_before_commit(conn):
        if armed["on"]:
            armed["on"] = False
            pid = conn.connection.dbapi_connection.info.backend_pid
            with psycopg.connect(dsn, autocommit=True) as other:
                other.execute("SELECT pg_terminate_backend(%s)", (pid,))

    client.get("/cases/new")  # the session's last-seen time is fresh: no write follows
    armed["on"] = True
    response = client.get("/cases/new")  # reads the session and the agencies, writes nothing
    assert not armed["on"], "the page never committed"
    assert response.status_code == 200 and "intake_date" in response.text
    event.remove(engine, "commit", terminate_before_commit)
    assert client.get("/cases/new").status_code == 200


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_an_idle_connection_the_server_ended_is_replaced_before_a_request_uses_it(live):
    """The pool checks a connection before each use without a round trip while nothing has
    come from the server; one the server ended while it sat idle is still found and replaced,
    so the next request is served (not a 503)."""
    client, engine = live
    asked = []
    ping = engine.dialect.do_ping.args[0]  # the server round trip (`SELECT 1`)

    def counted(dbapi_connection):
        asked.append(dbapi_connection)
        return ping(dbapi_connection)

    engine.dialect.do_ping = functools.partial(db_module._ping_unless_quiet, counted)
    assert client.get("/cases/new").status_code == 200
    assert asked == []  # a quiet connection: no round trip
    url = make_url(normalise_url(engine.url.render_as_string(hide_password=False)))
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as other:
        ended = other.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    assert ended, "the app held no connection to end"
    time.sleep(0.2)  # the server's goodbye reaches the idle sockets
    response = client.get("/cases/new")
    assert response.status_code == 200 and "intake_date" in response.text
    assert asked, "the ended connection was not asked about"
