"""A client whose record was withdrawn from a case that had a mentor assignment then leaves
the registering survivor-mentor's intake when the migration that keeps its end runs; a
withdrawal from a case nobody mentored yet, or that names no client, ends nothing."""

from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy import text

from portal import migrate

BEFORE = "9e4b7c2a5d13"
INTAKE_ENDED = "37aba9a867b5"
ASSIGNED = datetime(2026, 10, 5, 15, tzinfo=UTC)
FIRST, SECOND = datetime(2026, 10, 7, 15, tzinfo=UTC), datetime(2026, 10, 9, 15, tzinfo=UTC)
EARLY = datetime(2026, 10, 2, 15, tzinfo=UTC)  # before the case had its mentor

# (client, withdrawals as (case reference, when, detail))
CLIENTS = {
    # Withdrawn twice from the mentored case: the first one ended the intake.
    "MOVED": [("MENTORED", SECOND, None), ("MENTORED", FIRST, None)],
    # Withdrawn from a case before its mentor was assigned, and from one never mentored.
    "EARLY": [("MENTORED", EARLY, None), ("UNMENTORED", SECOND, None)],
    "NEVER": [],
    # An entry whose detail is not the withdrawal's shape ends nothing.
    "ODD": [("MENTORED", SECOND, '["not", "an", "object"]')],
}


def _stamp(engine, at: datetime):
    return at if engine.dialect.name == "postgresql" else at.replace(tzinfo=None)


def _insert(connection, table: str, **values) -> None:
    connection.execute(sa.table(table, *map(sa.column, values)).insert().values(**values))


def _old_data(engine) -> None:
    stamp = _stamp(engine, ASSIGNED)
    with engine.begin() as connection:
        _insert(
            connection, "node", id=1, name="node", base_url="http://n", is_local=True,
            created_at=stamp,
        )  # fmt: skip
        _insert(
            connection, "agency", id=1, public_id="aaaaaaaa-0000-4000-8000-000000000001",
            name="Synthetic Program", kind="community", discipline="survivor_mentor", node_id=1,
            requires_totp=False, is_active=True, created_at=stamp,
        )  # fmt: skip
        _insert(
            connection, "staff_user", id=1, public_id="cccccccc-0000-4000-8000-000000000001",
            agency_id=1, username="mentor", display_name="Synthetic Mentor",
            password_hash="x", password_changed_at=stamp, is_active=True, created_at=stamp,
        )  # fmt: skip
        for number, reference in enumerate(("MENTORED", "UNMENTORED"), start=1):
            _insert(
                connection, "mdt_case", id=number,
                public_id=f"bbbbbbbb-0000-4000-8000-00000000000{number}", reference=reference,
                coordinating_agency_id=1, status="open", created_at=stamp,
                intake_date=date(2026, 10, 1), referral_source="hotline",
            )  # fmt: skip
        _insert(
            connection, "mentor_assignment", id=1,
            public_id="dddddddd-0000-4000-8000-000000000001", case_id=1, mentor_id=1,
            mentor_agency_id=1, assigned_at=stamp,
        )  # fmt: skip
        seq = 0
        for number, (name, withdrawals) in enumerate(CLIENTS.items(), start=1):
            public_id = f"eeeeeeee-0000-4000-8000-00000000000{number}"
            _insert(
                connection, "client", id=number, public_id=public_id, agency_id=1,
                reference=name, key_id="k", identity_sealed=b"sealed", search_digest="d",
                preferred_language="en", created_at=stamp, created_by_id=1,
            )  # fmt: skip
            for case_reference, at, detail in withdrawals:
                seq += 1
                _insert(
                    connection, "audit_entry", id=seq, tag="mdt:case:link_withdrawn",
                    at=_stamp(engine, at), subject=case_reference, agency_id=1,
                    detail=detail or f'{{"client":"{public_id}","reason":"left_the_case"}}',
                    log_key="log-1", seq=seq, prev_hash="0" * 64, entry_hash=f"{seq:064d}",
                )  # fmt: skip


def _ended(engine) -> dict[str, datetime | None]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT reference, intake_ended_at FROM client")).all()
    return {reference: None if at is None else _as_utc(at) for reference, at in rows}


def _as_utc(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def test_the_first_withdrawal_from_a_mentored_case_ends_the_intake(engine_before):
    _old_data(engine_before)
    migrate.upgrade(engine_before, INTAKE_ENDED)
    assert _ended(engine_before) == {"MOVED": FIRST, "EARLY": None, "NEVER": None, "ODD": None}
    migrate.downgrade(engine_before, BEFORE)
    with engine_before.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM client")).scalar_one() == 4
