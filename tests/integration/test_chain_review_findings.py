"""The audit log's integrity, as a review of the chain, its checkpoints, the journal and
`portal audit verify` found it. Each test is named after what should happen, and failed
on the code it was written against. All data here is synthetic."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import timedelta

import pytest
import test_audit_cli
from sqlalchemy import event, text, update
from sqlmodel import Session
from test_tampering_is_refused import LATER, _format_1_disclosure

from portal.audit import AuditTag, record, verify
from portal.cli import main as cli
from portal.db import unit_of_work
from portal.models import Agency, AuditEntry, Role
from portal.services import audit_log

import factories as make
from databases import migrated_engine

node = test_audit_cli.node  # the fixture: a migrated SQLite node with two agencies

ALDER = "Alder Advocacy (synthetic)"
BIRCH = "Birch Welfare (synthetic)"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _public_id(path, name: str) -> str:
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT public_id FROM agency WHERE name = ?", (name,)
        ).fetchone()[0]


def _journal_lines(tmp_path) -> list[dict]:
    return [json.loads(raw) for raw in (tmp_path / "journal.jsonl").read_text().splitlines()]


def _write_journal(tmp_path, lines: list[dict]) -> None:
    (tmp_path / "journal.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


# --- the journal: cut short, or edited --------------------------------------------------


@pytest.mark.parametrize("cut", ["file deleted", "file emptied", "one log's lines removed"])
def test_a_journal_that_lost_every_line_of_a_log_is_not_reported_intact(
    node, tmp_path, capsys, cut
):
    # Before: whoever can reach the journal (or a backup restored over it) deletes it, empties
    # it, or drops every line of one agency's log; `portal audit verify` then says OK for every
    # log although the database holds checkpoints that were journaled when signed, and the one
    # witness outside the database no longer vouches for anything (the database writer may
    # then rewrite that log freely). Only a journal cut *after* a log's first line is noticed.
    assert cli.main(["audit", "checkpoint"]) == 0
    assert cli.main(["audit", "checkpoint"]) == 0
    lines = _journal_lines(tmp_path)
    alder = _public_id(node, ALDER)
    assert {line["log"] for line in lines} == {alder, _public_id(node, BIRCH)}
    if cut == "file deleted":
        (tmp_path / "journal.jsonl").unlink()
    elif cut == "file emptied":
        (tmp_path / "journal.jsonl").write_text("")
    else:
        _write_journal(tmp_path, [line for line in lines if line["log"] != alder])

    status, out, _err = run(capsys, "audit", "verify")

    assert status == 1 and f"BROKEN {ALDER}" in out, (
        f"the journal lost every checkpoint of {ALDER}'s log ({cut}) and verify said:\n{out}"
    )


@pytest.mark.parametrize(
    "where, seq",
    [("journal", 10**20), ("journal", True), ("--checkpoint file", 10**20)],
    ids=["journal-seq beyond any integer", "journal-seq true", "file-seq beyond any integer"],
)
def test_a_journal_line_with_an_impossible_seq_is_named_not_a_crash(
    node, tmp_path, capsys, where, seq
):
    # Before: one edited journal line (seq 10**20, or `true`, which check_shape takes for an
    # integer) made `portal audit verify` stop with "unexpected CanonicalFormError ... report
    # it" / "unexpected ArgumentError", exit 3, and no verdict on any log: an operator reads
    # a software bug, not a tampered journal, and nothing says which line.
    assert cli.main(["audit", "checkpoint"]) == 0
    lines = _journal_lines(tmp_path)
    edited = {**lines[0], "seq": seq}
    if where == "journal":
        _write_journal(tmp_path, [*lines, edited])
        status, out, err = run(capsys, "audit", "verify")
    else:
        kept = tmp_path / "kept.json"
        kept.write_text(json.dumps(edited))
        status, out, err = run(capsys, "audit", "verify", "--checkpoint", str(kept))

    assert "unexpected" not in err, err
    assert status in (1, 2) and ("BROKEN" in out or "checkpoint" in err), (status, out, err)


def test_verify_against_the_journal_walks_each_log_once(node, tmp_path, capsys, monkeypatch):
    # Before: `portal audit verify --checkpoint FILE` (whose help offers "journal lines")
    # walks and re-hashes the whole log once per line of the file. A log of a million entries
    # checkpointed every 1,000 has a journal of 1,000 lines: a billion entry hashes, a check
    # that never finishes. (Counted, not timed: the walk should run once per log.)
    for _ in range(4):
        assert cli.main(["audit", "checkpoint", ALDER]) == 0
    walked: list[str] = []
    real = verify.verify_log

    def counting(db, log_key, **options):
        walked.append(log_key)
        return real(db, log_key, **options)

    monkeypatch.setattr(verify, "verify_log", counting)
    status, out, _err = run(
        capsys, "audit", "verify", "--checkpoint", str(tmp_path / "journal.jsonl")
    )
    assert status == 0 and out.count(f"OK {ALDER}") == 4, out
    assert len(walked) == 1, f"the log was walked {len(walked)} times for 4 journal lines"


def test_a_checkpointed_entry_deleted_mid_log_is_not_called_a_shorter_log(node, tmp_path, capsys):
    # Before: the entry a journaled checkpoint signed (seq 2) is deleted from the middle of a
    # log that runs on to seq 4. The journal's line says "the log is shorter than its last
    # journaled checkpoint: it ends at seq 4, but seq 2 was signed": the log is not shorter,
    # it ends past the signed seq, and the operator is sent looking for a cut tail.
    assert cli.main(["audit", "checkpoint", ALDER]) == 0  # Alder: entry 2, signed
    assert cli.main(["audit", "checkpoint", ALDER]) == 0  # entry 3, signed
    assert cli.main(["audit", "checkpoint", ALDER]) == 0  # entry 4, signed
    alder = _public_id(node, ALDER)
    with sqlite3.connect(node) as connection:
        connection.execute("DELETE FROM audit_entry WHERE log_key = ? AND seq = 2", (alder,))

    status, out, _err = run(capsys, "audit", "verify", ALDER)

    assert status == 1
    assert "shorter than its last journaled checkpoint" not in out, out


# --- verify on tampered rows: a verdict per log, never a crash ------------------------


TYPE_TAMPERING = {
    "entry subject made bytes": "UPDATE audit_entry SET subject = X'00ff' "
    "WHERE log_key = :log AND seq = 1",
    "entry time made text": "UPDATE audit_entry SET at = 'garbage' "
    "WHERE log_key = :log AND seq = 1",
    "checkpoint seq made text": "UPDATE audit_checkpoint SET seq = 'x' WHERE log_key = :log",
    "checkpoint time made text": "UPDATE audit_checkpoint SET at = 'garbage' WHERE log_key = :log",
    "head seq made text": "UPDATE audit_head SET last_seq = 'x' WHERE log_key = :log",
}


@pytest.mark.parametrize("tamper", sorted(TYPE_TAMPERING))
def test_a_row_tampered_to_a_value_of_another_type_is_named_and_other_logs_verified(
    node, capsys, tamper
):
    # Before: SQLite keeps whatever a writer puts in a column. One audit row given a value
    # of another type (bytes for text, text for a time or a seq) makes `portal audit verify`
    # stop with "unexpected CanonicalFormError/ValueError/TypeError ... report it", exit 3:
    # it names neither the log nor the row, and no other log gets a verdict either.
    assert cli.main(["audit", "checkpoint"]) == 0
    alder = _public_id(node, ALDER)
    with sqlite3.connect(node) as connection:
        connection.execute(TYPE_TAMPERING[tamper].replace(":log", "?"), (alder,))

    status, out, err = run(capsys, "audit", "verify")

    assert "unexpected" not in err, err
    assert status == 1 and f"BROKEN {ALDER}" in out, (status, out, err)
    assert f"OK {BIRCH}" in out, out


# --- format-1 entries: the public ids beside the hash -----------------------------------


@pytest.mark.parametrize("column", ["client_ref", "actor_agency_ref", "actor_user_ref"])
def test_an_old_entrys_public_id_emptied_is_not_reported_intact(db, keys, column):
    # Before: a format-1 entry's hash covers client_id, actor_agency_id and actor_user_id,
    # and verify checks the public ids beside them (which pages read) only when they are
    # set: one UPDATE ... SET client_ref = NULL takes the disclosure out of the survivor's
    # accounting of disclosures (or hides who saw it), and verify still says "chain intact".
    # The migration filled every one of them in from the row its id names.
    owner = make.agency(db, keys)
    partner = make.agency(db, keys)
    viewer = make.user(db, partner, Role.CASE_MANAGER)
    client = make.client_record(db, owner, keys)
    lead = make.user(db, owner, Role.AGENCY_LEAD)
    _format_1_disclosure(db, owner, viewer, client)
    assert verify.verify_log(db, owner.public_id).ok
    assert len(audit_log.accounting(db, owner, client.public_id, actor=lead, at=LATER).rows) == 1

    db.execute(
        update(AuditEntry)
        .where(AuditEntry.log_key == owner.public_id, AuditEntry.format == 1)
        .values({column: None})
    )
    db.flush()
    db.expire_all()

    report = verify.verify_log(db, owner.public_id)
    assert not report.ok, f"{column} emptied on a format-1 entry; verify: " + report.line()


# --- a busy node: verify must not cry wolf ----------------------------------------------


def test_verify_on_postgresql_does_not_call_an_append_made_during_its_last_check_tampering(
    tmp_path, keys
):
    # Before: on PostgreSQL (READ COMMITTED) each statement of verify's last check reads the
    # database as it stands then: it reads the head (seq N), a request commits entry N+1 and
    # moves the head, and the next statement counts entries beyond N: "1 entry beyond the
    # log's head", BROKEN, on a healthy log. A lead or operator running verify on a live node
    # is told the log was tampered with. (The append is made at that moment by a hook, not
    # by timing.)
    with migrated_engine("postgresql", tmp_path) as engine:
        with unit_of_work(engine) as db:
            owner = make.agency(db, keys)
            for n in range(3):
                record(db, AuditTag.AUDIT_EXPORTED, agency_id=owner.id, detail={"n": n}, at=make.AT)
            owner_id, log_key = owner.id, owner.public_id

        appended = []

        def append_elsewhere():
            with unit_of_work(engine) as other:
                record(other, AuditTag.AUDIT_EXPORTED, agency_id=owner_id, at=make.AT)
            appended.append(True)

        with Session(engine) as db:
            connection = db.connection()

            @event.listens_for(connection, "after_cursor_execute")
            def after(_conn, _cursor, statement, *_args):
                # verify's read of the head as it stands now (only last_seq is selected),
                # alone or within the statement that also counts the entries beyond it
                if not appended and "SELECT audit_head.last_seq \nFROM audit_head" in statement:
                    append_elsewhere()

            report = verify.verify_log(db, log_key)
            db.rollback()

        assert appended, "the hook never ran: the head's second read changed shape"
        assert report.ok, report.line()
        with Session(engine) as db:
            assert verify.verify_log(db, log_key).ok  # the log itself is sound


def test_a_checkpoint_signed_while_its_key_is_being_rotated_still_verifies(tmp_path, keys):
    # Before: on PostgreSQL a lead rotates the agency's signing key (retired_at = the
    # rotation's time, T1) while another request of that agency, begun a moment later (T0 >
    # T1), signs a checkpoint. The rotation retires the key and then waits for the log's head,
    # which the checkpointing request holds; that request still reads the old key as current
    # (the retirement is not committed) and signs with it at T0. Both commit, and from then on
    # `portal audit verify` reports the healthy log BROKEN for good: "checkpoint at seq N was
    # signed on T0, after its key was retired". The log's own order (the checkpoint comes
    # before the rotation's entry) says the signature was made while the key was in force.
    from portal.services import keys as keys_service

    rotated_at = make.AT + timedelta(hours=1)
    signed_at = rotated_at + timedelta(seconds=1)
    with migrated_engine("postgresql", tmp_path) as engine:
        with unit_of_work(engine) as db:
            owner = make.agency(db, keys)
            for n in range(3):
                record(db, AuditTag.AUDIT_EXPORTED, agency_id=owner.id, detail={"n": n}, at=make.AT)
            owner_id, log_key = owner.id, owner.public_id

        failures: list[BaseException] = []

        def rotate() -> None:
            try:
                with unit_of_work(engine) as db:
                    agency = db.get(Agency, owner_id)
                    keys_service.rotate_signing_key(
                        db, agency, keys=keys, actor=None, at=rotated_at
                    )
            except BaseException as error:  # reported below
                failures.append(error)

        with Session(engine) as db:
            agency = db.get(Agency, owner_id)
            record(db, AuditTag.AUDIT_EXPORTED, agency_id=owner_id, at=signed_at)  # head held
            rotation = threading.Thread(target=rotate)
            rotation.start()
            with engine.connect() as watcher:  # until the rotation waits for the head
                waiting = 0
                for _ in range(3000):
                    waiting = watcher.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                            "'Lock' AND datname = current_database()"
                        )
                    ).scalar_one()
                    watcher.rollback()
                    if waiting:
                        break
                    threading.Event().wait(0.01)
            assert waiting, "the rotation never waited for the log's head"
            audit_log.checkpoint_log(db, agency, keys=keys, actor=None, at=signed_at)
            db.commit()
        rotation.join()
        assert not failures, failures[0]

        with Session(engine) as db:
            report = verify.verify_log(db, log_key)
        assert report.ok, report.line()
