"""Test databases: a fresh, empty one per backend, and the PostgreSQL availability rule."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from portal.db import normalise_url

POSTGRES_URL = os.environ.get(
    "PORTAL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
BACKENDS = ("sqlite", "postgresql")


def _postgres_reachable() -> str | None:
    try:
        engine = create_engine(normalise_url(POSTGRES_URL), connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as error:  # any failure means: no PostgreSQL here
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"


def require_postgres() -> None:
    problem = _postgres_reachable()
    if problem is None:
        return
    message = f"PostgreSQL at {POSTGRES_URL} is not reachable ({problem})"
    if IN_CI:
        pytest.fail(message + " — under CI=true a missing PostgreSQL is a failure")
    pytest.skip(message)


def new_empty_database(backend: str, directory: Path) -> tuple[str, callable]:
    """A fresh, empty database of the backend; returns its URL and a function to drop it."""
    if backend == "sqlite":
        path = directory / f"portal-{uuid.uuid4().hex[:8]}.db"
        return f"sqlite:///{path}", lambda: None
    require_postgres()
    name = f"portal_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = (
        make_url(normalise_url(POSTGRES_URL))
        .set(database=name)
        .render_as_string(hide_password=False)
    )

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop
