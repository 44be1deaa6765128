"""Migrations are the truth: they agree with the models and go down and up cleanly."""

import pytest
from sqlalchemy import inspect

from portal import migrate
from portal.db import make_engine

from databases import BACKENDS, new_empty_database


@pytest.fixture(params=BACKENDS)
def empty_engine(request, tmp_path):
    url, drop = new_empty_database(request.param, tmp_path)
    engine = make_engine(url)
    yield engine
    engine.dispose()
    drop()


def test_upgrade_downgrade_upgrade_and_no_autogenerate_diff(empty_engine):
    migrate.upgrade(empty_engine)
    assert migrate.is_current(empty_engine)
    assert migrate.schema_differences(empty_engine) == []

    migrate.downgrade(empty_engine, "base")
    assert migrate.current_revision(empty_engine) is None
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}

    migrate.upgrade(empty_engine)
    assert migrate.is_current(empty_engine)
    assert migrate.schema_differences(empty_engine) == []


def test_migration_files_do_not_import_the_application():
    for path in migrate.MIGRATIONS_DIR.rglob("*.py"):
        source = path.read_text()
        assert "import portal" not in source and "from portal" not in source, path
