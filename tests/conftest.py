"""Shared fixtures: a database per backend built by the migrations, a savepoint per test."""

from __future__ import annotations

import base64
import logging
import os
import secrets
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from traceback import extract_stack, format_list

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from sqlmodel import Session
from starlette.datastructures import Secret
from starlette.testclient import TestClient

from portal import migrate
from portal.app import create_app
from portal.audit import lock_order
from portal.auth import passwords
from portal.crypto import KeyWrapper
from portal.db import UNLOCKED_WRITES, make_engine
from portal.federation import transport
from portal.settings import NodeSecrets, Settings

sys.path.insert(0, str(Path(__file__).parent))

import loopback_only

from databases import BACKENDS, TEST_SETUP, migrated_engine, new_empty_database

loopback_only.install()

# A call to another node sent with a lock held fails the build (issue 15): it raises here,
# and in every node and command the tests start (they inherit the environment). Set to
# "log" to see what such a call holds up (the fixture below still fails the test).
os.environ.setdefault(transport.LOCKS_ACROSS_CALLS, "refuse")
# Rows committed without the writers' lock fail the build too (portal.db, the WAL-reset bug).
os.environ.setdefault(UNLOCKED_WRITES, "refuse")
# An audit log locked out of order raises in the nodes and commands the tests start; in
# this process the fixture below fails the test instead.
os.environ.setdefault(lock_order.LOG_ORDER, "refuse")


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.getMessage()}\n{record.stack_info or ''}")


@pytest.fixture(autouse=True)
def no_lock_held_across_a_call():
    """Fails the test if any call to another node in this process was sent with a lock held,
    even where the refusal was caught on its way (a node's page answering 500, a handler
    that counts the node as unavailable)."""
    kept = _Kept()
    logger = logging.getLogger(transport.__name__)
    logger.addHandler(kept)
    try:
        yield kept  # a test of the check itself takes what it provoked (`messages`)
    finally:
        logger.removeHandler(kept)
    held = [m for m in kept.messages if "sent with" in m]
    assert not held, "a call to another node held a lock:\n" + "\n".join(held)


_OUT_OF_ORDER: list[str] = []  # what `lock_order.taken_out_of_order` was told, since the last test


def _noted_out_of_order(_db, held, taking) -> None:
    # Setups (`TEST_SETUP`, the product's mark of a transaction alone) never come here.
    ours = [f for f in extract_stack()[:-1] if "/portal/" in f.filename or "/tests/" in f.filename]
    where = "".join(format_list(ours[-12:]))
    _OUT_OF_ORDER.append(f"{taking} taken while holding {held}, from:\n{where}")
    if os.environ.get("LOCKORDER_DUMP"):
        with open(os.environ["LOCKORDER_DUMP"], "a") as dump:
            dump.write(f"=== {os.environ.get('PYTEST_CURRENT_TEST')}\n{_OUT_OF_ORDER[-1]}\n")


@pytest.fixture(scope="session", autouse=True)
def _audit_log_order_noted():
    """For the whole run, module-scoped worlds' setups included (built before any test's
    own fixtures): their transactions are checked too, and reported at the test after."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lock_order, "taken_out_of_order", _noted_out_of_order)
        yield


@pytest.fixture(autouse=True)
def audit_logs_locked_in_order(_audit_log_order_noted):
    """Fails the test if a transaction of the code under test (a request's, a command's, a
    service's unit of work) took a lock out of the one order (`portal.audit.lock_order`):
    rows (a case, a client, a mentor assignment, a task) or an audit log behind a log it
    held that comes later. On PostgreSQL two such transactions can deadlock, and one is
    thrown out ("try again"). A deadlock needs a second request at the right moment; the
    order only this one. Not the tests' own setups (`TEST_SETUP`). LOCKORDER_DUMP, a file
    name: every report of the run is appended there too, to survey them at once."""
    yield _OUT_OF_ORDER  # a test of the check itself takes what it provoked
    found = list(_OUT_OF_ORDER)
    del _OUT_OF_ORDER[:]
    assert not found, "locked out of order (agency ids; None: the node's log):\n" + (
        "\n".join(found)
    )


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing():
    """Argon2id with the cheapest parameters while testing; the product's are untouched."""
    original = passwords._hasher
    passwords._hasher = PasswordHasher.from_parameters(CHEAPEST)
    yield
    passwords._hasher = original


@pytest.fixture(autouse=True)
def own_audit_journal(tmp_path, monkeypatch):
    """Each test's journal of signed checkpoints is its own: the default is a file in the
    working directory, where a demo run leaves the checkpoints of its agencies (which a
    test's `portal audit verify` then reports as gone)."""
    monkeypatch.setenv("PORTAL_AUDIT_JOURNAL", str(tmp_path / "audit-journal.jsonl"))


class Clock:
    """An injectable clock that tests move by hand."""

    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or datetime(2026, 11, 2, 15, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_secrets() -> NodeSecrets:
    return NodeSecrets(
        session_key=Secret(secrets.token_urlsafe(32)),
        key_encryption_key=Secret(base64.b64encode(secrets.token_bytes(32)).decode()),
    )


@pytest.fixture(scope="session")
def node_secrets() -> NodeSecrets:
    return test_secrets()


@pytest.fixture
def keys(node_secrets) -> KeyWrapper:
    return KeyWrapper(node_secrets.kek_bytes())


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def _engines(tmp_path_factory):
    """The run's databases, one per backend, each made when first asked for and kept to the
    end: under `pytest -n` (./ops/test) a worker takes a module at a time, of either
    backend, and going from one backend to the other must not build a database again."""
    made = {}

    def engine_for(backend: str):
        if backend not in made:
            url, drop = new_empty_database(backend, tmp_path_factory.mktemp(backend))
            engine = make_engine(url)
            made[backend] = (engine, drop)
            migrate.upgrade(engine)
        return made[backend][0]

    yield engine_for
    for engine, drop in made.values():
        engine.dispose()
        drop()


@pytest.fixture(scope="session")
def engine(backend, _engines):
    """One database per backend for the run, built by running the migrations."""
    return _engines(backend)


@pytest.fixture
def connection(engine):
    with engine.connect() as connection:
        outer = connection.begin()
        yield connection
        if outer.is_active:
            outer.rollback()


@pytest.fixture
def db(connection):
    """A session whose commits release savepoints; the test's outer transaction is undone."""
    with Session(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    ) as session:
        session.info[TEST_SETUP] = True
        yield session


@pytest.fixture(params=BACKENDS)
def committed_engine(request, tmp_path):
    """A database of its own whose transactions really commit, one per request, for two
    people's writes at once (a module whose writers need more connections has its own)."""
    with migrated_engine(request.param, tmp_path, pool_size=4, lock_wait_ms=5_000) as engine:
        yield engine


@pytest.fixture
def settings(engine, node_secrets, clock) -> Settings:
    return Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        secrets=node_secrets,
        cookie_secure=False,
        clock=clock,
    )


@pytest.fixture
def app(settings, engine, connection):
    return create_app(settings, engine=engine, bind=connection)


@pytest.fixture
def client(app):
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture
def lenient(app):
    """The app's client that answers a 500 instead of raising it in the test."""
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as c:
        yield c
