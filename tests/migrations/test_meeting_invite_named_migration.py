"""An invitation made before invitations said whether the coordinator named the agency is
taken as named when the agency takes part in none of the meeting's cases (nothing else could
have invited it), and as made for the agenda when it takes part in one of them."""

from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy import text

from portal import migrate

BEFORE = "37aba9a867b5"
NAMED = "5b3e8d2a7c41"
AT = datetime(2026, 11, 2, 15, tzinfo=UTC)
AGENCIES = ("COORDINATING", "PARTNER", "STANDING", "ELSEWHERE")


def _insert(connection, table: str, **values) -> None:
    connection.execute(sa.table(table, *map(sa.column, values)).insert().values(**values))


def _old_data(engine) -> None:
    stamp = AT if engine.dialect.name == "postgresql" else AT.replace(tzinfo=None)
    with engine.begin() as connection:
        _insert(
            connection, "node", id=1, name="node", base_url="http://n", is_local=True,
            created_at=stamp,
        )  # fmt: skip
        for number, name in enumerate(AGENCIES, start=1):
            _insert(
                connection, "agency", id=number, name=f"{name} (synthetic)",
                public_id=f"aaaaaaaa-0000-4000-8000-00000000000{number}", kind="community",
                discipline="advocacy", node_id=1, requires_totp=False, is_active=True,
                created_at=stamp,
            )  # fmt: skip
        # The partner takes part in the case on the agenda; ELSEWHERE in a case not on it.
        for number in (1, 2):
            _insert(
                connection, "mdt_case", id=number, reference=f"MDT-2026-000{number}",
                public_id=f"bbbbbbbb-0000-4000-8000-00000000000{number}",
                coordinating_agency_id=1, status="open", created_at=stamp,
                intake_date=date(2026, 10, 30), referral_source="hotline",
            )  # fmt: skip
        _insert(connection, "case_link", id=1, case_id=1, agency_id=2, linked_at=stamp)
        _insert(connection, "case_link", id=2, case_id=2, agency_id=4, linked_at=stamp)
        _insert(
            connection, "meeting", id=1, public_id="cccccccc-0000-4000-8000-000000000001",
            coordinating_agency_id=1, starts_at=stamp, meeting_date=date(2026, 11, 2),
            duration_minutes=90, status="scheduled", created_at=stamp, sequence=0,
        )  # fmt: skip
        _insert(
            connection, "agenda_item", id=1, public_id="dddddddd-0000-4000-8000-000000000001",
            meeting_id=1, case_id=1, position=1, owner_agency_id=1,
        )  # fmt: skip
        for number, agency_id in enumerate((2, 3, 4), start=1):
            _insert(connection, "meeting_invite", id=number, meeting_id=1, agency_id=agency_id)


def _named_after_the_migration(engine) -> dict[int, bool]:
    """Each invitation's agency and whether the migration took it as named."""
    migrate.upgrade(engine, NAMED)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT agency_id, named FROM meeting_invite")).all()
    return {agency: bool(named) for agency, named in rows}


def test_invitations_of_agencies_without_a_case_on_the_agenda_were_named(engine_before):
    _old_data(engine_before)
    assert _named_after_the_migration(engine_before) == {
        2: False,  # for the case on the agenda
        3: True,  # takes part in no case at all
        4: True,  # takes part in a case, not one on this agenda
    }
    migrate.downgrade(engine_before, BEFORE)
    with engine_before.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM meeting_invite")).scalar_one() == 3


def test_an_invitation_left_by_an_earlier_close_is_not_taken_as_named(engine_before):
    """Closing a case took it off the agendas of meetings not yet held, and left its
    agencies invited: such an invitation was taken as named, and so could never end (found
    by review). The meeting's changes say which case was taken off."""
    _old_data(engine_before)
    stamp = AT if engine_before.dialect.name == "postgresql" else AT.replace(tzinfo=None)
    with engine_before.begin() as connection:
        _insert(
            connection, "meeting_change", id=1, meeting_id=1, kind="taken_off_agenda",
            at=stamp, reason="MDT-2026-0002: the case was closed.",
        )  # fmt: skip
    assert _named_after_the_migration(engine_before) == {
        2: False,  # for the case on the agenda
        3: True,  # takes part in no case at all
        4: False,  # for the case taken off the agenda
    }
