"""Throw-away databases for benchmarks and tests: made empty, dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from portal.db import normalise_url


def scratch_database(
    backend: str, *, directory: Path, postgres_url: str = "", prefix: str = "portal_scratch"
) -> tuple[str, Callable[[], None]]:
    """A new empty database: an SQLite file in `directory`, or a PostgreSQL database made
    on the server at `postgres_url`. Returns its URL and the function that drops it."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    if backend == "sqlite":
        path = directory / f"{name}.db"
        return f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)
    admin = create_engine(normalise_url(postgres_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(normalise_url(postgres_url)).set(database=name)

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.render_as_string(hide_password=False), drop


def settle(engine: Engine) -> None:
    """After a bulk load, the steady state of a live database: statistics gathered and, on
    PostgreSQL, the visibility map set (VACUUM ANALYZE), as autovacuum would have done.
    Without it the planner works blind on the fresh rows, and on PostgreSQL autovacuum does
    that work in the middle of whatever is measured next."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    else:
        with engine.connect() as connection:
            connection.execute(text("ANALYZE"))
            connection.commit()
