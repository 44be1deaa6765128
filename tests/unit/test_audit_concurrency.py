"""Concurrent writers never fork a log: N threads × M appends → one chain of N·M entries."""

import threading
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from portal.audit import AuditTag, lock_logs, record, verify
from portal.audit.checkpoints import CheckpointSigner
from portal.db import unit_of_work
from portal.models import NODE_LOG, AuditCheckpoint, AuditEntry

import factories as make
from databases import BACKENDS, migrated_engine

WRITERS = 8
APPENDS_EACH = 25


@pytest.fixture(params=BACKENDS)
def committed_engine(request, tmp_path):
    """A database of its own: these appends really commit, each in its own transaction."""
    with migrated_engine(request.param, tmp_path, pool_size=WRITERS + 2) as engine:
        yield engine


def run_together(work) -> None:
    """`work(number)` in WRITERS threads released at once; any thread's error fails the test."""
    start = threading.Barrier(WRITERS)
    failures: list[BaseException] = []

    def thread_body(number: int) -> None:
        try:
            start.wait()
            work(number)
        except BaseException as error:  # reported below, with the thread's own error
            failures.append(error)

    threads = [threading.Thread(target=thread_body, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[0]


def test_concurrent_appends_make_one_unbroken_chain_per_log(committed_engine, keys):
    with unit_of_work(committed_engine) as db:
        owner = make.agency(db, keys)
        owner_id, log_key = owner.id, owner.public_id
        already = len(db.exec(select(AuditEntry.id).where(AuditEntry.log_key == log_key)).all())

    def writer(number: int) -> None:
        for n in range(APPENDS_EACH):
            # Each append its own transaction; the node log's head does not exist yet,
            # so the first appends also race to create it.
            with unit_of_work(committed_engine) as db:
                CheckpointSigner(keys, every=50).attach(db)
                at = make.AT + timedelta(seconds=n)
                lock_logs(db, [owner_id, None])  # both logs, in the one order
                record(db, AuditTag.AUDIT_EXPORTED, agency_id=owner_id, at=at)
                record(db, AuditTag.SIGN_IN_FAILED, agency_id=None, subject=f"w{number}", at=at)

    run_together(writer)

    with Session(committed_engine) as db:
        total = WRITERS * APPENDS_EACH
        for key, expected in ((log_key, already + total), (NODE_LOG, total)):
            seqs = db.exec(
                select(AuditEntry.seq).where(AuditEntry.log_key == key).order_by(AuditEntry.seq)
            ).all()
            assert seqs == list(range(1, expected + 1))
            report = verify.verify_log(db, key)
            assert report.ok, report.problem
            assert report.entries == expected
        signed = db.exec(
            select(AuditCheckpoint.seq).where(AuditCheckpoint.log_key == log_key)
        ).all()
        assert sorted(signed) == list(range(50, already + total + 1, 50))


def test_concurrent_batches_over_several_logs_neither_fork_nor_deadlock(committed_engine, keys):
    # A case summary writes one batch to every owner's log and the viewer's; two readers
    # of overlapping cases name the same logs in opposite orders.
    from portal.audit import entry_values, record_many

    with unit_of_work(committed_engine) as db:
        logs = [make.agency(db, keys) for _ in range(4)]
        ids = [agency.id for agency in logs]
        before = {
            agency.public_id: len(
                db.exec(select(AuditEntry.id).where(AuditEntry.log_key == agency.public_id)).all()
            )
            for agency in logs
        }

    def reader(number: int) -> None:
        order = ids if number % 2 else list(reversed(ids))
        for n in range(APPENDS_EACH // 5):
            with unit_of_work(committed_engine) as db:
                CheckpointSigner(keys, every=40).attach(db)
                record_many(
                    db,
                    [
                        entry_values(
                            AuditTag.AUDIT_EXPORTED,
                            agency_id=agency_id,
                            detail={"writer": number, "n": n},
                            at=make.AT,
                        )
                        for agency_id in order
                        for _ in range(3)
                    ],
                )

    run_together(reader)
    with Session(committed_engine) as db:
        for agency in logs:
            seqs = db.exec(
                select(AuditEntry.seq)
                .where(AuditEntry.log_key == agency.public_id)
                .order_by(AuditEntry.seq)
            ).all()
            expected = before[agency.public_id] + WRITERS * (APPENDS_EACH // 5) * 3
            assert seqs == list(range(1, expected + 1))
            report = verify.verify_log(db, agency.public_id)
            assert report.ok, report.problem
