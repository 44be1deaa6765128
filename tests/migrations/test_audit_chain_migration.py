"""Entries written before the hash chain existed are chained by its migration."""

from datetime import UTC, datetime

from sqlalchemy import text
from sqlmodel import Session

from portal import migrate
from portal.audit import AuditTag, record, verify
from portal.models import NODE_LOG

BEFORE_CHAIN = "efa6f52b5328"
BEFORE = BEFORE_CHAIN  # where `engine_before` starts (conftest)


def test_existing_entries_are_chained_per_log_in_id_order(engine_before):
    at = datetime(2026, 11, 2, 15, 0, 0, 123456, tzinfo=UTC)
    stamp = at if engine_before.dialect.name == "postgresql" else at.replace(tzinfo=None)
    with engine_before.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO node (id, name, base_url, is_local, created_at)"
                " VALUES (1, 'node', 'http://localhost', true, :at)"
            ),
            {"at": stamp},
        )
        for agency_id, public_id in (
            (1, "aaaaaaaa-0000-4000-8000-000000000001"),
            (2, "bbbbbbbb-0000-4000-8000-000000000002"),
        ):
            connection.execute(
                text(
                    "INSERT INTO agency (id, public_id, name, kind, discipline, node_id,"
                    " requires_totp, is_active, created_at) VALUES (:id, :p, :n, 'community',"
                    " 'advocacy', 1, false, true, :at)"
                ),
                {"id": agency_id, "p": public_id, "n": f"Agency {agency_id}", "at": stamp},
            )
        for agency_id in (1, None, 2, 1, 1, None, 2):
            connection.execute(
                text(
                    "INSERT INTO audit_entry (agency_id, tag, at, detail, case_ref)"
                    " VALUES (:a, 'admin:agency:updated', :at, '{}', 'MDT-2026-0001')"
                ),
                {"a": agency_id, "at": stamp},
            )
    migrate.upgrade(engine_before)
    with Session(engine_before) as db:
        # New appends carry on from the heads the migration wrote.
        record(db, AuditTag.AGENCY_UPDATED, agency_id=1, at=at)
        db.commit()
        reports = {r.log_key: r for r in verify.verify_all(db)}
    assert {k: (r.ok, r.entries) for k, r in reports.items()} == {
        NODE_LOG: (True, 2),
        "aaaaaaaa-0000-4000-8000-000000000001": (True, 4),
        "bbbbbbbb-0000-4000-8000-000000000002": (True, 2),
    }
