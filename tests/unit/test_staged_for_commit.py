"""What a unit of work keeps for its commit (a page's receipts, `at_commit`; the signed
checkpoints' journal lines) waits for the unit of work's own commit, and a rollback drops
only what it undid.

Found by review: SQLAlchemy runs the commit and rollback events for savepoints too. A
savepoint rolled back dropped every receipt kept before it while the unit of work went on
to commit, and a savepoint released wrote the journal's lines before anything was
committed (a line for a checkpoint the database may never keep). A savepoint rolled back by
a failed flush (the app's `with db.begin_nested(): db.flush()` / `except IntegrityError`)
kept what was staged within it: SQLAlchemy then runs `after_soft_rollback` for the flush's
own subtransaction, and the savepoint's `with` block only closes it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import registry
from sqlmodel import Session

from portal.audit.journal import Journal
from portal.audit.journal import stage as journal_stage
from portal.db import at_commit, make_engine
from portal.models import AuditCheckpoint

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


def _receipts(engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(connection.execute(text("SELECT what FROM receipt")).scalars())


def _keep(db: Session, what: str, ran: list[str]) -> None:
    def write() -> None:
        ran.append(what)
        db.execute(text("INSERT INTO receipt VALUES (:what)"), {"what": what})

    at_commit(db, write)


def test_a_savepoint_rolled_back_drops_only_what_was_kept_within_it(engine):
    ran: list[str] = []
    with Session(engine) as db:
        db.execute(text("SELECT 1"))
        _keep(db, "before", ran)
        savepoint = db.begin_nested()
        _keep(db, "within", ran)
        inner = db.begin_nested()
        _keep(db, "deeper", ran)
        inner.commit()
        savepoint.rollback()
        _keep(db, "after", ran)
        db.commit()
    assert _receipts(engine) == ["after", "before"]


def test_kept_writes_wait_for_the_unit_of_works_own_commit(engine):
    ran: list[str] = []
    with Session(engine) as db:
        db.execute(text("SELECT 1"))
        _keep(db, "receipt", ran)
        with db.begin_nested():
            pass
        assert ran == []  # a savepoint's release is no commit
        db.commit()
    assert ran == ["receipt"] and _receipts(engine) == ["receipt"]


def test_a_rollback_of_the_unit_of_work_drops_everything_kept(engine):
    ran: list[str] = []
    with Session(engine) as db:
        db.execute(text("SELECT 1"))
        _keep(db, "receipt", ran)
        db.rollback()
        db.commit()  # a new unit of work, with nothing kept
    assert ran == [] and _receipts(engine) == []


def _checkpoint(seq: int) -> AuditCheckpoint:
    return AuditCheckpoint(
        log_key="synthetic-log",
        agency_id=1,
        seq=seq,
        entry_hash="0" * 64,
        at=datetime(2026, 12, 3, 12, 0, tzinfo=UTC),
        key_id="synthetic-key",
        signature="c3ludGhldGlj",
    )


def test_the_journal_is_written_at_the_commit_and_never_for_a_rolled_back_checkpoint(
    engine, tmp_path
):
    journal = Journal(tmp_path / "journal.jsonl")
    with Session(engine) as db:
        journal.attach(db)
        db.execute(text("SELECT 1"))
        journal_stage(db, _checkpoint(100))
        with db.begin_nested():  # released: still nothing committed
            pass
        assert journal.read() == ([], [])
        db.rollback()
    assert journal.read() == ([], [])

    with Session(engine) as db:
        journal.attach(db)
        db.execute(text("SELECT 1"))
        journal_stage(db, _checkpoint(100))
        savepoint = db.begin_nested()
        journal_stage(db, _checkpoint(200))
        savepoint.rollback()
        db.commit()
    lines, problems = journal.read()
    assert problems == [] and [line["seq"] for line in lines] == [100]


def _conflicting_flush(db: Session) -> None:
    row = Taken()
    row.id = 1
    db.add(row)
    db.flush()


def test_a_savepoint_undone_by_a_failed_flush_drops_the_writes_kept_within_it(engine):
    ran: list[str] = []
    with Session(engine) as db:
        db.execute(text("SELECT 1"))
        _keep(db, "before", ran)
        with pytest.raises(IntegrityError), db.begin_nested():
            _keep(db, "within", ran)
            _conflicting_flush(db)
        db.commit()
    assert _receipts(engine) == ["before"]


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
