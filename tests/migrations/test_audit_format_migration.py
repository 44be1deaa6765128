"""A log that spans the change of entry format: old entries keep their hashes and verify,
their public ids are filled in beside their ids, and new entries name people by public id."""

from datetime import UTC, datetime

from sqlalchemy import text
from sqlmodel import Session, select

from portal import migrate
from portal.audit import AuditTag, hashing, record, verify
from portal.models import AuditEntry
from portal.requester import Requester

BEFORE_PUBLIC_IDS = "4c1e9a7d2b50"
BEFORE = BEFORE_PUBLIC_IDS  # where `engine_before` starts (conftest)
AGENCY = "aaaaaaaa-0000-4000-8000-000000000001"
USER = "uuuuuuuu-0000-4000-8000-000000000001"
CLIENT = "cccccccc-0000-4000-8000-000000000001"
AT = datetime(2026, 11, 2, 15, 0, 0, 123456, tzinfo=UTC)


def _old_world(connection, stamp) -> None:
    connection.execute(
        text(
            "INSERT INTO node (id, name, base_url, is_local, created_at)"
            " VALUES (1, 'node', 'http://localhost', true, :at)"
        ),
        {"at": stamp},
    )
    connection.execute(
        text(
            "INSERT INTO agency (id, public_id, name, kind, discipline, node_id,"
            " requires_totp, is_active, created_at) VALUES (1, :p, 'Agency (synthetic)',"
            " 'community', 'advocacy', 1, false, true, :at)"
        ),
        {"p": AGENCY, "at": stamp},
    )
    connection.execute(
        text(
            "INSERT INTO staff_user (id, public_id, agency_id, username, display_name,"
            " password_hash, password_changed_at, is_active, created_at) VALUES"
            " (1, :p, 1, 'someone', 'Some One', 'x', :at, true, :at)"
        ),
        {"p": USER, "at": stamp},
    )
    connection.execute(
        text(
            "INSERT INTO client (id, public_id, agency_id, reference, key_id,"
            " identity_sealed, search_digest, created_at) VALUES"
            " (1, :p, 1, 'R-1', 'k', :sealed, 'd', :at)"
        ),
        {"p": CLIENT, "sealed": b"sealed", "at": stamp},
    )


def _old_entries(connection, stamp) -> None:
    """Three format-1 entries, chained exactly as the code before the change chained them."""
    previous = "0" * 64
    for seq in (1, 2, 3):
        values = dict.fromkeys(hashing.FORMAT_1_FIELDS)
        values.update(
            agency_id=1,
            log_key=AGENCY,
            seq=seq,
            prev_hash=previous,
            tag="disclosure:section:released",
            at=AT,
            actor_user_id=1,
            actor_agency_id=1,
            detail="{}",
            client_id=1,
            case_ref="MDT-2026-0001",
            decision="released",
        )
        values["entry_hash"] = hashing.entry_hash(values)
        connection.execute(
            text(
                "INSERT INTO audit_entry (agency_id, log_key, seq, prev_hash, entry_hash, tag,"
                " at, actor_user_id, actor_agency_id, detail, client_id, case_ref, decision)"
                " VALUES (:agency_id, :log_key, :seq, :prev_hash, :entry_hash, :tag, :at,"
                " :actor_user_id, :actor_agency_id, :detail, :client_id, :case_ref, :decision)"
            ),
            {**values, "at": stamp},
        )
        previous = values["entry_hash"]
    connection.execute(
        text(
            "INSERT INTO audit_head (log_key, agency_id, last_seq, last_hash, checkpoint_seq)"
            " VALUES (:k, 1, 3, :h, 0)"
        ),
        {"k": AGENCY, "h": previous},
    )


def test_a_log_spanning_the_change_verifies_and_names_everyone_by_public_id(engine_before):
    postgres = engine_before.dialect.name == "postgresql"
    stamp = AT if postgres else AT.replace(tzinfo=None)
    with engine_before.begin() as connection:
        _old_world(connection, stamp)
        _old_entries(connection, stamp)
    migrate.upgrade(engine_before)

    with Session(engine_before) as db:
        record(
            db,
            AuditTag.CLIENT_IDENTITY_VIEWED,
            agency_id=1,
            actor=Requester(
                node="local", agency=AGENCY, agency_kind="community", user=USER, roles=frozenset()
            ),
            subject=CLIENT,
            at=AT,
        )
        db.commit()
        entries = db.exec(select(AuditEntry).order_by(AuditEntry.seq)).all()
        assert [e.format for e in entries] == [1, 1, 1, 2]
        assert all(e.actor_user_ref == USER and e.actor_agency_ref == AGENCY for e in entries)
        assert [e.client_ref for e in entries] == [CLIENT] * 3 + [None]
        assert entries[-1].actor_user_id is None and entries[-1].prev_hash == entries[2].entry_hash
        assert verify.verify_log(db, AGENCY).ok

        # An old entry's integer id is still covered by its hash.
        db.exec(text("UPDATE audit_entry SET actor_user_id = 99 WHERE seq = 2"))
        db.commit()
        assert not verify.verify_log(db, AGENCY).ok
