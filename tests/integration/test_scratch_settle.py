"""A benchmark's scratch database is measured settled, as a live one is: statistics
gathered after the bulk load, not by autovacuum in the middle of the measuring."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from portal.audit import chain
from portal.db import unit_of_work
from portal.scratch_db import settle

from databases import BACKENDS, migrated_engine


def _gathered(engine) -> bool:
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            row = connection.execute(
                text(
                    "SELECT last_vacuum IS NOT NULL AND last_analyze IS NOT NULL "
                    "FROM pg_stat_user_tables WHERE relname = 'audit_entry'"
                )
            ).scalar_one()
            return bool(row)
        tables = connection.execute(
            text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
        ).scalar_one()
        if not tables:
            return False
        found = connection.execute(
            text("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'audit_entry'")
        ).scalar_one()
        return found > 0


def _row() -> dict:
    return {"tag": "bench:row", "detail": "{}", "at": datetime(2026, 1, 5, tzinfo=UTC)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_settle_gathers_statistics_after_a_bulk_load(backend, tmp_path):
    with migrated_engine(backend, tmp_path) as engine:
        with unit_of_work(engine) as db:
            chain.append_rows(db, None, (_row() for _ in range(50)))
        assert not _gathered(engine)
        settle(engine)
        assert _gathered(engine)
