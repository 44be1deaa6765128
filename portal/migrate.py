"""Alembic, driven from code: upgrade, downgrade, status, and the models-vs-migrations check."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from portal.resources import MIGRATIONS_DIR


def alembic_config(connection=None, *, with_metadata: bool = False) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    if connection is not None:
        config.attributes["connection"] = connection
    if with_metadata:
        import sqlmodel

        import portal.models  # noqa: F401 - registers every table

        config.attributes["target_metadata"] = sqlmodel.SQLModel.metadata
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), revision)


def known_revision(revision: str) -> bool:
    """Whether this portal's migrations hold `revision` (a newer portal's does not)."""
    from alembic.util import CommandError

    if not revision.strip():  # Alembic asserts on an empty name rather than say "none"
        return False
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(bind: Engine | Connection) -> str | None:
    if isinstance(bind, Connection):
        return MigrationContext.configure(bind).get_current_revision()
    with bind.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


def schema_differences(engine: Engine) -> list:
    """What autogenerate would write: empty when the models and migrations agree."""
    import sqlmodel

    import portal.models  # noqa: F401 - registers every table

    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
        )
        return compare_metadata(context, sqlmodel.SQLModel.metadata)


def new_revision(engine: Engine, message: str) -> None:
    with engine.begin() as connection:
        command.revision(
            alembic_config(connection, with_metadata=True), message=message, autogenerate=True
        )
