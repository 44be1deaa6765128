"""A savepoint rolled back by a failed flush (the app's `with db.begin_nested(): db.flush()`
/ `except IntegrityError` pattern) must drop what was staged within it, as any other
savepoint rollback does: SQLAlchemy then runs `after_soft_rollback` for the flush's own
subtransaction, and the savepoint's `with` block only closes it."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import registry
from sqlmodel import Session
from test_staged_for_commit import _checkpoint

from portal.audit.journal import Journal
from portal.audit.journal import stage as journal_stage
from portal.db import at_commit, make_engine

from databases import BACKENDS, new_empty_database


class Taken:
    pass


registry().map_imperatively(
    Taken, Table("taken", MetaData(), Column("id", Integer, primary_key=True))
)


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    url, drop = new_empty_database(request.param, tmp_path)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE receipt (what varchar(20))"))
        connection.execute(text("CREATE TABLE taken (id integer PRIMARY KEY)"))
        connection.execute(text("INSERT INTO taken VALUES (1)"))
    yield engine
    engine.dispose()
    drop()


def _conflicting_flush(db: Session) -> None:
    row = Taken()
    row.id = 1
    db.add(row)
    db.flush()


def test_a_savepoint_undone_by_a_failed_flush_drops_the_writes_kept_within_it(engine):
    ran: list[str] = []

    def keep(db, what):
        def write():
            ran.append(what)
            db.execute(text("INSERT INTO receipt VALUES (:what)"), {"what": what})

        at_commit(db, write)

    with Session(engine) as db:
        db.execute(text("SELECT 1"))
        keep(db, "before")
        with pytest.raises(IntegrityError), db.begin_nested():
            keep(db, "within")
            _conflicting_flush(db)
        db.commit()
    with engine.connect() as connection:
        receipts = sorted(connection.execute(text("SELECT what FROM receipt")).scalars())
    assert receipts == ["before"]


def test_a_checkpoint_undone_by_a_failed_flush_is_never_journaled(engine, tmp_path):
    journal = Journal(tmp_path / "journal.jsonl")
    with Session(engine) as db:
        journal.attach(db)
        db.execute(text("SELECT 1"))
        with pytest.raises(IntegrityError), db.begin_nested():
            journal_stage(db, _checkpoint(100))
            _conflicting_flush(db)
        db.commit()
    assert journal.read() == ([], [])
