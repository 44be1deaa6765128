"""A log that cannot be quietly rewritten (issue 12, finding 4).

Whoever can write the database can recompute a log's hashes, move its head and delete its
checkpoints: the database alone then verifies. The journal of signed checkpoints outside
the database, and the list of agencies, catch each such rewrite. Both databases.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import delete, select, update

from portal.audit import AuditTag, chain, checkpoints, journal, record, verify
from portal.models import AuditCheckpoint, AuditEntry, AuditHead, Role
from portal.services import audit_log

import factories as make


@pytest.fixture
def logged(db, keys, tmp_path):
    """An agency whose log has a signed checkpoint, journaled, and a tail after it."""
    kept = journal.Journal(tmp_path / "journal.jsonl")
    kept.attach(db)
    agency = make.agency(db, keys)
    for n in range(5):
        record(db, AuditTag.SIGNED_OUT, agency_id=agency.id, subject=f"before-{n}", at=make.AT)
    signed = audit_log.checkpoint_log(db, agency, keys=keys, actor=None, at=make.AT)
    for n in range(3):
        record(db, AuditTag.SIGNED_OUT, agency_id=agency.id, subject=f"after-{n}", at=make.AT)
    db.commit()
    db.info.pop(journal.INFO_KEY)  # the tampering below is no checkpoint of the portal's
    return kept, agency, signed.seq


def _entries(db, log_key):
    return db.execute(
        select(AuditEntry).where(AuditEntry.log_key == log_key).order_by(AuditEntry.seq)
    ).scalars()


def _rehash_from(db, log_key, seq, *, subject="rewritten"):
    """Edit the entry at `seq` and recompute every hash after it, as a forger would."""
    previous = None
    for entry in _entries(db, log_key):
        if entry.seq == seq:
            entry.subject = subject
        if entry.seq >= seq:
            entry.prev_hash = previous
            entry.entry_hash = chain.entry_hash(entry)
        previous = entry.entry_hash
    db.flush()
    db.execute(update(AuditHead).where(AuditHead.log_key == log_key).values(last_hash=previous))


def _drop_checkpoints(db, log_key):
    db.execute(delete(AuditCheckpoint).where(AuditCheckpoint.log_key == log_key))
    db.execute(update(AuditHead).where(AuditHead.log_key == log_key).values(checkpoint_seq=0))


def rewrite_and_delete_checkpoints(db, keys, log_key, seq, agency):
    _rehash_from(db, log_key, 2)
    _drop_checkpoints(db, log_key)


def truncate_across_the_checkpoint(db, keys, log_key, seq, agency):
    keep = seq - 2
    db.execute(delete(AuditEntry).where(AuditEntry.log_key == log_key, AuditEntry.seq > keep))
    last = db.execute(
        select(AuditEntry.entry_hash).where(AuditEntry.log_key == log_key, AuditEntry.seq == keep)
    ).scalar_one()
    db.execute(
        update(AuditHead)
        .where(AuditHead.log_key == log_key)
        .values(last_seq=keep, last_hash=last, checkpoint_seq=0)
    )
    db.execute(delete(AuditCheckpoint).where(AuditCheckpoint.log_key == log_key))


def delete_the_whole_log(db, keys, log_key, seq, agency):
    db.execute(delete(AuditCheckpoint).where(AuditCheckpoint.log_key == log_key))
    db.execute(delete(AuditEntry).where(AuditEntry.log_key == log_key))
    db.execute(delete(AuditHead).where(AuditHead.log_key == log_key))


def rewrite_and_re_sign(db, keys, log_key, seq, agency):
    """A forger who also holds the node's key re-signs the rewritten log."""
    _rehash_from(db, log_key, 2)
    _drop_checkpoints(db, log_key)
    at_seq = db.execute(
        select(AuditEntry).where(AuditEntry.log_key == log_key, AuditEntry.seq == seq)
    ).scalar_one()
    checkpoints.sign(db, agency.id, log_key, seq, at_seq.entry_hash, at_seq.at, keys=keys)
    db.execute(update(AuditHead).where(AuditHead.log_key == log_key).values(checkpoint_seq=seq))


@pytest.mark.parametrize(
    "tamper, database_alone_passes, expected",
    [
        (rewrite_and_delete_checkpoints, True, "checkpoint missing from the database: seq"),
        (truncate_across_the_checkpoint, True, "shorter than its last journaled checkpoint"),
        (delete_the_whole_log, True, "has no audit log at all"),
        (rewrite_and_re_sign, True, "the journal disagrees with the database at seq"),
    ],
    ids=lambda v: v.__name__ if callable(v) else None,
)
def test_the_journal_and_the_agency_list_catch_a_quiet_rewrite(
    db, keys, logged, tamper, database_alone_passes, expected
):
    kept, agency, seq = logged
    lines, unreadable = kept.read()
    assert [line["seq"] for line in lines] == [seq] and not unreadable
    assert journal.cross_check(db, lines) == []
    tamper(db, keys, agency.public_id, seq, agency)
    db.flush()
    # The hole the issue names: the database on its own still says OK.
    reports = [r for r in verify.verify_all(db) if r.log_key == agency.public_id]
    assert all(r.ok for r in reports) is database_alone_passes
    (finding,) = [f for f in journal.cross_check(db, lines) if f.log_key == agency.public_id]
    assert expected in finding.problem, finding.problem
    assert finding.line().startswith(f"BROKEN {agency.name}: ")


def test_a_journal_line_is_signed_canonical_json_a_witness_can_check(db, keys, logged):
    kept, agency, seq = logged
    (line,) = kept.read()[0]
    assert line["log"] == agency.public_id and line["seq"] == seq
    assert set(line) == {"document", "log", "seq", "entry_hash", "at", "key_id", "signature"}
    key = checkpoints.signing_key_row(db, agency.id)
    assert journal.signature_holds(line, key.public_key)
    forged = {**line, "entry_hash": "0" * 64}
    assert not journal.signature_holds(forged, key.public_key)
    assert journal.check_line(db, agency, forged).startswith("the checkpoint at seq")


def test_a_rolled_back_checkpoint_never_reaches_the_journal(db, keys, tmp_path):
    kept = journal.Journal(tmp_path / "journal.jsonl")
    kept.attach(db)
    agency = make.agency(db, keys)
    db.commit()
    audit_log.checkpoint_log(db, agency, keys=keys, actor=None, at=make.AT)
    db.rollback()
    assert kept.read() == ([], [])
    audit_log.checkpoint_log(db, agency, keys=keys, actor=None, at=make.AT)
    db.commit()
    assert len(kept.read()[0]) == 1


def test_a_damaged_journal_line_is_named(tmp_path):
    kept = journal.Journal(tmp_path / "journal.jsonl")
    kept.path.write_text('{"document": "something else"}\nnot json\n')
    assert kept.read() == (
        [],
        ["journal line 1 is not a signed checkpoint", "journal line 2 is not a signed checkpoint"],
    )


def test_the_lead_downloads_the_latest_signed_checkpoint(client, db, keys):
    agency = make.agency(db, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    make.login(client, lead.username)
    assert client.get("/audit/checkpoint.json").status_code == 404  # none signed yet
    token = make.csrf_of_page(client, "/audit")
    assert client.post("/audit/checkpoint", data={"csrf_token": token}).status_code == 303
    assert "Download the latest signed checkpoint" in client.get("/audit").text
    download = client.get("/audit/checkpoint.json")
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    line = json.loads(download.text)
    key = checkpoints.signing_key_row(db, agency.id)
    assert line["log"] == agency.public_id and journal.signature_holds(line, key.public_key)
    assert journal.check_line(db, agency, line) is None
