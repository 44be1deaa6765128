"""Restrictions recorded before reasons were itemised keep what they said (issue 19)."""

from datetime import UTC, datetime

from sqlalchemy import text

from portal import migrate

BEFORE = "4e2b9c1d7a05"


def test_old_reasons_migrate_and_clients_read_english(engine_before):
    at = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    stamp = at if engine_before.dialect.name == "postgresql" else at.replace(tzinfo=None)
    with engine_before.begin() as connection:
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
                " requires_totp, is_active, created_at) VALUES (1, 'a-1', 'Agency', 'community',"
                " 'advocacy', 1, false, true, :at)"
            ),
            {"at": stamp},
        )
        connection.execute(
            text(
                "INSERT INTO client (id, public_id, agency_id, reference, key_id,"
                " identity_sealed, search_digest, created_at)"
                " VALUES (1, 'c-1', 1, 'R-1', 'k', :sealed, 'd', :at)"
            ),
            {"sealed": b"x", "at": stamp},
        )
        for number, reason in enumerate(("suspected_exploiter", "not_safe_to_involve")):
            connection.execute(
                text(
                    "INSERT INTO restricted_person (client_id, name, reason, created_at)"
                    " VALUES (1, :name, :reason, :at)"
                ),
                {"name": f"Person {number} (fictional)", "reason": reason, "at": stamp},
            )
    migrate.upgrade(engine_before)
    with engine_before.connect() as connection:
        rows = connection.execute(
            text("SELECT reason, note, public_id, ended_at FROM restricted_person ORDER BY id")
        ).all()
        language = connection.execute(text("SELECT preferred_language FROM client")).scalar_one()
    assert [(r.reason, r.note, r.ended_at) for r in rows] == [
        ("suspected_exploiter", None, None),
        ("other", "Not safe to involve.", None),
    ]
    assert len({r.public_id for r in rows}) == 2 and all(r.public_id for r in rows)
    assert language == "en"
    # Back down and up again: nothing recorded since the upgrade stands in the way.
    migrate.downgrade(engine_before, BEFORE)
    migrate.upgrade(engine_before)
