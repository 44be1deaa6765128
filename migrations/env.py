"""Alembic environment. Imports nothing from the application: the schema lives here.

`portal db` passes a connection (and, only for `revision --autogenerate`, the models'
metadata) through config.attributes; the plain `alembic` command reads DATABASE_URL.
"""

import os

from alembic import context
from sqlalchemy import create_engine

config = context.config


def _render_item(type_, obj, autogen_context):
    # Keep application types out of migration files: render them as what they store.
    if type_ == "type" and type(obj).__module__.startswith(("portal.", "sqlmodel.")):
        impl = obj.impl if hasattr(obj, "impl") else obj
        if type(obj).__name__ == "AutoString":
            return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
        return f"sa.{impl!r}"
    return False


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=config.attributes.get("target_metadata"),
        render_item=_render_item,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Never queue behind a long transaction holding the live site hostage.
            connection.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = os.environ.get("DATABASE_URL") or "sqlite:///portal-demo.db"  # as portal/settings.py
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    # A refused statement's values stay out of the error, as under `portal db upgrade`
    # (portal.db.make_engine): a data migration can carry survivors' words.
    with create_engine(url, hide_parameters=True).connect() as connection:
        _run(connection)
